import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JobStore } from '../src/core/jobs/store.js';
import { StoreInUseError } from '../src/core/jobs/store-lock.js';
import { CorruptJobRowError, JOB_COLUMNS, jobToRow } from '../src/core/jobs/stores/rows.js';
import { openSqliteStore } from '../src/core/jobs/stores/sqlite.js';
import {
  migrateSqlite,
  SchemaVersionError,
  SQLITE_MIGRATIONS,
  type SqliteMigration,
} from '../src/core/jobs/stores/sqlite-migrations.js';
import { makeFullJob, makeJob } from './store-contract.js';

/** What only the SQLite store does: its file, its pragmas, its migrations, its process lock. */

let directory: string;
let storePath: string;
const openStores: JobStore[] = [];

async function open(path = storePath, exclusive = false): Promise<JobStore> {
  const store = await openSqliteStore({ path, exclusive });
  openStores.push(store);
  return store;
}

function withRaw<T>(use: (raw: BetterSqlite3.Database) => T, path = storePath): T {
  const raw = new BetterSqlite3(path);
  try {
    return use(raw);
  } finally {
    raw.close();
  }
}

function appliedVersions(): number[] {
  return withRaw(
    (raw) =>
      raw
        .prepare('SELECT version FROM schema_migrations ORDER BY version')
        .pluck()
        .all() as number[],
  );
}

const CLAIM = {
  owner: 'process-a',
  platforms: ['discord'],
  maxConcurrent: 100,
  maxPerUser: 100,
  now: 10_000,
  leaseUntil: 70_000,
};

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'sqlite-store-v2-'));
  storePath = join(directory, 'jobs.db');
});

afterEach(async () => {
  for (const store of openStores.splice(0)) await store.close();
  rmSync(directory, { recursive: true, force: true });
});

