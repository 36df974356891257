import { webApi } from '@slack/bolt';
import { isNanoBananaError, NanoBananaError } from '../core/index.js';

/**
 * What a failed Web API call means for us. Slack answers most problems with HTTP 200 and
 * `{ok: false, error}`; the client turns those into platform errors, and 429s into waits.
 */

/** Slack's error codes for "the bot cannot post here". */
const CANNOT_POST = new Set([
  'not_in_channel',
  'channel_not_found',
  'is_archived',
  'restricted_action',
  'restricted_action_read_only_channel',
  'restricted_action_thread_only_channel',
  'team_access_not_granted',
]);

/** Slack's error codes for a failure on its side that may pass. */
const TRANSIENT = new Set([
  'ratelimited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);

/** The `error` of a `{ok: false}` answer, when that is what failed. */
export function slackErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, data } = error as { code?: unknown; data?: { error?: unknown } };
  if (code !== webApi.ErrorCode.PlatformError) return undefined;
  return typeof data?.error === 'string' ? data.error : undefined;
}

/** Slack refused the call for its rate limit (a client that rejects rate-limited calls says so). */
export function isRateLimited(error: unknown): boolean {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return code === webApi.ErrorCode.RateLimitedError || slackErrorCode(error) === 'ratelimited';
}

export function cannotPost(error: unknown): boolean {
  return CANNOT_POST.has(slackErrorCode(error) ?? '');
}

/**
 * The error the engine gets from a delivery: retryable for what may pass (network, Slack's own
 * faults, rate limits), `delivery_failed` for what will not (a channel the bot left, a scope).
 */
export function toDeliveryError(error: unknown, what: string): NanoBananaError {
  if (isNanoBananaError(error)) return error;
  const slackError = slackErrorCode(error);
  if (slackError !== undefined && !TRANSIENT.has(slackError)) {
    return new NanoBananaError('delivery_failed', `${what}: Slack answered ${slackError}`, {
      params: { slackError },
      cause: error,
    });
  }
  const retryAfter = (error as { retryAfter?: unknown } | undefined)?.retryAfter;
  return new NanoBananaError('network', `${what} failed`, {
    retryable: true,
    retryAfterMs: typeof retryAfter === 'number' ? retryAfter * 1000 : undefined,
    cause: error,
  });
}
