import type { Clock } from '../clock.js';
import type { NanoBananaError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { PlatformAdapter, ProgressEvent } from './adapter.js';
import type { Job, JobError } from './job.js';
import type { EngineLimits } from './limits.js';
import type { JobStore } from './store.js';

/**
 * What the engine's parts share: the store (the truth, fleet-wide), this process's identity as a
 * lease owner, and the few things each part asks of the others. Everything else a part keeps is a
 * cache of the store for the jobs this process submitted or works on.
 */
export interface EngineContext {
  readonly store: JobStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly limits: EngineLimits;
  /** This engine's lease owner: unique per engine instance, so two in one process never mix. */
  readonly owner: string;
  readonly adapters: ReadonlyMap<string, PlatformAdapter>;
  /** The jobs this process works on now (leased to `owner`), by id. */
  readonly work: Map<string, Work>;
  /** Shows progress through the job's adapter; a failure is logged, never thrown. */
  notify(job: Job, event: ProgressEvent): Promise<void>;
  /** A job reached a final state: the parts let go of it and listeners hear of it. */
  finished(job: Job): void;
  /** Something may start now (a slot freed, a job queued or late): here and in the fleet. */
  wake(): void;
}

/** What a job being worked on here is doing, for the shutdown (see `JobEngine.stop`). */
export type WorkPhase = 'preparing' | 'creating' | 'following' | 'delivering';

/** A job this process works on: its abort, and what the follower knows it by. */
export interface Work {
  readonly controller: AbortController;
  phase: WorkPhase;
  /** Set once the task exists: a callback arriving anywhere in the fleet nudges its follower. */
  taskId: string | undefined;
  /** Told it timed out while its task runs: it is followed outside the slots. */
  late: boolean;
  done: Promise<void>;
}

/**
 * Ends a job as failed, releasing its reserved images, and tells the user. With `owner`, only
 * while that owner still holds the job (its own work failing); without, from anywhere (a
 * deadline), and the owner, wherever it is, is told to stop working on it.
 */
export async function failJob(
  context: EngineContext,
  job: Job,
  error: JobError,
  notify: boolean,
  owner?: string,
): Promise<Job | undefined> {
  const now = context.clock.now();
  const failed = await context.store.transition(
    job.id,
    ['queued', 'creating', 'running', 'delivering'],
    { state: 'failed', finishedAt: now, error, reservedImages: 0 },
    now,
    owner,
  );
  if (failed === undefined) return undefined;
  context.logger.info({ jobId: job.id, code: error.code, traceId: error.traceId }, 'Job failed');
  context.finished(failed);
  if (owner === undefined) await publishCancel(context, job.id);
  if (notify) void context.notify(failed, { kind: 'failed', error });
  return failed;
}

/** Tells the job's owner, in whatever process, to stop its work (best-effort: logged). */
export async function publishCancel(context: EngineContext, jobId: string): Promise<void> {
  try {
    await context.store.publish({ kind: 'cancel', jobId });
  } catch (error) {
    context.logger.warn({ jobId, err: error }, 'Could not tell the fleet a job was stopped');
  }
}

export function toJobError(error: NanoBananaError): JobError {
  return { code: error.code, params: error.params, traceId: error.traceId };
}

/**
 * What a finished job keeps reserved of the day's quota: the images made, when fewer than asked
 * (only those count), and nothing for a job that reserved nothing (an operator admin's).
 */
export function imagesMade(job: Job, images: number): number {
  if (job.reservedImages === 0) return 0;
  return Math.min(job.reservedImages, images, job.options.count ?? 1);
}
