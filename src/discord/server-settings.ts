import {
  type ChatInputCommandInteraction,
  MessageFlags,
  PermissionFlagsBits,
  type RepliableInteraction,
} from 'discord.js';
import {
  type AspectRatio,
  checkServerLimitCeiling,
  type Resolution,
  resolveLocale,
  type ServerSettings,
  serverSettingsLines,
  translate,
} from '../core/index.js';
import type { SETTINGS_RESETS } from './commands.js';
import { describeFailure } from './describe.js';
import type { DiscordRuntime } from './runtime.js';
import { discordText } from './texts.js';

type Reset = (typeof SETTINGS_RESETS)[number];
/** Settings being changed. */
type Draft = { -readonly [Key in keyof ServerSettings]: ServerSettings[Key] };

/**
 * `/settings`: shows the server's settings to a moderator, or changes those its options name.
 * Discord hides the command from members without Manage Server by default, but a server may
 * grant it to anyone: the permission is checked again here, on every use. Every answer is private.
 */
export async function handleSettingsCommand(
  runtime: DiscordRuntime,
  interaction: ChatInputCommandInteraction,
): Promise<void> {
  const locale = resolveLocale(interaction.locale);
  const guildId = interaction.guildId;
  if (guildId === null) {
    await sayPrivately(interaction, discordText(locale, 'settings.guild_only'));
    return;
  }
  if (!(interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild) ?? false)) {
    await sayPrivately(interaction, discordText(locale, 'settings.refused'));
    return;
  }
  const current = await runtime.settingsPort.server('discord', guildId);
  const changed = applyOptions(current, interaction);
  let shown = current;
  if (changed !== undefined) {
    try {
      // The operator's per-server limit is the ceiling: a higher one is refused, nothing saved.
      // Only a limit given now: one stored before the operator lowered theirs applies as theirs
      // (the tighter wins) and must not block every other change.
      const limit = interaction.options.getInteger('daily_limit');
      if (limit !== null) checkServerLimitCeiling(runtime.config.quotas, limit);
      shown = await runtime.settingsPort.saveServer('discord', guildId, changed);
    } catch (error) {
      await sayPrivately(interaction, describeFailure(error, locale));
      return;
    }
    runtime.logger.info(
      {
        guildId,
        userId: interaction.user.id,
        options: interaction.options.data.map((option) => option.name),
      },
      'Server settings changed',
    );
  }
  const lines = [
    ...(changed === undefined ? [] : [translate(locale, 'settings.saved')]),
    discordText(locale, 'settings.title'),
    // With `DISCORD_RESULT_THREADS=false` the operator keeps threads off, whatever is stored.
    ...serverSettingsLines(
      locale,
      runtime.settings.resultThreads ? shown : { ...shown, threads: false },
      {
        operatorLimit: runtime.config.quotas.perServer,
        discordOnly: true,
      },
    ).map((line) => `• ${line}`),
    discordText(locale, 'settings.hint'),
  ];
  await sayPrivately(interaction, lines.join('\n'));
}

/** The settings with the command's options applied (`reset` first), or undefined when none. */
function applyOptions(
  current: ServerSettings,
  interaction: ChatInputCommandInteraction,
): ServerSettings | undefined {
  const { options } = interaction;
  if (options.data.length === 0) return undefined;
  let next: Draft = { ...current };
  const reset = options.getString('reset') as Reset | null;
  if (reset !== null) next = withoutSetting(next, reset);
  const model = options.getString('model');
  if (model !== null) next.model = model;
  const ratio = options.getString('aspect_ratio');
  if (ratio !== null) next.aspectRatio = ratio as AspectRatio;
  const resolution = options.getString('resolution');
  if (resolution !== null) next.resolution = resolution as Resolution;
  const added = options.getChannel('add_channel');
  const removed = options.getChannel('remove_channel');
  if (added !== null || removed !== null) {
    const channels = new Set(next.channels ?? []);
    if (added !== null) channels.add(added.id);
    if (removed !== null) channels.delete(removed.id);
    next.channels = [...channels];
    if (next.channels.length === 0) delete next.channels;
  }
  const limit = options.getInteger('daily_limit');
  if (limit !== null) {
    next.dailyImages = limit;
    if (limit === 0) delete next.dailyImages;
  }
  const audit = options.getChannel('audit_channel');
  if (audit !== null) next.auditChannelId = audit.id;
  const privateResults = options.getBoolean('private');
  if (privateResults !== null) next.privateResults = privateResults;
  const threads = options.getBoolean('threads');
  if (threads !== null) next.threads = threads;
  return next;
}

const RESET_FIELDS: Readonly<Record<Exclude<Reset, 'all'>, keyof ServerSettings>> = {
  model: 'model',
  aspect_ratio: 'aspectRatio',
  resolution: 'resolution',
  channels: 'channels',
  daily_limit: 'dailyImages',
  audit_channel: 'auditChannelId',
  private: 'privateResults',
  threads: 'threads',
};

function withoutSetting(settings: Draft, reset: Reset): Draft {
  if (reset === 'all') return {};
  const field = RESET_FIELDS[reset];
  if (field === undefined) return settings;
  const { [field]: _removed, ...rest } = settings;
  return rest;
}

async function sayPrivately(interaction: RepliableInteraction, content: string): Promise<void> {
  await interaction.reply({ content: content.slice(0, 2000), flags: MessageFlags.Ephemeral });
}

/**
 * Whether a server's results are private by default (`/settings private`): applies when a request
 * does not say. Outside a server, or unset, they are public.
 */
export async function privateByDefault(
  runtime: DiscordRuntime,
  guildId: string | null | undefined,
): Promise<boolean> {
  if (guildId === null || guildId === undefined) return false;
  return (await runtime.settingsPort.server('discord', guildId)).privateResults ?? false;
}

/** Whether a server wants its results to open threads (`/settings threads`); default yes. */
export async function serverWantsThreads(
  runtime: DiscordRuntime,
  guildId: string,
): Promise<boolean> {
  try {
    return (await runtime.settingsPort.server('discord', guildId)).threads ?? true;
  } catch (error) {
    // The result is posted already: an unreadable setting costs the thread's default, no more.
    runtime.logger.warn({ err: error, guildId }, 'Could not read the server’s settings');
    return true;
  }
}
