import { setTimeout as sleep } from 'node:timers/promises';
import type { WebSocketOptions } from 'discord.js';
import type { Logger, NamedLocks } from '../core/index.js';

/** discord.js's hook, typed from its options (the `@discordjs/ws` types it names are not ours). */
type BuildIdentifyThrottler = NonNullable<WebSocketOptions['buildIdentifyThrottler']>;
type GatewayManager = Parameters<BuildIdentifyThrottler>[0];
type IdentifyThrottler = Awaited<ReturnType<BuildIdentifyThrottler>>;

/**
 * Discord lets a bot start `max_concurrency` sessions per 5 s, one per bucket
 * (`shard_id % max_concurrency`), for the whole bot, not per process. discord.js's own throttler
 * sees only its process, so in a fleet each identify first takes the bucket's lock in the shared
 * store for the 5 s window, and does not release it: the next identify of that bucket, in any
 * process, waits for the window to pass.
 */
export interface FleetIdentifyOptions {
  readonly locks: NamedLocks;
  readonly now: () => number;
  readonly logger: Logger;
  /** Discord's identify window; default 5 s. */
  readonly windowMs?: number;
  /** How often a waiting identify asks again; default 250 ms (plus up to as much of jitter). */
  readonly pollMs?: number;
  /**
   * The longest an identify waits for its bucket; default 10 minutes (a large fleet starting at
   * once queues 12 identifies a minute per bucket). Past it the shard identifies anyway: at worst
   * Discord invalidates the session and discord.js identifies again, through this throttler.
   */
  readonly maxWaitMs?: number;
}

export const IDENTIFY_WINDOW_MS = 5000;

export function identifyLockName(bucket: number): string {
  return `discord-identify:${bucket}`;
}

/** A `ws.buildIdentifyThrottler` for discord.js that serialises identifies fleet-wide. */
export function fleetIdentifyThrottler(
  options: FleetIdentifyOptions,
): (manager: GatewayManager) => Promise<IdentifyThrottler> {
  return async (manager) => {
    const gateway = await manager.fetchGatewayInformation();
    const maxConcurrency = Math.max(1, gateway.session_start_limit.max_concurrency);
    return new FleetIdentifyThrottler(options, maxConcurrency);
  };
}

class FleetIdentifyThrottler implements IdentifyThrottler {
  readonly #options: FleetIdentifyOptions;
  readonly #maxConcurrency: number;
  /**
   * Each identify holds its window under an owner of its own: the store lets an owner re-acquire
   * what it holds, and two shards of this process in one bucket must wait for each other too.
   */
  #sequence = 0;

  constructor(options: FleetIdentifyOptions, maxConcurrency: number) {
    this.#options = options;
    this.#maxConcurrency = maxConcurrency;
  }

  async waitForIdentify(shardId: number, signal: AbortSignal): Promise<void> {
    const { locks, now, logger } = this.#options;
    const windowMs = this.#options.windowMs ?? IDENTIFY_WINDOW_MS;
    const pollMs = this.#options.pollMs ?? 250;
    const bucket = shardId % this.#maxConcurrency;
    const name = identifyLockName(bucket);
    this.#sequence += 1;
    const owner = `${locks.owner}#identify-${this.#sequence}`;
    const deadline = Date.now() + (this.#options.maxWaitMs ?? 10 * 60_000);
    let waited = false;
    while (Date.now() < deadline) {
      signal.throwIfAborted();
      const at = now();
      try {
        if (await locks.acquireLock(name, owner, at, at + windowMs)) {
          if (waited) logger.debug({ shard: shardId, bucket }, 'Identify bucket free');
          return;
        }
      } catch (error) {
        logger.warn({ err: error, shard: shardId }, 'Could not take the identify bucket; retrying');
      }
      if (!waited) {
        logger.debug({ shard: shardId, bucket }, 'Waiting for the identify bucket');
        waited = true;
      }
      // Aborted while asleep: reject with discord.js's reason, as the check above does.
      await sleep(pollMs + Math.random() * pollMs, undefined, { signal }).catch(() =>
        signal.throwIfAborted(),
      );
    }
    logger.warn(
      { shard: shardId, bucket },
      'Waited too long for the identify bucket; identifying anyway',
    );
  }
}
