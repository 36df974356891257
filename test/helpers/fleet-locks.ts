import type { NamedLocks } from '../../src/core/index.js';
import type { JobStore } from '../../src/core/jobs/store.js';

/** The store's lock calls: what several bots of a test fleet share. */
export type LockStore = Pick<JobStore, 'acquireLock' | 'releaseLock' | 'lockHolder'>;

/** One process's view of the shared locks: its owner name, and every acquire it tried. */
export interface ProcessLocks extends NamedLocks {
  readonly attempts: { readonly name: string; readonly owner: string; readonly won: boolean }[];
}

export function processLocks(store: LockStore, owner: string): ProcessLocks {
  const attempts: { name: string; owner: string; won: boolean }[] = [];
  return {
    owner,
    attempts,
    acquireLock: async (name, lockOwner, now, until) => {
      const won = await store.acquireLock(name, lockOwner, now, until);
      attempts.push({ name, owner: lockOwner, won });
      return won;
    },
    releaseLock: (name, lockOwner) => store.releaseLock(name, lockOwner),
    lockHolder: (name, now) => store.lockHolder(name, now),
  };
}

/**
 * Until the SQLite store lands (branch `store`): the contract's lock semantics in memory. A lock
 * is taken when free, expired, or already the owner's; expired ones are free.
 */
export function memoryLockStore(): LockStore {
  const locks = new Map<string, { owner: string; until: number }>();
  return {
    acquireLock: async (name, owner, now, until) => {
      const held = locks.get(name);
      if (held !== undefined && held.owner !== owner && held.until > now) return false;
      locks.set(name, { owner, until });
      return true;
    },
    releaseLock: async (name, owner) => {
      if (locks.get(name)?.owner === owner) locks.delete(name);
    },
    lockHolder: async (name, now) => {
      const held = locks.get(name);
      return held !== undefined && held.until > now ? held.owner : undefined;
    },
  };
}
