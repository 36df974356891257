/**
 * A bounded set whose keys expire: what the adapter remembers in memory only (events it already
 * took, threads it posted into). Losing it in a restart costs little: the store deduplicates jobs,
 * and a thread under a bot message is recognised from the event itself.
 */
export class ExpiringSet {
  readonly #ttlMs: number;
  readonly #maxSize: number;
  readonly #expiries = new Map<string, number>();

  constructor(ttlMs: number, maxSize: number) {
    this.#ttlMs = ttlMs;
    this.#maxSize = maxSize;
  }

  /** Adds a key; false when it was already there (and not expired), so callers can claim once. */
  add(key: string): boolean {
    const fresh = !this.has(key);
    this.#expiries.delete(key);
    this.#expiries.set(key, Date.now() + this.#ttlMs);
    // Maps keep insertion order: the first keys are the oldest.
    for (const oldest of this.#expiries.keys()) {
      if (this.#expiries.size <= this.#maxSize) break;
      this.#expiries.delete(oldest);
    }
    return fresh;
  }

  has(key: string): boolean {
    const expires = this.#expiries.get(key);
    if (expires === undefined) return false;
    if (expires > Date.now()) return true;
    this.#expiries.delete(key);
    return false;
  }
}
