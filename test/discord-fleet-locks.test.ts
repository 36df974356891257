import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/core/index.js';
import { fleetIdentifyThrottler } from '../src/discord/identify-throttler.js';
import { claimShards, ShardClaimedError } from '../src/discord/shard-claims.js';
import {
  closeLockStores,
  type LockStore,
  openLockStore,
  processLocks,
} from './helpers/fleet-locks.js';

/**
 * Issue 12: the Discord adapter's named locks in a shared store, on a clock the test moves.
 * Shard claims (refused while held, taken once expired, renewed, given up on stop) and the
 * identify throttler's wait (abortable).
 */

afterEach(closeLockStores);

function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function claim(
  store: LockStore,
  owner: string,
  ids: number[],
  clock: { now: () => number },
  timing: { leaseMs?: number; renewEveryMs?: number } = {},
) {
  return claimShards({
    locks: processLocks(store, owner),
    ids,
    count: 4,
    now: clock.now,
    logger: silentLogger,
    leaseMs: timing.leaseMs ?? 30_000,
    // Renewal is tested on its own; elsewhere it never runs, as if the process stalled or died.
    renewEveryMs: timing.renewEveryMs ?? 3_600_000,
  });
}

describe('Discord shard claims', () => {
  it('refuses a shard another process holds, naming it and the holder, and claims none of the others', async () => {
    const store = await openLockStore();
    const clock = manualClock();
    const first = await claim(store, 'process-a', [1], clock);
    const refusal = await claim(store, 'process-b', [0, 1, 2], clock).catch((error) => error);
    expect(refusal).toBeInstanceOf(ShardClaimedError);
    expect(refusal).toMatchObject({ shardId: 1, shardCount: 4, holder: 'process-a' });
    expect((refusal as Error).message).toMatch(/^Discord shard 1 \(of 4\) is already run by/);
    // All or nothing: shard 0, claimed before the refusal, was given back.
    expect(await store.lockHolder('discord-shard:0/4', clock.now())).toBeUndefined();
    await first.release();
  });

  it('says the store failed, not Discord, when the claim cannot be written', async () => {
    const failing: LockStore = {
      acquireLock: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      },
      releaseLock: async () => undefined,
      lockHolder: async () => undefined,
      countLocks: async () => 0,
    };
    await expect(claim(failing, 'process-a', [0], manualClock())).rejects.toThrow(
      'Could not claim the Discord shards in the job store: connect ECONNREFUSED 127.0.0.1:5432',
    );
  });

  it('takes over the shard of a process that died once its claim expired', async () => {
    const store = await openLockStore();
    const clock = manualClock();
    const dead = await claim(store, 'dead', [2], clock, { leaseMs: 30_000 });
    clock.advance(29_999);
    await expect(claim(store, 'next', [2], clock)).rejects.toBeInstanceOf(ShardClaimedError);
    clock.advance(2);
    const next = await claim(store, 'next', [2], clock);
    expect(await store.lockHolder('discord-shard:2/4', clock.now())).toBe('next');
    // The late release of the dead process's claim does not free the new holder's.
    await dead.release();
    expect(await store.lockHolder('discord-shard:2/4', clock.now())).toBe('next');
    await next.release();
  });

  it('renews its claims inside the lease, and gives them up when stopped', async () => {
    const store = await openLockStore();
    const clock = manualClock();
    const locks = processLocks(store, 'alive');
    const claims = await claimShards({
      locks,
      ids: [3],
      count: 4,
      now: clock.now,
      logger: silentLogger,
      leaseMs: 1000,
      renewEveryMs: 10,
    });
    // Past the first lease, in steps each shorter than it, waiting for a renewal each time.
    for (let step = 0; step < 3; step += 1) {
      clock.advance(800);
      const before = locks.attempts.length;
      await waitUntil(() => locks.attempts.length > before);
    }
    await expect(claim(store, 'other', [3], clock)).rejects.toBeInstanceOf(ShardClaimedError);
    await claims.release();
    const other = await claim(store, 'other', [3], clock);
    await other.release();
  });
});

describe('the fleet-wide identify throttler', () => {
  /** A gateway manager as discord.js passes it: only what the throttler asks. */
  const manager = (maxConcurrency: number) =>
    ({
      fetchGatewayInformation: async () => ({
        url: 'ws://127.0.0.1',
        shards: 4,
        session_start_limit: {
          total: 1000,
          remaining: 999,
          reset_after: 0,
          max_concurrency: maxConcurrency,
        },
      }),
    }) as never;

  it('lets one identify per bucket through per window, even from one process', async () => {
    const store = await openLockStore();
    const clock = manualClock();
    const build = fleetIdentifyThrottler({
      locks: processLocks(store, 'process-a'),
      now: clock.now,
      logger: silentLogger,
      pollMs: 5,
    });
    const throttler = await build(manager(2));
    const signal = new AbortController().signal;
    // Shards 0 and 1 are in different buckets: both go at once.
    await throttler.waitForIdentify(0, signal);
    await throttler.waitForIdentify(1, signal);
    // Shard 2 shares shard 0's bucket: it waits for the window, although the same process holds it.
    let through = false;
    const third = throttler.waitForIdentify(2, signal).then(() => {
      through = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(through).toBe(false);
    // The store holds a lock through its `until`: the window is over a millisecond later.
    clock.advance(5001);
    await third;
    expect(through).toBe(true);
  });

  it('stops waiting when discord.js aborts (the shard closed meanwhile)', async () => {
    const store = await openLockStore();
    const clock = manualClock();
    const locks = processLocks(store, 'process-a');
    const throttler = await fleetIdentifyThrottler({
      locks,
      now: clock.now,
      logger: silentLogger,
      pollMs: 5,
    })(manager(1));
    await throttler.waitForIdentify(0, new AbortController().signal);
    const controller = new AbortController();
    const waiting = throttler.waitForIdentify(1, controller.signal);
    await waitUntil(() => locks.attempts.length >= 3);
    controller.abort(new Error('shard closed'));
    await expect(waiting).rejects.toThrow('shard closed');
    const attempts = locks.attempts.length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(locks.attempts.length).toBe(attempts);
  });
});

/** Polls a condition every 5 ms, for at most 5 s. */
async function waitUntil(condition: () => boolean): Promise<void> {
  for (let tries = 0; tries < 1000; tries += 1) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('timed out');
}
