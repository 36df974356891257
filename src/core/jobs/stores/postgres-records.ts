import type pg from 'pg';
import type { AuditLine, NewAuditLine, SettingsScope } from '../store.js';
import { type AuditRow, auditLineOf } from './rows.js';

/**
 * The PostgreSQL store's records beside the queue: settings documents and the moderation log's
 * outbox, each call one statement on the pool (the SQLite twin is sqlite-records.ts). Recent jobs
 * are read in the store itself, with the job columns it names.
 */
export class PostgresRecords {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async getSettings(scope: SettingsScope, key: string): Promise<unknown> {
    const result = await this.#pool.query<{ value: string }>({
      name: 'nb-get-settings',
      text: 'SELECT value FROM settings WHERE scope = $1 AND key = $2',
      values: [scope, key],
    });
    const row = result.rows[0];
    return row === undefined ? undefined : JSON.parse(row.value);
  }

  async putSettings(scope: SettingsScope, key: string, value: unknown, now: number): Promise<void> {
    if (value === undefined) {
      await this.#pool.query('DELETE FROM settings WHERE scope = $1 AND key = $2', [scope, key]);
      return;
    }
    await this.#pool.query(
      `INSERT INTO settings (scope, key, value, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value,
         updated_at = excluded.updated_at`,
      [scope, key, JSON.stringify(value), now],
    );
  }

  async reservedImagesBetween(
    requesterId: string,
    fromDay: string,
    toDay: string,
  ): Promise<number> {
    const result = await this.#pool.query<{ images: string }>({
      name: 'nb-reserved-images-between',
      text: `SELECT COALESCE(SUM(reserved_images), 0) AS images FROM jobs
             WHERE requester_id = $1 AND quota_day >= $2 AND quota_day <= $3`,
      values: [requesterId, fromDay, toDay],
    });
    return Number(result.rows[0]?.images ?? 0);
  }

  async appendAuditLines(lines: readonly NewAuditLine[], now: number): Promise<void> {
    if (lines.length === 0) return;
    // One statement for the lot: the lines keep their order in the id sequence.
    await this.#pool.query(
      `INSERT INTO audit_lines (platform, channel_id, text, created_at)
       SELECT platform, channel_id, text, $4
       FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY
         AS line (platform, channel_id, text, position)
       ORDER BY position`,
      [
        lines.map((line) => line.platform),
        lines.map((line) => line.channelId),
        lines.map((line) => line.text),
        now,
      ],
    );
  }

  async pendingAuditLines(limit: number): Promise<AuditLine[]> {
    const rows = Math.max(0, Math.floor(limit));
    if (rows === 0) return [];
    const result = await this.#pool.query<AuditRow>({
      name: 'nb-pending-audit-lines',
      text: `SELECT id, platform, channel_id, text, created_at FROM audit_lines
             ORDER BY id LIMIT $1`,
      values: [rows],
    });
    return result.rows.map(auditLineOf);
  }

  async deleteAuditLines(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#pool.query('DELETE FROM audit_lines WHERE id = ANY($1::bigint[])', [[...ids]]);
  }
}
