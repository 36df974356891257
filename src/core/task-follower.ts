import { MAX_BATCH_IDS, type NanoBananaClient } from './api/client.js';
import type { ResultImage, TaskSnapshot } from './api/tasks.js';
import { type Clock, systemClock } from './clock.js';
import { NanoBananaError, toNanoBananaError } from './errors.js';
import { type Logger, silentLogger } from './logger.js';

export interface TaskResult {
  readonly taskId: string;
  readonly traceId: string | undefined;
  readonly images: readonly ResultImage[];
  /** When the API says the task finished (Unix ms), if it says. */
  readonly finishedAt: number | undefined;
}

export interface FollowOptions {
  readonly signal?: AbortSignal | undefined;
  /**
   * The size of the create's JSON body. The API sends the request back with every retrieval, so a
   * task created with `data:` images costs that much again each time it is polled.
   */
  readonly requestBytes?: number | undefined;
}

export interface TaskFollowerOptions {
  readonly client: Pick<NanoBananaClient, 'retrieveTasks'>;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Time between two rounds of retrievals; default 1,000 ms (`NANO_BANANA_POLL_INTERVAL_MS`). */
  readonly pollIntervalMs?: number;
  /** Requests at least this big make a task "heavy"; default 256 KiB. */
  readonly heavyRequestBytes?: number;
  /** What the heavy tasks of one call may add up to; default 24 MiB (one task always fits). */
  readonly heavyBatchBytes?: number;
  /** Heavy tasks are polled every this many rounds; default 3. */
  readonly heavyPollEvery?: number;
  /** Calls in flight at once within a round; default 4. */
  readonly maxConcurrentCalls?: number;
  /** A task missing from this many answers in a row is given up; default 20. */
  readonly maxMisses?: number;
  /** The longest wait between rounds after failures; default 30,000 ms. */
  readonly maxBackoffMs?: number;
}

interface Waiter {
  readonly resolve: (result: TaskResult) => void;
  readonly reject: (error: NanoBananaError) => void;
  detach: () => void;
}

interface FollowedTask {
  readonly taskId: string;
  readonly requestBytes: number;
  readonly waiters: Set<Waiter>;
  misses: number;
  /** Retrieve alone: set after a batch holding this task came back too large. */
  alone: boolean;
  nudged: boolean;
}

const DEFAULT_REQUEST_BYTES = 2048;
/** Room for the rest of a task record (times, response, image URLs) beside its request. */
const TASK_OVERHEAD_BYTES = 8 * 1024;

/**
 * Follows many tasks at once with one loop: each round it asks for every task it follows in as few
 * batch retrievals as it can (at most 50 ids a call), and resolves each task's waiter when the task
 * ends. Tasks whose request carried images come back with those images every time, so they go in
 * small batches sized by bytes, less often, and every answer's size is capped.
 */
export class TaskFollower {
  readonly #client: Pick<NanoBananaClient, 'retrieveTasks'>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #pollIntervalMs: number;
  readonly #heavyRequestBytes: number;
  readonly #heavyBatchBytes: number;
  readonly #heavyPollEvery: number;
  readonly #maxConcurrentCalls: number;
  readonly #maxMisses: number;
  readonly #maxBackoffMs: number;
  readonly #tasks = new Map<string, FollowedTask>();
  #running = false;
  #closed = false;
  #round = 0;
  #backoffMs = 0;
  #wake: AbortController | undefined;
  #retrievals = 0;

  constructor(options: TaskFollowerOptions) {
    this.#client = options.client;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#heavyRequestBytes = options.heavyRequestBytes ?? 256 * 1024;
    this.#heavyBatchBytes = options.heavyBatchBytes ?? 24 * 1024 * 1024;
    this.#heavyPollEvery = options.heavyPollEvery ?? 3;
    this.#maxConcurrentCalls = options.maxConcurrentCalls ?? 4;
    this.#maxMisses = options.maxMisses ?? 20;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
  }

  /** Tasks being followed now. */
  get size(): number {
    return this.#tasks.size;
  }

  /** Rounds of retrievals made so far. */
  get rounds(): number {
    return this.#round;
  }

