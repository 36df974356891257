import type { NamedLocks } from '../../src/core/index.js';
import type { JobStore } from '../../src/core/jobs/store.js';
import { openSqliteStore } from '../../src/core/jobs/stores/sqlite.js';

/** The store's lock calls: what several bots of a test fleet share. */
export type LockStore = Pick<JobStore, 'acquireLock' | 'releaseLock' | 'lockHolder' | 'countLocks'>;

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
    countLocks: (prefix, now) => store.countLocks(prefix, now),
  };
}

const opened: JobStore[] = [];

/**
 * A throwaway SQLite store (`:memory:`) whose named locks the bots of a test share, as processes
 * share the fleet's store. Closed by `closeLockStores`.
 */
export async function openLockStore(): Promise<JobStore> {
  const store = await openSqliteStore({ path: ':memory:' });
  opened.push(store);
  return store;
}

export async function closeLockStores(): Promise<void> {
  await Promise.allSettled(opened.splice(0).map((store) => store.close()));
}
