import { type ChatInputCommandInteraction, MessageFlags } from 'discord.js';
import {
  type AspectRatio,
  CLEARABLE_PREFERENCES,
  type ClearablePreference,
  changePreferences,
  type Locale,
  type PreferenceChange,
  preferencesLines,
  type Resolution,
  resolveLocale,
  translate,
  type UserPreferences,
} from '../core/index.js';
import { describeFailure } from './describe.js';
import type { DiscordRuntime } from './runtime.js';

/** Preferences are per platform: a Discord member's are not their Slack account's. */
const PLATFORM = 'discord';

/**
 * `/prefer`: shows or changes the member's own defaults. Every answer is private; a refusal (a
 * blocked word in a style, a 21st style, a bad name) says why and changes nothing.
 */
export async function handlePrefer(
  runtime: DiscordRuntime,
  interaction: ChatInputCommandInteraction,
): Promise<void> {
  const locale = resolveLocale(interaction.locale);
  const userId = interaction.user.id;
  const say = (content: string) =>
    interaction
      .reply({ content: content.slice(0, 2000), flags: MessageFlags.Ephemeral })
      .then(() => undefined);
  try {
    const change = readChange(interaction);
    const current = await runtime.settingsPort.preferences(PLATFORM, userId);
    if (change === 'show') {
      await say(shown(locale, current));
      return;
    }
    if (change === 'nothing') {
      await say(translate(locale, 'prefer.nothing_to_set'));
      return;
    }
    const next = changePreferences(current, change, {
      blockedWords: runtime.config.access.blockedWords,
    });
    const saved = await runtime.settingsPort.savePreferences(PLATFORM, userId, next);
    runtime.logger.info({ userId, change: change.kind }, 'Preferences changed');
    await say(`${confirmation(locale, change)}\n\n${shown(locale, saved)}`);
  } catch (error) {
    await say(describeFailure(error, locale));
  }
}

function readChange(
  interaction: ChatInputCommandInteraction,
): PreferenceChange | 'show' | 'nothing' {
  const { options } = interaction;
  const group = options.getSubcommandGroup(false);
  const subcommand = options.getSubcommand(true);
  if (group === 'style') {
    if (subcommand === 'add') {
      return {
        kind: 'add_style',
        name: options.getString('name', true),
        text: options.getString('text', true),
      };
    }
    if (subcommand === 'remove')
      return { kind: 'remove_style', name: options.getString('name', true) };
    return 'show';
  }
  if (subcommand === 'set') {
    const change = {
      kind: 'set' as const,
      model: options.getString('model') ?? undefined,
      // Discord offers only the catalog's choices; the store checks them again.
      aspectRatio: (options.getString('aspect_ratio') ?? undefined) as AspectRatio | undefined,
      resolution: (options.getString('resolution') ?? undefined) as Resolution | undefined,
      suffix: options.getString('suffix') ?? undefined,
    };
    const anything = [change.model, change.aspectRatio, change.resolution, change.suffix].some(
      (value) => value !== undefined,
    );
    return anything ? change : 'nothing';
  }
  if (subcommand === 'clear') {
    const what = options.getString('what') ?? 'defaults';
    return { kind: 'clear', what: isClearable(what) ? what : 'defaults' };
  }
  return 'show';
}

function isClearable(value: string): value is ClearablePreference {
  return (CLEARABLE_PREFERENCES as readonly string[]).includes(value);
}

function confirmation(locale: Locale, change: PreferenceChange): string {
  switch (change.kind) {
    case 'add_style':
      return `✅ ${translate(locale, 'prefer.style_saved', { name: change.name.trim().toLowerCase() })}`;
    case 'remove_style':
      return `✅ ${translate(locale, 'prefer.style_removed', { name: change.name.trim().toLowerCase() })}`;
    default:
      return `✅ ${translate(locale, 'prefer.saved')}`;
  }
}

function shown(locale: Locale, preferences: UserPreferences): string {
  return [
    `**${translate(locale, 'prefer.title')}**`,
    ...preferencesLines(locale, preferences),
  ].join('\n');
}
