import { type EngineContext, failJob } from './context.js';
import { isFinal, type Job, type JobError } from './job.js';

/** Jobs past a deadline looked at per sweep; the next sweep takes the rest. */
const SWEEP_BATCH = 100;

/**
 * Past the job timeout the user is told `timeout`, once in the whole fleet: a waiting job ends
 * there; a running one keeps being followed, since its images are already paid for, outside the
 * slots, and is delivered if they come. Past the give-up it ends.
 *
 * Timers are a cache, for the jobs this process submitted or works on, so that their deadlines
 * fall on time; a periodic sweep of the store meets the deadlines of every other job, whoever
 * submitted it and whatever became of that process.
 */
export class Deadlines {
  readonly #context: EngineContext;
  /** Each watched job's timers, cleared when it ends. */
  readonly #timers = new Map<string, NodeJS.Timeout[]>();
  #sweeping = false;
  #stopped = false;

  constructor(context: EngineContext) {
    this.#context = context;
  }

  watch(job: Job): void {
    if (this.#stopped || this.#timers.has(job.id)) return;
    const { clock, limits } = this.#context;
    const now = clock.now();
    const timers: NodeJS.Timeout[] = [];
    this.#timers.set(job.id, timers);
    const schedule = (at: number, action: (jobId: string) => Promise<void>) => {
      const timer = setTimeout(() => void this.#guarded(job.id, action), Math.max(0, at - now));
      timer.unref();
      timers.push(timer);
    };
    if (!job.timeoutNotified) {
      schedule(job.createdAt + limits.jobTimeoutMs, (jobId) => this.#onTimeout(jobId));
    }
    schedule(job.createdAt + limits.giveUpAfterMs, (jobId) => this.#onGiveUp(jobId));
  }

  forget(jobId: string): void {
    for (const timer of this.#timers.get(jobId) ?? []) clearTimeout(timer);
    this.#timers.delete(jobId);
  }

  stop(): void {
    this.#stopped = true;
    for (const jobId of [...this.#timers.keys()]) this.forget(jobId);
  }

  /** Meets the deadlines of unfinished jobs of this process's platforms, whoever watches them. */
  async sweep(): Promise<void> {
    if (this.#sweeping || this.#stopped) return;
    this.#sweeping = true;
    try {
      const { store, clock, limits } = this.#context;
      const now = clock.now();
      // The give-ups first: they end, so the next batch is new ones. Then the timeouts, where
      // jobs already told (followed late) come back each time until they end: a larger batch.
      for (const job of await store.listUnfinishedCreatedBefore(
        now - limits.giveUpAfterMs,
        SWEEP_BATCH,
      )) {
        if (this.#mine(job)) await this.#onGiveUp(job.id);
      }
      for (const job of await store.listUnfinishedCreatedBefore(
        now - limits.jobTimeoutMs,
        SWEEP_BATCH * 5,
      )) {
        if (this.#mine(job) && !job.timeoutNotified) await this.#onTimeout(job.id);
      }
    } catch (error) {
      this.#context.logger.warn({ err: error }, 'Could not sweep the jobs past their deadlines');
    } finally {
      this.#sweeping = false;
    }
  }

  /** Only a process that can tell the user takes the job's deadline on. */
  #mine(job: Job): boolean {
    return this.#context.adapters.has(job.platform);
  }

  async #guarded(jobId: string, action: (jobId: string) => Promise<void>): Promise<void> {
    try {
      await action(jobId);
    } catch (error) {
      // The sweep meets the deadline later.
      this.#context.logger.warn({ jobId, err: error }, 'Could not act on a job deadline');
    }
  }

  async #onTimeout(jobId: string): Promise<void> {
    const { store, clock } = this.#context;
    const job = await store.get(jobId);
    if (job === undefined || isFinal(job.state) || job.timeoutNotified) return;
    const error: JobError = { code: 'timeout', params: {}, traceId: job.traceId };
    if (job.state === 'queued') {
      // Whoever may be preparing it stops (see `failJob`).
      await failJob(this.#context, job, error, true);
      return;
    }
    // One caller in the fleet gets to tell the user.
    const updated = await store.markTimeoutNotified(jobId, clock.now());
    if (updated === undefined) return;
    void this.#context.notify(updated, { kind: 'timeout', error });
    // A job still `creating` leaves its slot once its task exists (see the runner). A running
    // one is followed outside the slots from now on: the next job may start.
    if (updated.state === 'running') {
      const work = this.#context.work.get(jobId);
      if (work !== undefined) work.late = true;
      this.#context.wake();
    }
  }

  async #onGiveUp(jobId: string): Promise<void> {
    const job = await this.#context.store.get(jobId);
    if (job === undefined || isFinal(job.state)) return;
    this.#context.work.get(jobId)?.controller.abort();
    const error: JobError = { code: 'timeout', params: {}, traceId: job.traceId };
    await failJob(this.#context, job, error, !job.timeoutNotified);
  }
}