describe('the SQLite file', () => {
  it('creates a missing parent folder and puts the file in WAL mode', async () => {
    const nested = join(directory, 'a', 'b', 'jobs.db');
    const store = await open(nested);
    await store.insert(makeJob());
    expect(existsSync(nested)).toBe(true);
    // WAL is persistent in the file, so a fresh connection sees it.
    expect(withRaw((raw) => raw.pragma('journal_mode', { simple: true }), nested)).toBe('wal');
  });

  it('syncs the commit of a move to `creating` (synchronous = FULL) and no other', async () => {
    // Read from the store's own connection: synchronous is per connection, not in the file.
    const pragma = vi.spyOn(BetterSqlite3.prototype, 'pragma');
    try {
      const store = await open();
      const connection = pragma.mock.contexts[0] as BetterSqlite3.Database | undefined;
      expect(connection).toBeDefined();
      // 1 is NORMAL: ordinary commits are not synced one by one.
      expect(connection?.pragma('synchronous', { simple: true })).toBe(1);
      await store.insert(makeJob());
      await store.claimNext(CLAIM);
      pragma.mockClear();
      await store.update('job-1', { deliveryAttempts: 1 }, 2);
      expect(pragma.mock.calls).toEqual([]);
      // A power cut must not undo this one: a paid create is sent right after it.
      const creating = await store.transition(
        'job-1',
        ['queued'],
        { state: 'creating' },
        3,
        'process-a',
      );
      expect(creating?.state).toBe('creating');
      expect(pragma.mock.calls.map((call) => call[0])).toEqual([
        'synchronous = FULL',
        'synchronous = NORMAL',
      ]);
      pragma.mockClear();
      await store.transition('job-1', ['creating'], { state: 'running', taskId: 't' }, 4);
      expect(pragma.mock.calls).toEqual([]);
      expect(connection?.pragma('synchronous', { simple: true })).toBe(1);
    } finally {
      pragma.mockRestore();
    }
  });

  it('stores times as integers and refuses fractional ones, storing nothing', async () => {
    const store = await open();
    await expect(store.insert(makeJob({ createdAt: 1.5 }))).rejects.toThrow(/INTEGER/);
    expect(await store.get('job-1')).toBeUndefined();
  });

  it('refuses unreadable rows with an error naming the job and column', async () => {
    const store = await open();
    for (const id of ['bad-state', 'bad-action', 'bad-inputs']) {
      await store.insert(makeJob({ id }));
    }
    withRaw((raw) => {
      raw.prepare(`UPDATE jobs SET state = 'exploded' WHERE id = 'bad-state'`).run();
      raw.prepare(`UPDATE jobs SET action = 'paint' WHERE id = 'bad-action'`).run();
      raw.prepare(`UPDATE jobs SET inputs = '[{"kind":"ftp"}]' WHERE id = 'bad-inputs'`).run();
    });
    const stateError = await store.get('bad-state').catch((error: unknown) => error);
    expect(stateError).toBeInstanceOf(CorruptJobRowError);
    expect(stateError).toMatchObject({ jobId: 'bad-state', column: 'state' });
    await expect(store.get('bad-action')).rejects.toThrow(
      /job bad-action, column action holds an unknown action "paint"/,
    );
    await expect(store.get('bad-inputs')).rejects.toThrow(/job bad-inputs, column inputs/);
  });

  it('keeps its lock between processes: a second exclusive open is refused until the first closes', async () => {
    const first = await openSqliteStore({ path: storePath, exclusive: true });
    await expect(openSqliteStore({ path: storePath, exclusive: true })).rejects.toBeInstanceOf(
      StoreInUseError,
    );
    // A tool's connection (not exclusive) still reads it.
    await first.insert(makeJob());
    const reader = await open();
    expect((await reader.get('job-1'))?.id).toBe('job-1');
    await first.close();
    await first.close();
    expect(await first.ping()).toBe(false);
    const second = await open(storePath, true);
    expect((await second.get('job-1'))?.id).toBe('job-1');
    // `:memory:` has no file to lock.
    await open(':memory:', true);
    await open(':memory:', true);
  });

  it('guards a transition across two connections to the same file', async () => {
    const first = await open();
    const second = await open();
    await first.insert(makeJob());
    expect((await second.get('job-1'))?.state).toBe('queued');
    expect((await first.transition('job-1', ['queued'], { state: 'cancelled' }, 2))?.state).toBe(
      'cancelled',
    );
    expect(await second.transition('job-1', ['queued'], { state: 'creating' }, 3)).toBeUndefined();
  });

  it('forgets the turn keys of users with nothing waiting when pruning', async () => {
    const store = await open();
    await store.insert(makeJob({ id: 'A1', requesterId: 'A' }));
    await store.insert(makeJob({ id: 'B1', requesterId: 'B' }));
    await store.insert(makeJob({ id: 'B2', requesterId: 'B' }));
    await store.claimNext(CLAIM);
    await store.claimNext(CLAIM);
    const turnKeys = () =>
      withRaw((raw) =>
        raw.prepare('SELECT requester_id FROM queue_users ORDER BY requester_id').pluck().all(),
      );
    expect(turnKeys()).toEqual(['A', 'B']);
    await store.transition('A1', ['queued'], { state: 'done' }, 20_000);
    await store.prune(0);
    // A has nothing waiting; B still has B2 (and the claimed B1): B keeps its key.
    expect(turnKeys()).toEqual(['B']);
  });
});

