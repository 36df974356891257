import { escapeMarkdown, MessageFlags, type RepliableInteraction } from 'discord.js';
import {
  displayPrompt,
  HISTORY_LIMIT,
  type Job,
  resolveLocale,
  retentionNote,
  shortPrompt,
  stateLabel,
  translate,
} from '../core/index.js';
import { readDelivery, readDestination } from './destination.js';
import type { DiscordRuntime } from './runtime.js';

/**
 * `/history`: the member's last requests on Discord, newest first, only to them: when (Discord
 * renders `<t:…:R>` in the reader's own time zone and language), the state, the prompt, and a
 * link to the message that holds the result. Private results have no link: nobody else can open
 * an ephemeral message, and it is gone once dismissed.
 */
export async function showHistory(
  runtime: DiscordRuntime,
  interaction: RepliableInteraction,
): Promise<void> {
  const locale = resolveLocale(interaction.locale);
  const jobs = await runtime.jobs.recentJobs(interaction.user.id, 'discord', HISTORY_LIMIT);
  const lines =
    jobs.length === 0
      ? [translate(locale, 'history.empty')]
      : [
          `**${translate(locale, 'history.title')}**`,
          ...jobs.map((job) => historyLine(job, locale)),
        ];
  const note = retentionNote(locale, runtime.config.engine.retentionMs);
  if (note !== undefined) lines.push(`-# ${note}`);
  await interaction.reply({
    content: fitLines(lines, 2000),
    flags: MessageFlags.Ephemeral,
    // A prompt may hold `@everyone` or a member's mention: listing it pings nobody.
    allowedMentions: { parse: [] },
  });
}

function historyLine(job: Job, locale: string): string {
  const when = `<t:${Math.floor(job.createdAt / 1000)}:R>`;
  const link = resultLink(job);
  const prompt = `“${escapeMarkdown(shortPrompt(displayPrompt(job)))}”`;
  const result = link === undefined ? '' : ` · [${translate(locale, 'history.result')}](${link})`;
  return `• ${when} · ${stateLabel(locale, job)} · ${prompt}${result}`;
}

/**
 * The message a job's result is in (the first, when it took several), else the job's own message
 * while it is under way; undefined for a private result, or when nothing was recorded.
 */
function resultLink(job: Job): string | undefined {
  let destination: ReturnType<typeof readDestination>;
  try {
    destination = readDestination(job.destination);
  } catch {
    return undefined;
  }
  if (destination.kind === 'interaction' && destination.ephemeral) return undefined;
  const server = destination.guildId ?? '@me';
  const delivered = readDelivery(job.delivery)?.messages[0];
  if (delivered !== undefined) {
    return messageUrl(server, delivered.channelId, delivered.messageId);
  }
  const own =
    destination.kind === 'interaction' ? destination.messageId : destination.progressMessageId;
  return own === undefined ? undefined : messageUrl(server, destination.channelId, own);
}

function messageUrl(server: string, channelId: string, messageId: string): string {
  return `https://discord.com/channels/${server}/${channelId}/${messageId}`;
}

/** As many whole lines as fit Discord's limit (ten short lines always do; this is a guard). */
function fitLines(lines: readonly string[], max: number): string {
  let text = '';
  for (const line of lines) {
    const next = text === '' ? line : `${text}\n${line}`;
    if (next.length > max) break;
    text = next;
  }
  return text;
}
