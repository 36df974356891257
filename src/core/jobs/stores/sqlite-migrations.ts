import type { Database } from 'better-sqlite3';
import { checkMigrationOrder } from './migration-order.js';

/**
 * The SQLite store's schema, as an ordered list of steps. A released step is never edited: a
 * change is a new step at the end, so that every existing file reaches the same schema by
 * replaying what it lacks. Step 1 is the schema of the first store (src/core/jobs/migrations.ts),
 * word for word: the `jobs.db` files out there are at version 1.
 */

export interface SqliteMigration {
  /** 1, 2, 3...: the list is checked to be gapless, so a step cannot be skipped by mistake. */
  readonly version: number;
  readonly name: string;
  readonly up: (database: Database) => void;
}

/** The key of the store-wide counter `queue_seq` and `served_seq` values are drawn from. */
export const QUEUE_COUNTER_KEY = 'queue_seq';
/** The key of the shared pause of creates. */
export const PAUSED_UNTIL_KEY = 'paused_until';

export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'create jobs',
    up: (database) => {
      // STRICT makes SQLite refuse a value of the wrong type (a fractional time, a number in a text
      // column) instead of storing it silently. No CHECK on `state`: a new state would then need a
      // table rebuild; the store validates states when it reads them.
      database.exec(`
        CREATE TABLE jobs (
          id TEXT PRIMARY KEY NOT NULL,
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
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          started_at INTEGER,
          finished_at INTEGER,
          task_id TEXT,
          trace_id TEXT,
          callback_token TEXT NOT NULL,
          reserved_images INTEGER NOT NULL,
          quota_day TEXT NOT NULL,
          result TEXT,
          error TEXT,
          delivery TEXT,
          delivery_attempts INTEGER NOT NULL,
          timeout_notified INTEGER NOT NULL
        ) STRICT;
        -- NULLs are distinct in a UNIQUE index: jobs without a dedup key never collide.
        CREATE UNIQUE INDEX jobs_dedup_key ON jobs (dedup_key);
        CREATE INDEX jobs_state ON jobs (state, created_at);
        CREATE INDEX jobs_quota_requester ON jobs (quota_day, requester_id);
        CREATE INDEX jobs_quota_server ON jobs (quota_day, server_id);
        CREATE INDEX jobs_updated_at ON jobs (updated_at);
      `);
    },
  },
  {
    version: 2,
    name: 'claims, leases, turn keys, locks and shared state',
    up: (database) => {
      // The same tables and columns as the PostgreSQL store's, so that the contract means the
      // same on both. Existing jobs get their place in line from their age: the order the first
      // store's in-memory queue rebuilt them in.
      database.exec(`
        ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
        ALTER TABLE jobs ADD COLUMN lease_until INTEGER;
        ALTER TABLE jobs ADD COLUMN queue_seq INTEGER NOT NULL DEFAULT 0;
        UPDATE jobs SET queue_seq = ranked.position
          FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, rowid) AS position FROM jobs)
            AS ranked
          WHERE ranked.id = jobs.id;
        -- Covers the claim's search for each user's oldest waiting job without reading a row.
        CREATE INDEX jobs_waiting
          ON jobs (state, requester_id, queue_seq, platform, lease_owner, lease_until);
        -- Leased jobs are few (at most the slots, and those followed late) among many waiting.
        CREATE INDEX jobs_leased ON jobs (state, lease_until) WHERE lease_owner IS NOT NULL;
        CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;
        -- Admission sums a day's reservations and counts a user's unfinished jobs inside its write
        -- transaction: covering indexes answer both without reading rows (the quota indexes of
        -- step 1 are replaced by ones that carry the images).
        DROP INDEX jobs_quota_requester;
        DROP INDEX jobs_quota_server;
        CREATE INDEX jobs_quota_requester_images
          ON jobs (quota_day, requester_id, server_id, reserved_images);
        CREATE INDEX jobs_quota_server_images ON jobs (quota_day, server_id, reserved_images);
        CREATE INDEX jobs_requester_state ON jobs (requester_id, state);

        CREATE TABLE queue_users (
          requester_id TEXT PRIMARY KEY NOT NULL,
          served_seq INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE locks (
          name TEXT PRIMARY KEY NOT NULL,
          owner TEXT NOT NULL,
          until INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE shared_state (
          key TEXT PRIMARY KEY NOT NULL,
          value INTEGER NOT NULL
        ) STRICT;
      `);
      database
        .prepare(
          `INSERT INTO shared_state (key, value)
           SELECT ?, COALESCE(MAX(queue_seq), 0) FROM jobs`,
        )
        .run(QUEUE_COUNTER_KEY);
    },
  },
  {
    version: 3,
    name: 'settings, the moderation log outbox, recent jobs by user',
    up: (database) => {
      // Settings are JSON documents the core validates as it reads them: a new setting needs no
      // step here. The outbox's AUTOINCREMENT keeps ids increasing even after the newest lines
      // were deleted, so that "oldest first" stays the order lines were appended.
      database.exec(`
        CREATE TABLE settings (
          scope TEXT NOT NULL,
          key TEXT NOT NULL,
          value TEXT NOT NULL,
          updated_at INTEGER NOT NULL,
          PRIMARY KEY (scope, key)
        ) STRICT;
        CREATE TABLE audit_lines (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          platform TEXT NOT NULL,
          channel_id TEXT NOT NULL,
          text TEXT NOT NULL,
          created_at INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX jobs_requester_recent ON jobs (requester_id, platform, created_at);
      `);
    },
  },
];

/** The file was written by a newer version of the bot; opening it could lose its data. */
export class SchemaVersionError extends Error {
  override readonly name = 'SchemaVersionError';
  readonly fileVersion: number;
  readonly knownVersion: number;

  constructor(path: string, fileVersion: number, knownVersion: number) {
    super(
      `The job store ${path} has schema version ${fileVersion}, but this version of the bot knows ` +
        `versions up to ${knownVersion}. Upgrade the bot, or point it at another store file.`,
    );
    this.fileVersion = fileVersion;
    this.knownVersion = knownVersion;
  }
}

export interface MigrationOutcome {
  readonly fromVersion: number;
  readonly toVersion: number;
  readonly applied: number;
}

/**
 * Brings the schema up to date in one immediate transaction: two processes opening the same file
 * at once cannot both apply a step, and a failing step leaves the file as it was.
 */
export function migrateSqlite(
  database: Database,
  path: string,
  migrations: readonly SqliteMigration[] = SQLITE_MIGRATIONS,
): MigrationOutcome {
  checkMigrationOrder(migrations);
  const knownVersion = migrations.at(-1)?.version ?? 0;
  const run = database.transaction((): MigrationOutcome => {
    database.exec(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        applied_at INTEGER NOT NULL
      ) STRICT
    `);
    const row = database
      .prepare('SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations')
      .get() as { version: number };
    const fromVersion = row.version;
    if (fromVersion > knownVersion) throw new SchemaVersionError(path, fromVersion, knownVersion);
    // The time comes from SQLite so that the core keeps its rule of reading no wall clock itself.
    const record = database.prepare(
      `INSERT INTO schema_migrations (version, name, applied_at)
       VALUES (?, ?, CAST(unixepoch('subsec') * 1000 AS INTEGER))`,
    );
    let applied = 0;
    for (const migration of migrations) {
      if (migration.version <= fromVersion) continue;
      migration.up(database);
      record.run(migration.version, migration.name);
      applied += 1;
    }
    return { fromVersion, toVersion: Math.max(fromVersion, knownVersion), applied };
  });
  return run.immediate();
}
