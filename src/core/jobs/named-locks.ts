import type { JobStore } from './store.js';

/**
 * The store's named leases as one process holds them: a singleton's turn in a fleet (command
 * registration, a Discord shard, an identify bucket). `owner` names this process, the same in
 * every call, so that a lock it holds is renewed by acquiring it again and another process can
 * say who holds one.
 */
export type NamedLocks = Pick<
  JobStore,
  'acquireLock' | 'releaseLock' | 'lockHolder' | 'countLocks'
> & {
  readonly owner: string;
};
