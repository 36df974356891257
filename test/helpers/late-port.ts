import type { JobPort } from '../../src/core/index.js';

/** The port's asynchronous calls, by name. */
export type LateCall =
  | 'check'
  | 'submit'
  | 'checkBatch'
  | 'submitBatch'
  | 'recentJobs'
  | 'cancel'
  | 'getJob'
  | 'usage'
  | 'forgetResult'
  | 'updateDestination'
  | 'likelyToWait';

/**
 * A job port whose every asynchronous call answers only after a macrotask delay (as a store across
 * the network does), and reaches the engine only then: an adapter that forgets to await a call
 * goes on before it took effect, or never sees its failure. `failNext` makes one call reject.
 */
export class LatePort {
  readonly #delayMs: number;
  readonly #failures = new Map<LateCall, Error>();
  #inner: JobPort | undefined;
  /** The calls made, by name, in order. */
  readonly calls: LateCall[] = [];
  /** The ids of the jobs created through it. */
  readonly created: string[] = [];

  constructor(delayMs: number) {
    this.#delayMs = delayMs;
  }

  /** The next call of `name` rejects with `error`, after its delay, without reaching the engine. */
  failNext(name: LateCall, error: Error): void {
    this.#failures.set(name, error);
  }

  /**
   * The port it wraps, answering without delay: what a test reads to see what the store holds at
   * that moment (through the late port, a read would wait until a forgotten call took effect).
   */
  get direct(): JobPort {
    if (this.#inner === undefined) throw new Error('LatePort: wrap() has not been called');
    return this.#inner;
  }

  /** For the service's `wrapJobs`. */
  wrap(inner: JobPort): JobPort {
    this.#inner = inner;
    return {
      check: (request) => this.#late('check', () => inner.check(request)),
      submit: (request) =>
        this.#late('submit', async () => {
          const submitted = await inner.submit(request);
          if (submitted.created) this.created.push(submitted.job.id);
          return submitted;
        }),
      checkBatch: (requests) => this.#late('checkBatch', () => inner.checkBatch(requests)),
      submitBatch: (requests) =>
        this.#late('submitBatch', async () => {
          const submitted = await inner.submitBatch(requests);
          for (const each of submitted) if (each.created) this.created.push(each.job.id);
          return submitted;
        }),
      recentJobs: (requesterId, platform, limit) =>
        this.#late('recentJobs', () => inner.recentJobs(requesterId, platform, limit)),
      cancel: (jobId, userId) => this.#late('cancel', () => inner.cancel(jobId, userId)),
      getJob: (jobId) => this.#late('getJob', () => inner.getJob(jobId)),
      usage: (requesterId, serverId) =>
        this.#late('usage', () => inner.usage(requesterId, serverId)),
      isAdmin: (userId) => inner.isAdmin(userId),
      mayDelete: (job, userId, moderator) => inner.mayDelete(job, userId, moderator),
      forgetResult: (jobId) => this.#late('forgetResult', () => inner.forgetResult(jobId)),
      updateDestination: (jobId, destination) =>
        this.#late('updateDestination', () => inner.updateDestination(jobId, destination)),
      likelyToWait: () => this.#late('likelyToWait', () => inner.likelyToWait()),
    };
  }

  async #late<T>(name: LateCall, call: () => Promise<T>): Promise<T> {
    this.calls.push(name);
    await new Promise((resolve) => setTimeout(resolve, this.#delayMs));
    const failure = this.#failures.get(name);
    if (failure !== undefined) {
      this.#failures.delete(name);
      throw failure;
    }
    return call();
  }
}
