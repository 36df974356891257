import { MessageFlags, Routes } from 'discord.js';
import {
  AuditChannelClosed,
  type AuditSink,
  composeAuditLine,
  type Job,
  type Locale,
} from '../core/index.js';
import { failureText } from './delivery.js';
import { readDelivery, readDestination } from './destination.js';
import { discordCode, setbackOf, statusOf } from './discord-errors.js';
import type { DiscordRuntime } from './runtime.js';

/** Discord allows about 5 messages per 5 s in one channel. */
const DISCORD_AUDIT_PACE = { messages: 5, perMs: 5000 } as const;
const DISCORD_MESSAGE_CHARS = 2000;

/**
 * The moderation log on Discord: lines name the requester and the channel as mentions, which
 * `allowed_mentions` keeps from pinging anyone, quote the prompt as code (nothing in it renders,
 * mentions included), and link the result message, or the images of a private result (its message
 * is visible to the requester only). Posts go through the bot token, embeds suppressed.
 */
export function discordAuditSink(runtime: DiscordRuntime, locale: Locale): AuditSink {
  return {
    platform: 'discord',
    operatorChannelId: runtime.settings.auditChannelId,
    pace: DISCORD_AUDIT_PACE,
    maxMessageChars: DISCORD_MESSAGE_CHARS,
    describe: (event) =>
      composeAuditLine(event, locale, {
        who: (userId) => `<@${userId}>`,
        where: (channelId) => `<#${channelId}>`,
        quote: (prompt) => `\`${prompt.replace(/`/g, 'ʹ')}\``,
        code: (text) => `\`${text}\``,
        isPrivate,
        result: async (job) => resultLink(job),
        failure: (error, lineLocale) => failureText(lineLocale, error),
      }),
    post: async (channelId, lines) => {
      try {
        await runtime.rest.post(Routes.channelMessages(channelId), {
          body: {
            content: lines.join('\n'),
            allowed_mentions: { parse: [] },
            flags: MessageFlags.SuppressEmbeds,
          },
        });
      } catch (error) {
        const setback = setbackOf(error);
        if (setback === 'channel_refused' || setback === 'channel_gone') {
          throw new AuditChannelClosed(String(discordCode(error)), { cause: error });
        }
        // Only what the operator needs: the library's error holds the request.
        throw new Error(
          `Discord refused the audit post (${discordCode(error) ?? statusOf(error) ?? 'network'})`,
        );
      }
    },
  };
}

function isPrivate(job: Job): boolean {
  try {
    const destination = readDestination(job.destination);
    return destination.kind === 'interaction' && destination.ephemeral;
  } catch {
    return false;
  }
}

/** The result message, or for a private result (a message only its requester sees) the images. */
function resultLink(job: Job): string | undefined {
  if (isPrivate(job)) {
    const urls = (job.result?.images ?? []).map((image) => `<${image.url}>`);
    return urls.length === 0 ? undefined : urls.join(' ');
  }
  const first = readDelivery(job.delivery)?.messages[0];
  if (first === undefined) return undefined;
  let guild = '@me';
  try {
    guild = readDestination(job.destination).guildId ?? '@me';
  } catch {
    // An older job's destination: the link still names the channel and message.
  }
  return `https://discord.com/channels/${guild}/${first.channelId}/${first.messageId}`;
}
