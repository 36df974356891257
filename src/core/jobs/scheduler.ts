import type { EngineContext } from './context.js';
import type { Job } from './job.js';
import type { StoreCounts } from './store.js';

export interface SchedulerOptions {
  /** How often it claims, takes over and reads the fleet's counts without being asked. */
  readonly pollEveryMs: number;
  /** How long a claim holds without renewal; renewed every third of it. */
  readonly leaseMs: number;
  /**
   * Take over every leased job at start, expired or not: only for a store one process has to
   * itself (the embedded SQLite store, whose file lock guarantees it), after a restart.
   */
  readonly takeOverAllAtStart: () => boolean;
}

export interface SchedulerHooks {
  /** A job was claimed for this process: run it. */
  claimed(job: Job): void;
  /** A claim's wait since its job became eligible, once known (see `noteEligible`). */
  measured(job: Job, waitMs: number): void;
  /** Jobs whose process died (or, at start, this process before a restart): carry them on. */
  tookOver(jobs: readonly Job[]): Promise<void>;
  /** The line may have moved: tell the waiting their places. */
  lineMoved(): void;
}

/** Commit times of new jobs kept for their claims (the jobs of a burst, and more). */
const ELIGIBLE_TIMES_KEPT = 10_000;
/** How long a claim made before the word of its job's commit waits for it to be measured. */
const WORD_WAIT_MS = 5_000;

/**
 * When a claimed job became eligible, when no process told it (`noteEligible`): its acceptance, or,
 * for a job that had started (a create refused, the job back in line), its return to the line, its
 * last update (nothing updates a waiting job after its acceptance but that return). The acceptance
 * is taken before the insert's transaction, which may wait for other admissions. A job whose claim
 * was lost with its process keeps its first time: the user waited all along.
 */
function eligibleSince(job: Job): number {
  return job.startedAt === undefined ? job.createdAt : job.updatedAt;
}

/** Jobs taken over per round; the next round takes the rest. */
const TAKE_OVER_BATCH = 50;

/**
 * When jobs start, for this process. The store decides what may start (the fleet-wide limits,
 * round-robin across users): this claims from it whenever something may have changed — a submit,
 * a freed slot, another process's word (`queue`), the end of a pause — and on a periodic poll, so
 * that nothing depends on a word arriving. One claim loop runs at a time; asked meanwhile, it runs
 * once more. It also renews this process's leases and takes over the jobs of dead processes.
 */
export class Scheduler {
  readonly #context: EngineContext;
  readonly #hooks: SchedulerHooks;
  readonly #options: SchedulerOptions;
  #running = false;
  #runAgain = false;
  #started = false;
  #stopped = false;
  #pausedUntil = 0;
  #counts: StoreCounts = { queued: 0, running: 0, late: 0 };
  #pollTimer: NodeJS.Timeout | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #pauseTimer: NodeJS.Timeout | undefined;
  #takingOver = false;
  #loopDone: Promise<void> = Promise.resolve();
  /** New jobs' commit times as their processes told them (see `noteEligible`), oldest first. */
  readonly #eligibleAt = new Map<string, number>();
  /** Claims made before the word of their job's commit arrived: measured when it does. */
  readonly #unmeasured = new Map<string, { job: Job; claimedAt: number; timer: NodeJS.Timeout }>();

  constructor(context: EngineContext, hooks: SchedulerHooks, options: SchedulerOptions) {
    this.#context = context;
    this.#hooks = hooks;
    this.#options = options;
  }

  /** Until when creates are paused fleet-wide, as last read or told. */
  get pausedUntil(): number {
    return this.#pausedUntil;
  }

  /** The fleet's counts as last read (each claim round and poll). */
  get counts(): StoreCounts {
    return this.#counts;
  }

