/**
 * Requests being accepted, by their dedup key. An adapter tells the user "accepted, number 2 in
 * line" once `submit` has answered; the engine may start the job, and send its progress, as soon
 * as the job is stored, before that answer has reached the adapter (the port is asynchronous, so
 * the engine's work and the adapter's interleave). Progress shown first and then overwritten by
 * the older "in line" would tell a running job it waits. The adapter holds the key while it
 * submits and schedules its first message; the engine's progress for that job waits here first.
 *
 * In one process only: a job another process runs is told about by that process.
 */
export class AcceptanceGate {
  readonly #held = new Map<string, Promise<void>>();
  readonly #maxHoldMs: number;

  /**
   * @param maxHoldMs The longest progress waits for an acceptance (default 10 s): an engine that
   * notified from within `submit` itself must not be blocked by its own caller for good.
   */
  constructor(maxHoldMs = 10_000) {
    this.#maxHoldMs = maxHoldMs;
  }

  /** Runs `work` (the submit, then scheduling the first message) with the key held. */
  async hold<T>(key: string | undefined, work: () => Promise<T>): Promise<T> {
    if (key === undefined) return work();
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#held.set(key, held);
    try {
      return await work();
    } finally {
      if (this.#held.get(key) === held) this.#held.delete(key);
      release();
    }
  }

  /** `hold` of every key of a batch at once, while its jobs are stored and first shown. */
  holdAll<T>(keys: readonly (string | undefined)[], work: () => Promise<T>): Promise<T> {
    const [first, ...rest] = keys;
    if (keys.length === 0) return work();
    return this.hold(first, () => this.holdAll(rest, work));
  }

  /** Resolves once no acceptance of `key` is under way (at once, most often). */
  async passed(key: string | undefined): Promise<void> {
    const held = key === undefined ? undefined : this.#held.get(key);
    if (held === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#maxHoldMs);
      timer.unref();
    });
    try {
      await Promise.race([held, expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}
