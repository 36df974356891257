import type pg from 'pg';
import { checkMigrationOrder } from './migration-order.js';
import { FINAL_STATES_SQL } from './rows.js';

/**
 * The PostgreSQL store's schema, as an ordered list of steps, applied when a store opens: in one
 * transaction, under a transaction-level advisory lock, so that ten processes starting at once
 * apply each step once (the others wait, then find it recorded), and a failing step leaves the
 * database as it was (PostgreSQL's DDL is transactional).
 *
 * A released step is never edited: a change is a new step at the end.
 *
 * Rolling deploys: old and new processes run side by side for one version. A step that the
 * previous release can live with is marked `additive`, and recorded so: a process that knows
 * versions up to N opens a database at N+1 when that step is additive, and refuses it otherwise
 * (or at N+2 and beyond). Additive means the previous release's statements still mean what they
 * meant:
 * - new tables, new indexes, new columns that are nullable or have a default (old inserts name
 *   their columns and leave the new ones to it), new rows in `shared_state`;
 * - never a dropped, renamed or retyped column the previous release reads or writes, never a new
 *   NOT NULL column without a default, never a new constraint its writes could break, no
 *   change in what an existing column or state means, and no job in a new state (the previous
 *   release refuses to read a row whose state it does not know);
 * - a column the new release stops using is dropped two releases later, by a non-additive step;
 * - a step is short: its DDL locks the tables it changes until it commits, and the running
 *   processes wait meanwhile.
 * The store names the columns it reads (never `SELECT *`): a statement prepared on a running
 * process's connection would otherwise fail once its result gains a column.
 * The row reader (rows.ts) ignores columns it does not know, and events of an unknown kind are
 * ignored by listeners, so an additive step needs nothing more from the previous release.
 */

export interface PostgresMigration {
  /** 1, 2, 3...: the list is checked to be gapless, so a step cannot be skipped by mistake. */
  readonly version: number;
  readonly name: string;
  /** The previous release keeps working on a database with this step (see above). */
  readonly additive: boolean;
  readonly up: (client: pg.ClientBase) => Promise<void>;
}

/** Serialises migrations across every process using the database (any fixed key will do). */
export const MIGRATION_LOCK_KEY = 7_306_117_001;

/** The shared pause of creates, in `shared_state` (as in the SQLite store). */
export const PAUSED_UNTIL_KEY = 'paused_until';

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'jobs, claims and leases, turn keys, locks and shared state',
    // The first step: there is no previous release on PostgreSQL to stay compatible with.
    additive: false,
    up: async (client) => {
      // The column names and meanings are the SQLite store's, so that one contract (and one row
      // reader, rows.ts) serves both. JSON columns are TEXT, not JSONB: a JSONB value comes back
      // parsed and reformatted, and rows.ts reads both stores' JSON the same way. Flags are
      // INTEGER 0/1 as in SQLite, so that the shared SQL rules (`timeout_notified <> 0`) hold.
      // Times are BIGINT Unix milliseconds. No CHECK on `state`: a new state then needs no
      // constraint change (the store validates states when it reads them).
      //
      // `insert_order` stands for SQLite's rowid: the tie-break between jobs created in the same
      // millisecond. `queue_seq` and `queue_users.served_seq` come from the `queue_seq` sequence
      // (the SQLite store keeps a counter row): a sequence hands out numbers without a row lock,
      // and its gaps do not matter to an order.
      await client.query(`
        CREATE SEQUENCE queue_seq AS BIGINT;
        CREATE TABLE jobs (
          id TEXT PRIMARY KEY,
          platform TEXT NOT NULL,
          dedup_key TEXT,
          requester_id TEXT NOT NULL,
          server_id TEXT,
          channel_id TEXT NOT NULL,
          locale TEXT NOT NULL,
          requester_is_admin INTEGER NOT NULL,
          action TEXT NOT NULL,
          prompt TEXT NOT NULL,
          options TEXT NOT NULL,
          inputs TEXT NOT NULL,
          destination TEXT,
          parent_job_id TEXT,
          state TEXT NOT NULL,
          created_at BIGINT NOT NULL,
          updated_at BIGINT NOT NULL,
          started_at BIGINT,
          finished_at BIGINT,
          task_id TEXT,
          trace_id TEXT,
          callback_token TEXT NOT NULL,
          reserved_images INTEGER NOT NULL,
          quota_day TEXT NOT NULL,
          result TEXT,
          error TEXT,
          delivery TEXT,
          delivery_attempts INTEGER NOT NULL,
          timeout_notified INTEGER NOT NULL,
          lease_owner TEXT,
          lease_until BIGINT,
          queue_seq BIGINT NOT NULL,
          insert_order BIGINT GENERATED ALWAYS AS IDENTITY
        );
        -- NULLs are distinct in a UNIQUE index: jobs without a dedup key never collide.
        CREATE UNIQUE INDEX jobs_dedup_key ON jobs (dedup_key);
        CREATE INDEX jobs_state ON jobs (state, created_at);
        -- Covering (INCLUDE): an admission sums a day's reservations from the index alone,
        -- under the admission lock, as often as the visibility map allows.
        CREATE INDEX jobs_quota_requester ON jobs (quota_day, requester_id)
          INCLUDE (reserved_images);
        CREATE INDEX jobs_quota_server ON jobs (quota_day, server_id) INCLUDE (reserved_images);
        CREATE INDEX jobs_updated_at ON jobs (updated_at);
        -- Unfinished jobs are few and finished ones many (kept until pruned): every claim counts
        -- the occupied slots, and every admission a user's unfinished jobs, through this small
        -- index rather than a scan of the history. Its predicate is the one rows.ts writes.
        CREATE INDEX jobs_unfinished ON jobs (requester_id)
          WHERE state NOT IN ${FINAL_STATES_SQL};
        CREATE INDEX jobs_waiting ON jobs (state, requester_id, queue_seq);
        CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;

        CREATE TABLE queue_users (
          requester_id TEXT PRIMARY KEY,
          served_seq BIGINT NOT NULL
        );

        CREATE TABLE locks (
          name TEXT PRIMARY KEY,
          owner TEXT NOT NULL,
          until BIGINT NOT NULL
        );

        CREATE TABLE shared_state (
          key TEXT PRIMARY KEY,
          value BIGINT NOT NULL
        );
      `);
    },
  },
  {
    version: 2,
    name: 'settings, the moderation log outbox, recent jobs by user',
    // New tables and an index: the previous release never reads them.
    additive: true,
    up: async (client) => {
      await client.query(`
        CREATE TABLE settings (
          scope TEXT NOT NULL,
          key TEXT NOT NULL,
          value TEXT NOT NULL,
          updated_at BIGINT NOT NULL,
          PRIMARY KEY (scope, key)
        );
        CREATE TABLE audit_lines (
          id BIGSERIAL PRIMARY KEY,
          platform TEXT NOT NULL,
          channel_id TEXT NOT NULL,
          text TEXT NOT NULL,
          created_at BIGINT NOT NULL
        );
        CREATE INDEX jobs_requester_recent ON jobs (requester_id, platform, created_at);
      `);
    },
  },
];