  /** Takes over what needs it, then claims; resolves once the first takeover is settled. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const { store, logger } = this.#context;
    try {
      this.#notePause(await store.pausedUntil());
    } catch (error) {
      logger.warn({ err: error }, 'Could not read the pause');
    }
    // Before anything new starts (a restart settles its interrupted creates first).
    await this.takeOver(this.#options.takeOverAllAtStart());
    this.#pollTimer = setInterval(() => {
      this.request();
      void this.takeOver(false);
    }, this.#options.pollEveryMs);
    this.#pollTimer.unref();
    this.#leaseTimer = setInterval(
      () => void this.#renew(),
      Math.max(1, this.#options.leaseMs / 3),
    );
    this.#leaseTimer.unref();
    this.request();
  }

  /** Claims nothing more; resolves once the claim round under way (if any) has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#pollTimer);
    clearInterval(this.#leaseTimer);
    clearTimeout(this.#pauseTimer);
    for (const claim of this.#unmeasured.values()) clearTimeout(claim.timer);
    this.#unmeasured.clear();
    await this.#loopDone;
  }

  /** Something may start: claims now, or once more after the claim loop under way. */
  request(): void {
    if (!this.#started || this.#stopped) return;
    if (this.#running) {
      this.#runAgain = true;
      return;
    }
    this.#running = true;
    this.#loopDone = this.#loop();
  }

  /** Holds creates fleet-wide until `until` (the later pause wins) and tells every process. */
  async pause(until: number): Promise<void> {
    const { store, logger } = this.#context;
    this.#notePause(until);
    try {
      this.#notePause(await store.pauseCreatesUntil(until));
      await store.publish({ kind: 'pause', until });
    } catch (error) {
      logger.warn({ err: error }, 'Could not share the pause with the fleet');
    }
  }

  /**
   * A job was stored and may be claimed since `at` (its insert's commit, told by the process that
   * stored it): its claim's wait counts from then, not from its acceptance before the insert (which
   * may wait for other admissions). Kept for the jobs claimed elsewhere too, up to a bound.
   */
  noteEligible(jobId: string, at: number): void {
    const claim = this.#unmeasured.get(jobId);
    if (claim !== undefined) {
      clearTimeout(claim.timer);
      this.#unmeasured.delete(jobId);
      this.#hooks.measured(claim.job, claim.claimedAt - at);
      return;
    }
    if (this.#eligibleAt.has(jobId)) return;
    this.#eligibleAt.set(jobId, at);
    if (this.#eligibleAt.size > ELIGIBLE_TIMES_KEPT) {
      const oldest = this.#eligibleAt.keys().next().value;
      if (oldest !== undefined) this.#eligibleAt.delete(oldest);
    }
  }

  /** Another process paused creates (or this one: the store tells every process). */
  notePause(until: number): void {
    this.#notePause(until);
  }

  async #loop(): Promise<void> {
    try {
      do {
        this.#runAgain = false;
        await this.#claimRound();
      } while (this.#runAgain && !this.#stopped);
    } catch (error) {
      // The next poll tries again.
      this.#context.logger.warn({ err: error }, 'Could not claim jobs from the store');
    } finally {
      this.#running = false;
    }
  }

  async #claimRound(): Promise<void> {
    const { store, clock, limits, owner, adapters } = this.#context;
    const platforms = [...adapters.keys()];
    this.#notePause(await store.pausedUntil());
    if (this.#pausedUntil <= clock.now() && platforms.length > 0) {
      while (!this.#stopped) {
        const now = clock.now();
        const job = await store.claimNext({
          owner,
          platforms,
          maxConcurrent: limits.maxConcurrentJobs,
          maxPerUser: limits.maxJobsPerUser,
          now,
          leaseUntil: now + this.#options.leaseMs,
        });
        if (job === undefined) break;
        this.#hooks.claimed(job);
        this.#measure(job, clock.now());
      }
    }
    this.#counts = await store.counts();
    this.#hooks.lineMoved();
  }

  /**
   * A claim's wait: from its job's commit as told (`noteEligible`); a new job claimed before that
   * word arrived (its claim round was asked for by another job's) is measured when it does, or
   * from its acceptance if it never does; a job back in line, from its return.
   */
  #measure(job: Job, claimedAt: number): void {
    const told = this.#eligibleAt.get(job.id);
    this.#eligibleAt.delete(job.id);
    if (told !== undefined || job.startedAt !== undefined) {
      this.#hooks.measured(job, claimedAt - (told ?? eligibleSince(job)));
      return;
    }
    if (this.#unmeasured.size >= ELIGIBLE_TIMES_KEPT) return;
    const timer = setTimeout(() => {
      this.#unmeasured.delete(job.id);
      this.#hooks.measured(job, claimedAt - eligibleSince(job));
    }, WORD_WAIT_MS);
    timer.unref();
    this.#unmeasured.set(job.id, { job, claimedAt, timer });
  }

  /** Keeps the later pause, and claims again once it is over. */
  #notePause(until: number): void {
    if (until <= this.#pausedUntil) return;
    this.#pausedUntil = until;
    this.#wakeAfterPause();
  }

  /** Timers may fire a little early by the clock: check again rather than stall the line. */
  #wakeAfterPause(): void {
    clearTimeout(this.#pauseTimer);
    if (this.#stopped) return;
    const left = this.#pausedUntil - this.#context.clock.now();
    if (left <= 0) {
      // Never synchronously: this may run inside a job's own turn.
      this.#pauseTimer = setTimeout(() => this.request(), 0);
      return;
    }
    this.#pauseTimer = setTimeout(() => this.#wakeAfterPause(), left + 1);
    this.#pauseTimer.unref();
  }

  async #renew(): Promise<void> {
    const { store, clock, owner, logger } = this.#context;
    const now = clock.now();
    try {
      await store.renewLeases(owner, now + this.#options.leaseMs, now);
    } catch (error) {
      logger.warn({ err: error }, 'Could not renew the leases; trying again');
    }
  }

  /**
   * Takes over the jobs whose process died (their leases expired), or with `all` every leased
   * job (at start, for a store this process has to itself).
   */
  async takeOver(all: boolean): Promise<number> {
    if (this.#takingOver || this.#stopped) return 0;
    this.#takingOver = true;
    const { store, clock, owner, adapters, logger } = this.#context;
    try {
      const platforms = [...adapters.keys()];
      if (platforms.length === 0) return 0;
      const now = clock.now();
      const jobs = await store.takeOverExpired({
        owner,
        now,
        leaseUntil: now + this.#options.leaseMs,
        platforms,
        // Every leased job at once when taking all: a second call would return the same ones.
        ...(all ? { allOwners: true, limit: Number.MAX_SAFE_INTEGER } : { limit: TAKE_OVER_BATCH }),
      });
      if (jobs.length > 0) {
        logger.info({ jobs: jobs.length }, 'Jobs taken over');
        await this.#hooks.tookOver(jobs);
      }
      return jobs.length;
    } catch (error) {
      logger.warn({ err: error }, 'Could not take over the jobs of stopped processes');
      return 0;
    } finally {
      this.#takingOver = false;
    }
  }
}

/** Resolves after the I/O events already waiting have been handled. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
