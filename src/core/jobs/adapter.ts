import type { ImageFile, InputImage } from '../images/index.js';
import type { InputReference, Job, JobError } from './job.js';

/**
 * What the engine tells an adapter about a job, for it to show (message edits, reactions...).
 * Adapters throttle what they show; the engine may send the same kind several times.
 */
export type ProgressEvent =
  | { readonly kind: 'queued'; readonly position: number }
  | { readonly kind: 'paused'; readonly reason: 'balance_used_up' }
  | { readonly kind: 'started' }
  | { readonly kind: 'running'; readonly elapsedMs: number }
  /** Past the job timeout: told once; the images are still delivered if they come. */
  | { readonly kind: 'timeout'; readonly error: JobError }
  | { readonly kind: 'failed'; readonly error: JobError }
  | { readonly kind: 'cancelled' };

/** One finished image, downloaded once, in the order the API gave it. */
export interface ResultImageFile extends ImageFile {
  readonly index: number;
  /** Where it came from (the API's CDN); for logs, not for users. */
  readonly sourceUrl: string;
}

/**
 * How many of a job's result images are not among the `delivered` handed to `deliver`: the engine leaves out
 * an image it could not download (after retries) and delivers the others, and the user is told.
 */
export function missingImages(job: Job, delivered: number): number {
  return Math.max(0, (job.result?.images.length ?? delivered) - delivered);
}

/**
 * How an adapter plugs its platform into the engine. The engine never knows what a Discord
 * interaction or a Slack thread is; it calls these.
 */
export interface PlatformAdapter {
  readonly platform: string;
  /** Fetches a platform-held input image when the job's turn comes (bytes are never stored). */
  fetchInput(
    job: Job,
    input: Extract<InputReference, { kind: 'platform' }>,
    signal: AbortSignal,
  ): Promise<InputImage>;
  /** Shows progress or a final failure. Errors are logged by the engine, never fatal. */
  notify(job: Job, event: ProgressEvent): Promise<void>;
  /**
   * Posts the images; returns what it posted (message ids...), stored as the job's `delivery`.
   * Throws a retryable NanoBananaError for a transient failure, any other error for a lasting one,
   * and `undeliverable` when every way of posting was refused (the job then ends `undelivered`).
   * `signal` aborts at the end of the shutdown grace: the job is then delivered at the next start.
   * `job.delivery` holds what an earlier attempt saved through `checkpoint` (this process's, or
   * a dead one's whose job was taken over): what may already be on the platform.
   */
  deliver(
    job: Job,
    images: readonly ResultImageFile[],
    signal: AbortSignal,
    checkpoint?: DeliveryCheckpoint,
  ): Promise<unknown>;
}

/**
 * Lets `deliver` store how far it got, before it returns. A platform without an idempotency key
 * (a Slack upload) cannot tell a second post from the first: when the process dies after its post
 * reached the platform but before the job was marked done, the process that takes the job over
 * would post again. With a mark saved before the post, that process knows to look first.
 */
export interface DeliveryCheckpoint {
  /**
   * Stores `delivery` as the job's, durably, while this process still holds the job. Rejects when
   * it no longer does (another process took the job over): the caller must stop posting.
   */
  save(delivery: unknown): Promise<void>;
}