/**
 * The database was migrated by a newer version of the bot, beyond what this one can work with;
 * opening it could lose data. The message names no connection detail (the URL holds a password).
 */
export class PostgresSchemaVersionError extends Error {
  override readonly name = 'PostgresSchemaVersionError';
  readonly databaseVersion: number;
  readonly knownVersion: number;

  constructor(databaseVersion: number, knownVersion: number) {
    super(
      `The PostgreSQL job store has schema version ${databaseVersion}, but this version of the ` +
        `bot knows versions up to ${knownVersion}` +
        (databaseVersion === knownVersion + 1
          ? ' and that step is not compatible with it'
          : ', and works with at most one newer version') +
        '. Upgrade the bot, or point DATABASE_URL at another database.',
    );
    this.databaseVersion = databaseVersion;
    this.knownVersion = knownVersion;
  }
}

export interface PostgresMigrationOutcome {
  readonly fromVersion: number;
  /** The database's version afterwards (one more than known if a newer additive step is in). */
  readonly toVersion: number;
  readonly applied: number;
}

/** Brings the schema up to date (see the top of this file); throws PostgresSchemaVersionError. */
export async function migratePostgres(
  pool: pg.Pool,
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
): Promise<PostgresMigrationOutcome> {
  checkMigrationOrder(migrations);
  const knownVersion = migrations.at(-1)?.version ?? 0;
  const client = await pool.connect();
  let broken = false;
  // A connection lost between two statements reports it here rather than ending the process.
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    // Held until COMMIT or ROLLBACK, and released by the server if this connection dies.
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at BIGINT NOT NULL,
        additive BOOLEAN NOT NULL
      )
    `);
    const recorded = await client.query<{ version: number; additive: boolean }>(
      'SELECT version, additive FROM schema_migrations WHERE version > $1 ORDER BY version',
      [knownVersion],
    );
    const newer = recorded.rows;
    if (newer.length > 0) {
      const databaseVersion = newer.at(-1)?.version ?? knownVersion;
      if (newer.length > 1 || newer.some((step) => !step.additive)) {
        throw new PostgresSchemaVersionError(databaseVersion, knownVersion);
      }
    }
    const current = await client.query<{ version: number }>(
      'SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations',
    );
    const fromVersion = current.rows[0]?.version ?? 0;
    let applied = 0;
    for (const migration of migrations) {
      if (migration.version <= fromVersion) continue;
      await migration.up(client);
      // The time comes from the database, so that the core keeps its rule of reading no clock.
      await client.query(
        `INSERT INTO schema_migrations (version, name, applied_at, additive)
         VALUES ($1, $2, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT, $3)`,
        [migration.version, migration.name, migration.additive],
      );
      applied += 1;
    }
    await client.query('COMMIT');
    return { fromVersion, toVersion: Math.max(fromVersion, knownVersion), applied };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    client.removeListener('error', onError);
    // A connection that failed is closed rather than given back to the pool.
    client.release(broken);
  }
}
