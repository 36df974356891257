import type { ProgressEvent } from './adapter.js';
import type { EngineContext } from './context.js';
import type { Job } from './job.js';
import { nextTurn } from './scheduler.js';

/**
 * What users are shown while their jobs wait and run: places in line (fleet-wide, from the
 * store), the pause, and the running job's elapsed time.
 *
 * A process tells places in line only to the jobs it submitted (or, for the embedded store, found
 * waiting at start): every process reads the same line, and telling each job from every process
 * would multiply the edits by the fleet's size. A job whose submitter died is still run and
 * delivered; it is only not told its place until it starts.
 */
export class Progress {
  readonly #context: Pick<EngineContext, 'store' | 'clock' | 'logger' | 'adapters' | 'work'>;
  /** Jobs this process tells their place, with the place last told (undefined: never yet). */
  readonly #told = new Map<string, number | undefined>();
  #reporting = false;
  #reportAgain = false;

  constructor(context: Pick<EngineContext, 'store' | 'clock' | 'logger' | 'adapters' | 'work'>) {
    this.#context = context;
  }

  async notify(job: Job, event: ProgressEvent): Promise<void> {
    const adapter = this.#context.adapters.get(job.platform);
    if (adapter === undefined) return;
    try {
      await adapter.notify(job, event);
    } catch (error) {
      this.#context.logger.warn(
        { jobId: job.id, event: event.kind, err: error },
        'Could not show progress',
      );
    }
  }

  /** From now on this process tells the job its place; `told` is what the user already saw. */
  track(jobId: string, told: number | undefined): void {
    this.#told.set(jobId, told);
  }

  forget(jobId: string): void {
    this.#told.delete(jobId);
  }

  /**
   * Tells waiting jobs their new place in line when it is worth an edit (see `worthTelling`): each
   * report becomes an edit on the chat platform, and telling every waiting job at every start costs
   * edits quadratic in the length of the line, spending the rate limit that deliveries need. One
   * report at a time; asked meanwhile, it runs once more.
   */
  async reportPositions(): Promise<void> {
    if (this.#told.size === 0) return;
    if (this.#reporting) {
      this.#reportAgain = true;
      return;
    }
    this.#reporting = true;
    try {
      // Places read once for whatever moved the line in this turn (a burst of claims and submits).
      await nextTurn();
      do {
        this.#reportAgain = false;
        await this.#reportOnce();
      } while (this.#reportAgain);
    } catch (error) {
      this.#context.logger.warn({ err: error }, 'Could not read the places in line');
    } finally {
      this.#reporting = false;
    }
  }

  async #reportOnce(): Promise<void> {
    const { store } = this.#context;
    const positions = await store.queuePositions();
    for (const [jobId, told] of this.#told) {
      const position = positions.get(jobId);
      // Started, ended, or claimed by some process: no longer in line.
      if (position === undefined) {
        this.#told.delete(jobId);
        continue;
      }
      if (!worthTelling(told, position)) continue;
      this.#told.set(jobId, position);
      const job = await store.get(jobId);
      if (job !== undefined) void this.notify(job, { kind: 'queued', position });
    }
  }

  /** The balance is used up: every waiting job in the fleet is told its wait is longer. */
  async tellPaused(): Promise<void> {
    const { store } = this.#context;
    try {
      for (const jobId of (await store.queuePositions()).keys()) {
        const job = await store.get(jobId);
        if (job !== undefined) void this.notify(job, { kind: 'paused', reason: 'balance_used_up' });
      }
    } catch (error) {
      this.#context.logger.warn({ err: error }, 'Could not tell the waiting jobs of the pause');
    }
  }

  /** Each job this process runs reports its elapsed time (the adapters throttle what they show). */
  async reportRunning(): Promise<void> {
    const { store, clock, work } = this.#context;
    const now = clock.now();
    for (const [jobId, entry] of work) {
      if (entry.phase !== 'following' || entry.late) continue;
      try {
        const job = await store.get(jobId);
        if (job?.state === 'running' && job.startedAt !== undefined) {
          void this.notify(job, { kind: 'running', elapsedMs: now - job.startedAt });
        }
      } catch (error) {
        this.#context.logger.warn({ jobId, err: error }, 'Could not read a running job');
      }
    }
  }
}

/** Places from here to the front are told at every step. */
const TELL_EVERY_PLACE_FROM = 5;

/**
 * Whether a waiting job's new place is worth telling: every change near the front, and further back
 * only once the place has halved (or doubled) since it was last told, so that a job far back gets a
 * few edits on its way to the front rather than one per job ahead of it.
 */
export function worthTelling(told: number | undefined, position: number): boolean {
  if (told === undefined) return true;
  if (position === told) return false;
  if (position <= TELL_EVERY_PLACE_FROM) return true;
  return position * 2 <= told || position >= told * 2;
}
