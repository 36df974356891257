export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  /** The first backoff, doubled at each attempt, in milliseconds. */
  readonly baseDelayMs: number;
  /** No single wait is longer than this, `Retry-After` included. */
  readonly maxDelayMs: number;
}

/**
 * The longest wait a `Retry-After` may impose on us, wherever it holds anything up (creates for
 * everyone, a job's slot): a server asking for an hour is not left to stall the bot for an hour.
 */
export const MAX_RETRY_AFTER_MS = 60_000;

export const DEFAULT_CREATE_RETRY: RetryPolicy = {
  maxAttempts: 3,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
};

export const DEFAULT_RETRIEVE_RETRY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
};

/**
 * The wait before attempt `attempt + 1` (attempt counts from 1): the server's `Retry-After` when it
 * gave one (capped), else exponential backoff with full jitter so that many clients that failed
 * together do not come back together.
 */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined) return Math.min(Math.max(retryAfterMs, 0), policy.maxDelayMs);
  const ceiling = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), policy.maxDelayMs);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Reads `Retry-After` as seconds or as an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(
  value: string | string[] | undefined,
  now: number,
): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
