import type { JobStore } from '../jobs/store.js';

export type { AuditLine, NewAuditLine } from '../jobs/store.js';

/**
 * The part of the store the moderation log uses: its outbox (any process appends, one posts) and
 * the named lock that makes one process the poster of a platform's lines.
 */
export type AuditOutbox = Pick<
  JobStore,
  'appendAuditLines' | 'pendingAuditLines' | 'deleteAuditLines' | 'acquireLock' | 'releaseLock'
>;
