/**
 * Progress edits, throttled: chat platforms rate-limit edits of one message (Discord: about 5 per
 * 5 s per channel). For each key (a job, a message), at most one edit runs per interval; an edit
 * that comes while one waits replaces it, since only the latest progress matters. Edits of one key
 * never run out of order.
 */
export class ProgressThrottle {
  readonly #intervalMs: number;
  readonly #keys = new Map<string, KeyState>();
  #closed = false;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /** Runs `edit` now, or as the key's next edit once the interval has passed (replacing any waiting). */
  schedule(key: string, edit: () => Promise<unknown>): void {
    if (this.#closed) return;
    const state = this.#state(key);
    state.pending = edit;
    if (state.timer !== undefined || state.running) return;
    const wait = state.lastRun + this.#intervalMs - Date.now();
    if (wait <= 0) void this.#run(key, state);
    else this.#arm(key, state, wait);
  }

  /**
   * Runs a final edit (the result, a failure) after whatever edit is under way, dropping any waiting
   * progress: a final word is never throttled away, and never overtaken by older progress.
   */
  async final(key: string, edit: () => Promise<unknown>): Promise<void> {
    const state = this.#state(key);
    state.pending = undefined;
    clearTimeout(state.timer);
    state.timer = undefined;
    const previous = state.chain;
    const run = previous.then(edit, edit);
    state.chain = run.then(
      () => undefined,
      () => undefined,
    );
    try {
      await run;
    } finally {
      // Nothing else waits for this key: a final edit is the last, so forget it.
      if (!state.running && state.pending === undefined && state.timer === undefined) {
        this.#keys.delete(key);
      }
    }
  }

  /** Drops what waits for a key. */
  forget(key: string): void {
    const state = this.#keys.get(key);
    if (state === undefined) return;
    clearTimeout(state.timer);
    this.#keys.delete(key);
  }

  close(): void {
    this.#closed = true;
    for (const state of this.#keys.values()) clearTimeout(state.timer);
    this.#keys.clear();
  }

  #state(key: string): KeyState {
    let state = this.#keys.get(key);
    if (state === undefined) {
      state = {
        lastRun: 0,
        pending: undefined,
        timer: undefined,
        running: false,
        chain: Promise.resolve(),
      };
      this.#keys.set(key, state);
    }
    return state;
  }

  #arm(key: string, state: KeyState, wait: number): void {
    state.timer = setTimeout(() => {
      state.timer = undefined;
      void this.#run(key, state);
    }, wait);
    state.timer.unref?.();
  }

  async #run(key: string, state: KeyState): Promise<void> {
    const edit = state.pending;
    if (edit === undefined) return;
    state.pending = undefined;
    state.running = true;
    state.lastRun = Date.now();
    const run = state.chain.then(edit, edit);
    state.chain = run.then(
      () => undefined,
      () => undefined,
    );
    try {
      await run;
    } catch {
      // A failed progress edit is not worth more than a log line, which the edit itself writes.
    } finally {
      state.running = false;
      if (state.pending !== undefined && !this.#closed) {
        this.#arm(key, state, Math.max(0, state.lastRun + this.#intervalMs - Date.now()));
      }
    }
  }
}

interface KeyState {
  lastRun: number;
  pending: (() => Promise<unknown>) | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  running: boolean;
  chain: Promise<void>;
}
