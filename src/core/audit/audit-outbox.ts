/**
 * The part of the store the moderation log uses: its outbox (any process appends, one posts) and
 * the named lock that makes one process the poster of a platform's lines. The job store is one.
 */
export interface AuditOutbox {
  appendAuditLines(lines: readonly NewAuditLine[], now: number): Promise<void>;
  /** Oldest first. */
  pendingAuditLines(limit: number): Promise<AuditLine[]>;
  deleteAuditLines(ids: readonly number[]): Promise<void>;
  acquireLock(name: string, owner: string, now: number, until: number): Promise<boolean>;
  releaseLock(name: string, owner: string): Promise<void>;
}

export interface NewAuditLine {
  readonly platform: string;
  readonly channelId: string;
  readonly text: string;
}

export interface AuditLine extends NewAuditLine {
  readonly id: number;
  readonly createdAt: number;
}
