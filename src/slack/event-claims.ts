import type { Logger, NamedLocks } from '../core/index.js';
import type { ExpiringSet } from './expiring-set.js';

/**
 * How long the fleet remembers who took an event. Long enough to cover Slack's redelivery of an
 * event whose ack was late (seconds) and the same envelope reaching two processes at once; short
 * enough that Slack's own retries (after one minute, then five) reach another process if the one
 * that took the event died with it.
 */
const FLEET_CLAIM_MS = 45_000;

/**
 * Who answers an event or a button press, once: this process remembers what it took, and in a
 * fleet (a shared store) the store's named locks make one process of all take it. Without that,
 * an event delivered to two processes made one job (the store deduplicates jobs) but two of
 * everything else: two refusals, two help texts, two status messages.
 */
export class EventClaims {
  readonly #seen: ExpiringSet;
  readonly #locks: NamedLocks | undefined;
  readonly #logger: Logger;

  constructor(seen: ExpiringSet, locks: NamedLocks | undefined, logger: Logger) {
    this.#seen = seen;
    this.#locks = locks;
    this.#logger = logger;
  }

  /** True for the one caller (in this process, and in the fleet) that should handle `key`. */
  async claim(key: string): Promise<boolean> {
    if (!this.#seen.add(key)) return false;
    const locks = this.#locks;
    if (locks === undefined) return true;
    const now = Date.now();
    try {
      return await locks.acquireLock(`slack-event:${key}`, locks.owner, now, now + FLEET_CLAIM_MS);
    } catch (error) {
      // Better a duplicate answer than none: the job itself is still deduplicated by the store.
      this.#logger.warn({ err: error }, 'Could not claim a Slack event in the store; handling it');
      return true;
    }
  }
}
