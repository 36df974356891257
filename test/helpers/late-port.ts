import type { JobPort } from '../../src/core/index.js';

/** The port's asynchronous calls, by name. */
export type LateCall =
  | 'check'
  | 'submit'
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
  /** The calls made, by name, in order. */
  readonly calls: LateCall[] = [];

  constructor(delayMs: number) {
    this.#delayMs = delayMs;
  }

  /** The next call of `name` rejects with `error`, after its delay, without reaching the engine. */
  failNext(name: LateCall, error: Error): void {
    this.#failures.set(name, error);
  }

  /** For the service's `wrapJobs`. */
  wrap(inner: JobPort): JobPort {
    return {
      check: (request) => this.#late('check', () => inner.check(request)),
      submit: (request) => this.#late('submit', () => inner.submit(request)),
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
