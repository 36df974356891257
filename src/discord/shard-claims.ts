import type { Logger, NamedLocks } from '../core/index.js';

/**
 * Two processes connected as the same shard both receive its events, and would both answer every
 * request of its servers. So each process claims its shards in the shared store before it
 * connects: a named lease per shard, renewed while it runs, released when it stops. A process that
 * dies without releasing leaves a claim that expires after `leaseMs`, and the next process takes it.
 */
export interface ShardClaimOptions {
  readonly locks: NamedLocks;
  readonly ids: readonly number[];
  readonly count: number;
  readonly now: () => number;
  readonly logger: Logger;
  /** How long a claim outlives its last renewal; default 30 s. */
  readonly leaseMs?: number;
  /** How often claims are renewed; default a third of the lease, well inside it. */
  readonly renewEveryMs?: number;
}

export interface ShardClaims {
  /** Stops renewing and gives the shards up, for the next process to take at once. */
  release(): Promise<void>;
}

export const DEFAULT_SHARD_LEASE_MS = 30_000;

/** The lock a shard's claim is: the count is part of it, as shard 1 of 2 is not shard 1 of 4. */
export function shardLockName(id: number, count: number): string {
  return `discord-shard:${id}/${count}`;
}

/** The shards could not be claimed: the start stops with this message, as it is. */
export class ShardClaimError extends Error {
  override readonly name: string = 'ShardClaimError';
}

/** Refuses a start: a shard is claimed by another live process. */
export class ShardClaimedError extends ShardClaimError {
  override readonly name = 'ShardClaimedError';
  constructor(
    readonly shardId: number,
    readonly shardCount: number,
    readonly holder: string | undefined,
    leaseMs: number,
  ) {
    super(
      `Discord shard ${shardId} (of ${shardCount}) is already run by another process` +
        (holder === undefined ? '' : ` (${holder})`) +
        ': give each process its own DISCORD_SHARD_IDS. If that process has stopped, its claim ' +
        `expires within ${Math.ceil(leaseMs / 1000)} s.`,
    );
  }
}

/**
 * Claims every shard or none: on a refusal the claims already taken are released and a
 * `ShardClaimedError` names the shard. Then renews them on a timer until released.
 */
export async function claimShards(options: ShardClaimOptions): Promise<ShardClaims> {
  const { locks, ids, count, now, logger } = options;
  const leaseMs = options.leaseMs ?? DEFAULT_SHARD_LEASE_MS;
  const renewEveryMs = options.renewEveryMs ?? Math.floor(leaseMs / 3);
  const names = ids.map((id) => ({ id, name: shardLockName(id, count) }));
  const held: string[] = [];
  const releaseHeld = () =>
    Promise.allSettled(held.map((name) => locks.releaseLock(name, locks.owner)));
  try {
    for (const { id, name } of names) {
      const at = now();
      if (!(await locks.acquireLock(name, locks.owner, at, at + leaseMs))) {
        const holder = await locks.lockHolder(name, at).catch(() => undefined);
        throw new ShardClaimedError(id, count, holder, leaseMs);
      }
      held.push(name);
    }
  } catch (error) {
    await releaseHeld();
    if (error instanceof ShardClaimError) throw error;
    // The store failed, not Discord: say so, rather than "could not connect to Discord".
    const reason = error instanceof Error ? error.message : String(error);
    throw new ShardClaimError(`Could not claim the Discord shards in the job store: ${reason}`, {
      cause: error,
    });
  }
  logger.info({ shards: ids, shardCount: count }, 'Claimed the Discord shards');

  let renewing: Promise<void> = Promise.resolve();
  const renew = async () => {
    for (const { id, name } of names) {
      const at = now();
      try {
        // Acquiring a lock the owner holds extends it; false means another process took it
        // (this one stalled past its lease) and both now receive the shard's events.
        if (!(await locks.acquireLock(name, locks.owner, at, at + leaseMs))) {
          logger.error(
            { shard: id, shardCount: count },
            'Lost the claim on a Discord shard to another process: both now receive its events',
          );
        }
      } catch (error) {
        logger.warn({ err: error, shard: id }, 'Could not renew the claim on a Discord shard');
      }
    }
  };
  const timer = setInterval(() => {
    renewing = renewing.then(renew);
  }, renewEveryMs);
  timer.unref();

  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      clearInterval(timer);
      await renewing;
      await releaseHeld();
    },
  };
}
