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
   */
  deliver(job: Job, images: readonly ResultImageFile[], signal: AbortSignal): Promise<unknown>;
}
