import { DiscordAPIError } from 'discord.js';
import { NanoBananaError } from '../core/index.js';

/**
 * Discord's JSON error codes this adapter acts on, and what each means for a delivery: the one
 * place that reads them, so that a new code is handled once for every path.
 */
const UNKNOWN_CHANNEL = 10003;
const UNKNOWN_MESSAGE = 10008;
const UNKNOWN_WEBHOOK = 10015;
const UNKNOWN_INTERACTION = 10062;
const MISSING_ACCESS = 50001;
const CANNOT_SEND_TO_USER = 50007;
const MISSING_PERMISSIONS = 50013;
const INVALID_WEBHOOK_TOKEN = 50027;
const ARCHIVED_THREAD = 50083;
const THREAD_LOCKED = 160005;

export function discordCode(error: unknown): number | undefined {
  return error instanceof DiscordAPIError && typeof error.code === 'number'
    ? error.code
    : undefined;
}

/** The HTTP status of a Discord answer, for logs (never the error whole: it holds the request). */
export function statusOf(error: unknown): number | undefined {
  return error instanceof DiscordAPIError ? error.status : undefined;
}

/**
 * Why one way of posting a result was refused, when another way may still work:
 * - `message_deleted`: the message being edited (the reply, the progress message) was deleted;
 * - `reply_unavailable`: the interaction's webhook or token no longer works;
 * - `channel_refused`: the bot may not see or post in the channel;
 * - `archived_thread`: the thread is archived or locked;
 * - `channel_gone`: the channel was deleted;
 * - `dm_refused`: the user does not take direct messages from the bot.
 * Anything else (an outage, a rate limit, a bad request) is not a reason to post elsewhere.
 */
export type Setback =
  | 'message_deleted'
  | 'reply_unavailable'
  | 'channel_refused'
  | 'archived_thread'
  | 'channel_gone'
  | 'dm_refused';

export function setbackOf(error: unknown): Setback | undefined {
  switch (discordCode(error)) {
    case UNKNOWN_MESSAGE:
      return 'message_deleted';
    case UNKNOWN_WEBHOOK:
    case INVALID_WEBHOOK_TOKEN:
    case UNKNOWN_INTERACTION:
      return 'reply_unavailable';
    case MISSING_ACCESS:
    case MISSING_PERMISSIONS:
      return 'channel_refused';
    case ARCHIVED_THREAD:
    case THREAD_LOCKED:
      return 'archived_thread';
    case UNKNOWN_CHANNEL:
      return 'channel_gone';
    case CANNOT_SEND_TO_USER:
      return 'dm_refused';
    default:
      return undefined;
  }
}

/** The interaction token expired or was refused: the bot token must take over. */
export function isExpiredToken(error: unknown): boolean {
  return setbackOf(error) === 'reply_unavailable';
}

/** Missing View Channel or a permission: the bot may act elsewhere, not here. */
export function isMissingPermission(error: unknown): boolean {
  return setbackOf(error) === 'channel_refused';
}

/** Every way of posting a result was refused: the engine ends the job `undelivered`. */
export function undeliverable(setbacks: readonly Setback[], cause: unknown): NanoBananaError {
  return new NanoBananaError(
    'undeliverable',
    `Nowhere to deliver: ${setbacks.join(' → ')} (Discord ${discordCode(cause) ?? 'error'})`,
    { params: { reason: setbacks.join(',') }, cause },
  );
}

/** Missing permissions and archived threads are explained; a Discord outage is retried. */
export function deliveryError(error: unknown): NanoBananaError {
  if (error instanceof NanoBananaError) return error;
  const setback = setbackOf(error);
  if (setback === 'channel_refused') {
    return new NanoBananaError('delivery_failed', 'Missing permissions', {
      params: {
        reason: 'missing_permissions',
        permission: 'Send Messages / Attach Files / Send Messages in Threads',
      },
      cause: error,
    });
  }
  if (setback === 'archived_thread') {
    return new NanoBananaError('delivery_failed', 'Archived thread', {
      params: { reason: 'archived_thread' },
      cause: error,
    });
  }
  const status = error instanceof DiscordAPIError ? error.status : undefined;
  const retryable = status === undefined || status >= 500 || status === 429;
  return new NanoBananaError(
    'delivery_failed',
    `Discord refused the delivery (${status ?? 'network'})`,
    {
      params: { reason: 'discord_error' },
      retryable,
      cause: error,
    },
  );
}