  /** Retrieval calls made so far (for metrics and tests). */
  get retrievals(): number {
    return this.#retrievals;
  }

  /**
   * Resolves with the task's images when it succeeds; rejects with its error when it fails, or with
   * `cancelled` when its signal aborts. Following a task already followed joins the same wait.
   */
  follow(taskId: string, options: FollowOptions = {}): Promise<TaskResult> {
    const { signal } = options;
    if (this.#closed) {
      return Promise.reject(new NanoBananaError('cancelled', 'The task follower is closed'));
    }
    if (signal?.aborted) {
      return Promise.reject(new NanoBananaError('cancelled', `Stopped following task ${taskId}`));
    }
    let entry = this.#tasks.get(taskId);
    if (entry === undefined) {
      entry = {
        taskId,
        requestBytes: options.requestBytes ?? DEFAULT_REQUEST_BYTES,
        waiters: new Set(),
        misses: 0,
        alone: false,
        nudged: false,
      };
      this.#tasks.set(taskId, entry);
    }
    const followed = entry;
    const promise = new Promise<TaskResult>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, detach: () => {} };
      if (signal !== undefined) {
        // Only this waiter gives up; the task is dropped once nobody waits for it.
        const onAbort = () => {
          followed.waiters.delete(waiter);
          if (followed.waiters.size === 0) this.#tasks.delete(taskId);
          reject(new NanoBananaError('cancelled', `Stopped following task ${taskId}`));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.detach = () => signal.removeEventListener('abort', onAbort);
      }
      followed.waiters.add(waiter);
    });
    this.#start();
    return promise;
  }

  /**
   * Asks for a task at once rather than at the next round: a callback said it finished. Only a hint;
   * the answer from the tasks endpoint decides.
   */
  nudge(taskId: string): void {
    const entry = this.#tasks.get(taskId);
    if (entry === undefined) return;
    entry.nudged = true;
    this.#wake?.abort();
  }

  /** Stops the loop; every waiter still waiting is rejected with `cancelled`. */
  close(): void {
    this.#closed = true;
    this.#wake?.abort();
    for (const entry of [...this.#tasks.values()]) {
      this.#settle(entry, new NanoBananaError('cancelled', 'The task follower was closed'));
    }
  }

  #start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#loop().finally(() => {
      this.#running = false;
      // A task may have been added between the loop's last check and its end.
      if (this.#tasks.size > 0 && !this.#closed) this.#start();
    });
  }

  async #loop(): Promise<void> {
    while (this.#tasks.size > 0 && !this.#closed) {
      await this.#pause(this.#pollIntervalMs + this.#backoffMs);
      if (this.#closed) return;
      this.#round++;
      const due = [...this.#tasks.values()].filter((entry) => this.#isDue(entry));
      for (const entry of due) entry.nudged = false;
      const batches = this.#batches(due);
      await this.#runLimited(batches.map((batch) => () => this.#retrieve(batch)));
    }
  }

  /** Sleeps for a round, or less when a nudge arrives. */
  async #pause(ms: number): Promise<void> {
    if ([...this.#tasks.values()].some((entry) => entry.nudged)) return;
    const wake = new AbortController();
    this.#wake = wake;
    try {
      await this.#clock.sleep(ms, wake.signal);
    } catch {
      // Woken early by a nudge or by close().
    } finally {
      this.#wake = undefined;
    }
  }

  #isDue(entry: FollowedTask): boolean {
    if (entry.nudged || !this.#isHeavy(entry)) return true;
    return this.#round % this.#heavyPollEvery === 0;
  }

  #isHeavy(entry: FollowedTask): boolean {
    return entry.requestBytes >= this.#heavyRequestBytes;
  }

  /** Light tasks fifty a call; heavy ones by bytes; tasks whose answers overflowed one a call. */
  #batches(due: readonly FollowedTask[]): FollowedTask[][] {
    const batches: FollowedTask[][] = [];
    const light = due.filter((entry) => !entry.alone && !this.#isHeavy(entry));
    for (let start = 0; start < light.length; start += MAX_BATCH_IDS) {
      batches.push(light.slice(start, start + MAX_BATCH_IDS));
    }
    let current: FollowedTask[] = [];
    let currentBytes = 0;
    for (const entry of due) {
      if (entry.alone) {
        batches.push([entry]);
        continue;
      }
      if (!this.#isHeavy(entry)) continue;
      if (current.length > 0 && currentBytes + entry.requestBytes > this.#heavyBatchBytes) {
        batches.push(current);
        current = [];
        currentBytes = 0;
      }
      current.push(entry);
      currentBytes += entry.requestBytes;
    }
    if (current.length > 0) batches.push(current);
    return batches;
  }

  async #runLimited(jobs: readonly (() => Promise<void>)[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const job = jobs[next++];
        if (job) await job();
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(this.#maxConcurrentCalls, jobs.length) }, worker),
    );
  }

  async #retrieve(batch: readonly FollowedTask[]): Promise<void> {
    const ids = batch.map((entry) => entry.taskId);
    // The answer holds each task's request once more, plus the record around it; twice that is
    // generous, and anything beyond is not an answer we want to hold in memory.
    const maxResponseBytes =
      2 * batch.reduce((sum, entry) => sum + entry.requestBytes + TASK_OVERHEAD_BYTES, 0) +
      1024 * 1024;
    let snapshots: TaskSnapshot[];
    try {
      this.#retrievals++;
      snapshots = await this.#client.retrieveTasks(ids, { maxResponseBytes });
    } catch (error) {
      this.#onBatchError(batch, toNanoBananaError(error));
      return;
    }
    this.#backoffMs = 0;
    const byId = new Map(snapshots.map((snapshot) => [snapshot.id, snapshot]));
    for (const entry of batch) {
      if (this.#tasks.get(entry.taskId) !== entry) continue;
      const snapshot = byId.get(entry.taskId);
      if (snapshot === undefined) {
        entry.misses++;
        if (entry.misses >= this.#maxMisses) {
          this.#settle(
            entry,
            new NanoBananaError('upstream_error', `Task ${entry.taskId} is unknown to the API`, {
              params: { reason: 'task_not_found' },
            }),
          );
        }
        continue;
      }
      entry.misses = 0;
      const { status } = snapshot;
      if (status.state === 'succeeded') {
        this.#settle(entry, {
          taskId: entry.taskId,
          traceId: snapshot.traceId,
          images: status.images,
          finishedAt: snapshot.finishedAt,
        });
      } else if (status.state === 'failed') {
        this.#settle(entry, status.error);
      }
    }
  }

  #onBatchError(batch: readonly FollowedTask[], error: NanoBananaError): void {
    if (error.params.reason === 'response_too_large') {
      if (batch.length > 1) {
        for (const entry of batch) entry.alone = true;
        this.#logger.warn(
          { tasks: batch.length },
          'Task answers too large together; retrieving them one by one',
        );
        return;
      }
      const [entry] = batch;
      if (entry) this.#settle(entry, error);
      return;
    }
    if (error.code === 'auth_failed' || error.code === 'cancelled') {
      for (const entry of batch) this.#settle(entry, error);
      return;
    }
    // Transient (the client already retried): slow the whole loop down rather than hammer the API.
    const doubled = this.#backoffMs === 0 ? this.#pollIntervalMs : this.#backoffMs * 2;
    this.#backoffMs = Math.min(Math.max(doubled, error.retryAfterMs ?? 0), this.#maxBackoffMs);
    this.#logger.warn(
      { code: error.code, status: error.status, tasks: batch.length, backoffMs: this.#backoffMs },
      'Task retrieval failed; will ask again',
    );
  }

  #settle(entry: FollowedTask, outcome: TaskResult | NanoBananaError): void {
    if (this.#tasks.get(entry.taskId) !== entry) return;
    this.#tasks.delete(entry.taskId);
    for (const waiter of entry.waiters) {
      waiter.detach();
      if (outcome instanceof NanoBananaError) waiter.reject(outcome);
      else waiter.resolve(outcome);
    }
  }
}
