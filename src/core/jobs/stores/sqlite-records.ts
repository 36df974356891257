import type { Database, Statement } from 'better-sqlite3';
import type { Job } from '../job.js';
import type { AuditLine, NewAuditLine, SettingsScope } from '../store.js';
import { type AuditRow, auditLineOf, type JobRow, rowToJob } from './rows.js';

/**
 * The SQLite store's records beside the queue: settings documents, recent jobs by user, and the
 * moderation log's outbox. Plain reads and writes, each one statement, kept out of the store's
 * file so that the queue's transactions read on their own.
 */
export class SqliteRecords {
  readonly #getSettings: Statement<[string, string], { value: string }>;
  readonly #putSettings: Statement<[string, string, string, number]>;
  readonly #deleteSettings: Statement<[string, string]>;
  readonly #recentJobs: Statement<[string, string, number], JobRow>;
  readonly #reservedBetween: Statement<[string, string, string], { images: number }>;
  readonly #appendAudit: Statement<[string, string, string, number]>;
  readonly #pendingAudit: Statement<[number], AuditRow>;
  readonly #deleteAudit: Statement<[string]>;
  readonly #appendAuditLines: (lines: readonly NewAuditLine[], now: number) => void;

  constructor(database: Database) {
    this.#getSettings = database.prepare('SELECT value FROM settings WHERE scope = ? AND key = ?');
    this.#putSettings = database.prepare(
      `INSERT INTO settings (scope, key, value, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value,
         updated_at = excluded.updated_at`,
    );
    this.#deleteSettings = database.prepare('DELETE FROM settings WHERE scope = ? AND key = ?');
    this.#recentJobs = database.prepare(
      `SELECT * FROM jobs WHERE requester_id = ? AND platform = ?
       ORDER BY created_at DESC, rowid DESC LIMIT ?`,
    );
    this.#reservedBetween = database.prepare(
      `SELECT COALESCE(SUM(reserved_images), 0) AS images FROM jobs
       WHERE requester_id = ? AND quota_day >= ? AND quota_day <= ?`,
    );
    this.#appendAudit = database.prepare(
      'INSERT INTO audit_lines (platform, channel_id, text, created_at) VALUES (?, ?, ?, ?)',
    );
    this.#pendingAudit = database.prepare(
      `SELECT id, platform, channel_id, text, created_at FROM audit_lines ORDER BY id LIMIT ?`,
    );
    this.#deleteAudit = database.prepare(
      'DELETE FROM audit_lines WHERE id IN (SELECT value FROM json_each(?))',
    );
    this.#appendAuditLines = database.transaction((lines: readonly NewAuditLine[], now: number) => {
      for (const line of lines) {
        this.#appendAudit.run(line.platform, line.channelId, line.text, now);
      }
    });
  }

  getSettings(scope: SettingsScope, key: string): unknown {
    const row = this.#getSettings.get(scope, key);
    return row === undefined ? undefined : JSON.parse(row.value);
  }

  putSettings(scope: SettingsScope, key: string, value: unknown, now: number): void {
    if (value === undefined) {
      this.#deleteSettings.run(scope, key);
      return;
    }
    this.#putSettings.run(scope, key, JSON.stringify(value), now);
  }

  recentJobs(requesterId: string, platform: string, limit: number): Job[] {
    // SQLite reads a negative LIMIT as "no limit"; here it means none.
    const rows = Math.max(0, Math.floor(limit));
    if (rows === 0) return [];
    return this.#recentJobs.all(requesterId, platform, rows).map(rowToJob);
  }

  reservedImagesBetween(requesterId: string, fromDay: string, toDay: string): number {
    return this.#reservedBetween.get(requesterId, fromDay, toDay)?.images ?? 0;
  }

  appendAuditLines(lines: readonly NewAuditLine[], now: number): void {
    if (lines.length > 0) this.#appendAuditLines(lines, now);
  }

  pendingAuditLines(limit: number): AuditLine[] {
    const rows = Math.max(0, Math.floor(limit));
    if (rows === 0) return [];
    return this.#pendingAudit.all(rows).map(auditLineOf);
  }

  deleteAuditLines(ids: readonly number[]): void {
    if (ids.length > 0) this.#deleteAudit.run(JSON.stringify(ids));
  }
}