describe('migrations', () => {
  /** A file as the first store left it: version 1, jobs of every kind. */
  function writeVersionOneFile(): void {
    withRaw((raw) => {
      migrateSqlite(raw, storePath, SQLITE_MIGRATIONS.slice(0, 1));
      const insert = raw.prepare(
        `INSERT INTO jobs (${JOB_COLUMNS.join(', ')})
         VALUES (${JOB_COLUMNS.map((column) => `@${column}`).join(', ')})`,
      );
      insert.run(jobToRow(makeJob({ id: 'waiting-late', requesterId: 'A', createdAt: 3_000 })));
      insert.run(jobToRow(makeJob({ id: 'waiting-early', requesterId: 'A', createdAt: 1_000 })));
      insert.run(jobToRow(makeJob({ id: 'other-user', requesterId: 'B', createdAt: 2_000 })));
      insert.run(
        jobToRow(makeJob({ id: 'running', state: 'running', taskId: 'task-1', createdAt: 500 })),
      );
      insert.run(jobToRow(makeFullJob()));
    });
  }

  it('opens a version-1 file: every job readable, places in line by age, jobs in flight taken over', async () => {
    writeVersionOneFile();
    expect(appliedVersions()).toEqual([1]);
    const store = await open();
    expect(appliedVersions()).toEqual(SQLITE_MIGRATIONS.map((step) => step.version));
    expect(await store.get('job-full')).toStrictEqual(makeFullJob());
    expect(withRaw((raw) => raw.prepare('SELECT COUNT(*) FROM locks').pluck().get())).toBe(0);

    // Age order, users alternating: A's oldest (1 000), B's (2 000), then A's next.
    const positions = await store.queuePositions();
    expect([...positions.entries()]).toEqual([
      ['waiting-early', 1],
      ['other-user', 2],
      ['waiting-late', 3],
    ]);
    // A job accepted after the upgrade queues behind them: the counter went on from the backfill.
    await store.insert(makeJob({ id: 'new', requesterId: 'C', createdAt: 100 }));
    const claimed: string[] = [];
    for (let attempt = 0; attempt < 10; attempt++) {
      const job = await store.claimNext(CLAIM);
      if (job === undefined) break;
      claimed.push(job.id);
    }
    expect(claimed).toEqual(['waiting-early', 'other-user', 'new', 'waiting-late']);

    // The job that was running when the old version stopped has no lease: it is taken over.
    const taken = await store.takeOverExpired({
      owner: 'process-a',
      now: 10_000,
      leaseUntil: 70_000,
      platforms: ['discord', 'slack'],
      limit: 10,
    });
    expect(taken.map((job) => [job.id, job.state, job.taskId])).toEqual([
      ['running', 'running', 'task-1'],
      ['job-full', 'delivering', 'task-abc'],
    ]);
  });

  it('keeps data across close and reopen and applies nothing the second time', async () => {
    const store = await openSqliteStore({ path: storePath });
    await store.insert(makeFullJob());
    await store.pauseCreatesUntil(5_000);
    await store.close();
    expect(appliedVersions()).toEqual(SQLITE_MIGRATIONS.map((step) => step.version));
    const reopened = await open();
    expect(await reopened.get('job-full')).toStrictEqual(makeFullJob());
    expect(await reopened.pausedUntil()).toBe(5_000);
    expect(appliedVersions()).toEqual(SQLITE_MIGRATIONS.map((step) => step.version));
    expect(withRaw((raw) => migrateSqlite(raw, storePath))).toEqual({
      fromVersion: SQLITE_MIGRATIONS.length,
      toVersion: SQLITE_MIGRATIONS.length,
      applied: 0,
    });
  });

  it('rolls back a failing run whole, and rejects a list with a gap', async () => {
    await (await open()).close();
    const addColumn: SqliteMigration = {
      version: SQLITE_MIGRATIONS.length + 1,
      name: 'add note',
      up: (database) => database.exec('ALTER TABLE jobs ADD COLUMN note TEXT'),
    };
    const failing: SqliteMigration = {
      version: SQLITE_MIGRATIONS.length + 2,
      name: 'broken',
      up: () => {
        throw new Error('step failed');
      },
    };
    withRaw((raw) => {
      expect(() =>
        migrateSqlite(raw, storePath, [...SQLITE_MIGRATIONS, addColumn, failing]),
      ).toThrow('step failed');
      const columns = raw.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('jobs');
      expect(columns).not.toContain('note');
      expect(columns).toContain('queue_seq');
      const gap = [{ version: 2, name: 'skips one', up: () => {} }];
      expect(() => migrateSqlite(raw, storePath, gap)).toThrow(/expected 1/);
    });
  });

  it('refuses a file written by a newer version, leaving it untouched', async () => {
    await (await open()).close();
    const future = SQLITE_MIGRATIONS.length + 5;
    withRaw((raw) =>
      raw
        .prepare(
          `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 0)`,
        )
        .run(future),
    );
    const refusal = await openSqliteStore({ path: storePath }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(SchemaVersionError);
    expect(String(refusal)).toMatch(
      new RegExp(`schema version ${future}.*up to ${SQLITE_MIGRATIONS.length}`),
    );
    expect(appliedVersions()).toContain(future);
    // Refused with the lock taken: the lock was given back, so the next refusal is the same.
    for (let attempt = 0; attempt < 2; attempt++) {
      await expect(openSqliteStore({ path: storePath, exclusive: true })).rejects.toBeInstanceOf(
        SchemaVersionError,
      );
    }
  });
});
