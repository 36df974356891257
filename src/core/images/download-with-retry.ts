import { backoffDelay, MAX_RETRY_AFTER_MS, type RetryPolicy } from '../api/retry.js';
import type { Clock } from '../clock.js';
import { NanoBananaError, toNanoBananaError } from '../errors.js';
import type { ImageFile } from './image-type.js';

export interface DownloadRetryOptions {
  /** Time and waits, injected so that tests need no real two-minute waits. */
  readonly clock: Clock;
  readonly signal?: AbortSignal | undefined;
  /**
   * No attempt starts later than this after the first failure (not the first attempt: one that
   * timed out must not use up the whole window); default 2 minutes.
   */
  readonly retryForMs?: number;
  /** The first backoff, doubled at each attempt; default 1 s. */
  readonly baseDelayMs?: number;
  /** The longest backoff when the server names no wait; default 30 s. */
  readonly maxDelayMs?: number;
  readonly random?: () => number;
  /** Told of each failure about to be retried (for logs). */
  readonly onRetry?: (failure: NanoBananaError, attempt: number, delayMs: number) => void;
}

export const DEFAULT_DOWNLOAD_RETRY_MS = 2 * 60_000;

/**
 * Runs a download again after a failure marked retryable (an HTTP 5xx or 429, a reset connection,
 * a timeout), with backoff, honouring `Retry-After` up to `MAX_RETRY_AFTER_MS`, for up to
 * `retryForMs` from the first failure. A result on the API's CDN is already paid for: one 502
 * must not lose it. Anything else (a 404, content that is not an image, the caller's cancel) is
 * thrown at once.
 */
export async function downloadWithRetry(
  download: () => Promise<ImageFile>,
  options: DownloadRetryOptions,
): Promise<ImageFile> {
  const { clock, signal } = options;
  const retryForMs = options.retryForMs ?? DEFAULT_DOWNLOAD_RETRY_MS;
  const policy: RetryPolicy = {
    maxAttempts: Number.POSITIVE_INFINITY,
    baseDelayMs: options.baseDelayMs ?? 1000,
    maxDelayMs: options.maxDelayMs ?? 30_000,
  };
  let firstFailureAt: number | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await download();
    } catch (error) {
      const failure = toNanoBananaError(error);
      if (!failure.retryable || signal?.aborted) throw failure;
      firstFailureAt ??= clock.now();
      const delay =
        failure.retryAfterMs === undefined
          ? backoffDelay(policy, attempt, undefined, options.random)
          : Math.min(Math.max(failure.retryAfterMs, 0), MAX_RETRY_AFTER_MS);
      if (clock.now() + delay - firstFailureAt > retryForMs) throw failure;
      options.onRetry?.(failure, attempt, delay);
      try {
        await clock.sleep(delay, signal);
      } catch {
        throw new NanoBananaError('cancelled', 'Stopped while waiting to download again', {
          cause: failure,
        });
      }
    }
  }
}
