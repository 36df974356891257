import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Job, JobStore } from '../src/core/jobs/job.js';
import { MIGRATIONS, migrate, SchemaVersionError } from '../src/core/jobs/migrations.js';
import { openSqliteStore } from '../src/core/jobs/sqlite-store.js';

const DAY = '2026-11-24';
const NEXT_DAY = '2026-11-25';

let directory: string;
let storePath: string;
const openStores: JobStore[] = [];

function open(path = storePath): JobStore {
  const store = openSqliteStore({ path });
  openStores.push(store);
  return store;
}

/** A minimal job: every optional field left undefined. */
function makeJob(overrides: Partial<Job> = {}): Job {
  return {
    id: 'job-1',
    platform: 'discord',
    dedupKey: undefined,
    requesterId: 'user-1',
    serverId: undefined,
    channelId: 'channel-1',
    locale: 'en',
    requesterIsAdmin: false,
    action: 'generate',
    prompt: 'a banana',
    options: { model: 'nano-banana' },
    inputs: [],
    destination: undefined,
    parentJobId: undefined,
    state: 'queued',
    createdAt: 1_000,
    updatedAt: 1_000,
    startedAt: undefined,
    finishedAt: undefined,
    taskId: undefined,
    traceId: undefined,
    callbackToken: 'token-1',
    reservedImages: 1,
    quotaDay: DAY,
    result: undefined,
    error: undefined,
    delivery: undefined,
    deliveryAttempts: 0,
    timeoutNotified: false,
    ...overrides,
  };
}

/** Every field set, with nested JSON in each JSON column. */
function makeFullJob(): Job {
  return makeJob({
    id: 'job-full',
    platform: 'slack',
    dedupKey: 'slack:event:42',
    requesterId: 'U123',
    serverId: 'T456',
    channelId: 'C789',
    locale: 'pt-BR',
    requesterIsAdmin: true,
    action: 'edit',
    prompt: 'make it 🍌 "quoted" and\nmultiline',
    options: { model: 'nano-banana-pro', aspectRatio: '16:9', resolution: '4K', count: 3 },
    inputs: [
      { kind: 'url', url: 'https://example.com/a.png' },
      { kind: 'platform', ref: 'F0001', name: 'photo.jpg' },
      { kind: 'platform', ref: 'F0002' },
    ],
    destination: { thread: 'T1', messages: [1, 2, { nested: true, empty: null }], expiry: 99 },
    parentJobId: 'job-parent',
    state: 'delivering',
    createdAt: 1_732_406_400_000,
    updatedAt: 1_732_406_460_000,
    startedAt: 1_732_406_401_000,
    finishedAt: 1_732_406_459_000,
    taskId: 'task-abc',
    traceId: 'trace-def',
    callbackToken: 'secret-token',
    reservedImages: 3,
    quotaDay: DAY,
    result: { images: [{ url: 'https://cdn/1.png' }, { url: 'https://cdn/2.png' }], traceId: 't' },
    error: { code: 'rate_limited', params: { seconds: 30, models: ['a', 'b'] }, traceId: 'e' },
    delivery: { messageIds: ['m1', 'm2'], attempts: [{ at: 5 }] },
    deliveryAttempts: 2,
    timeoutNotified: true,
  });
}

function rawDatabase(path = storePath): BetterSqlite3.Database {
  return new BetterSqlite3(path);
}

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'sqlite-store-'));
  storePath = join(directory, 'jobs.sqlite');
});

afterEach(() => {
  for (const store of openStores.splice(0)) store.close();
  rmSync(directory, { recursive: true, force: true });
});

describe('openSqliteStore', () => {
  it('creates a missing parent folder and puts the file in WAL mode', () => {
    const nested = join(directory, 'a', 'b', 'jobs.sqlite');
    const store = open(nested);
    store.insert(makeJob());
    expect(existsSync(nested)).toBe(true);

    const raw = rawDatabase(nested);
    try {
      // WAL is persistent in the file, so a fresh connection sees it.
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      raw.close();
    }
  });

  it('syncs the `queued → creating` commit (synchronous = FULL) and no other', () => {
    // Read from the store's own connection: synchronous is per connection, not in the file.
    const pragma = vi.spyOn(BetterSqlite3.prototype, 'pragma');
    try {
      const store = open();
      const connection = pragma.mock.contexts[0] as BetterSqlite3.Database | undefined;
      expect(connection).toBeDefined();
      // 1 is NORMAL: ordinary commits are not synced one by one.
      expect(connection?.pragma('synchronous', { simple: true })).toBe(1);
      store.insert(makeJob());
      pragma.mockClear();
      store.update('job-1', { deliveryAttempts: 1 }, 2);
      expect(pragma.mock.calls).toEqual([]);
      // A power cut must not undo this one: a paid create is sent right after it.
      expect(store.transition('job-1', ['queued'], { state: 'creating' }, 3)?.state).toBe(
        'creating',
      );
      expect(pragma.mock.calls.map((call) => call[0])).toEqual([
        'synchronous = FULL',
        'synchronous = NORMAL',
      ]);
      pragma.mockClear();
      store.transition('job-1', ['creating'], { state: 'running', taskId: 't' }, 4);
      expect(pragma.mock.calls).toEqual([]);
      expect(connection?.pragma('synchronous', { simple: true })).toBe(1);
    } finally {
      pragma.mockRestore();
    }
  });

  it('works in memory', () => {
    const store = open(':memory:');
    expect(store.insert(makeJob()).inserted).toBe(true);
    expect(store.get('job-1')?.prompt).toBe('a banana');
  });
});

describe('rows and jobs', () => {
  it('round-trips a job with every field set, nested JSON included', () => {
    const store = open();
    const job = makeFullJob();
    const { job: stored, inserted } = store.insert(job);
    expect(inserted).toBe(true);
    expect(stored).toStrictEqual(job);
    expect(store.get(job.id)).toStrictEqual(job);
  });

  it('round-trips undefined optionals as undefined and keeps JSON null distinct', () => {
    const store = open();
    const minimal = makeJob();
    expect(store.insert(minimal).job).toStrictEqual(minimal);
    const read = store.get(minimal.id);
    expect(read).toStrictEqual(minimal);
    expect(read && 'dedupKey' in read).toBe(true);

    const withNull = makeJob({ id: 'job-null', destination: null, delivery: null });
    const readNull = store.insert(withNull).job;
    expect(readNull.destination).toBeNull();
    expect(readNull.delivery).toBeNull();
  });

  it('stores times as integers and refuses fractional ones', () => {
    const store = open();
    expect(() => store.insert(makeJob({ createdAt: 1.5 }))).toThrow(/INTEGER/);
    expect(store.get('job-1')).toBeUndefined();
  });

  it('refuses to read a row whose JSON is corrupt, naming the job and column', () => {
    const store = open();
    store.insert(makeJob({ id: 'bad-json' }));
    store.insert(makeJob({ id: 'bad-shape' }));
    const raw = rawDatabase();
    try {
      raw.prepare(`UPDATE jobs SET result = '{not json' WHERE id = 'bad-json'`).run();
      raw.prepare(`UPDATE jobs SET options = '{"count": 2}' WHERE id = 'bad-shape'`).run();
    } finally {
      raw.close();
    }
    expect(() => store.get('bad-json')).toThrow(/job bad-json, column result is not valid JSON/);
    expect(() => store.get('bad-shape')).toThrow(/job bad-shape, column options has the wrong/);
  });
});

describe('insert', () => {
  it('returns the existing job for a taken dedup key without writing', () => {
    const store = open();
    const first = makeJob({ id: 'first', dedupKey: 'discord:interaction:1', prompt: 'first' });
    const second = makeJob({ id: 'second', dedupKey: 'discord:interaction:1', prompt: 'second' });
    expect(store.insert(first).inserted).toBe(true);

    const again = store.insert(second);
    expect(again.inserted).toBe(false);
    expect(again.job).toStrictEqual(first);
    expect(store.get('second')).toBeUndefined();
    expect(store.listByState(['queued']).map((job) => job.id)).toEqual(['first']);
  });

  it('lets many jobs have no dedup key', () => {
    const store = open();
    expect(store.insert(makeJob({ id: 'a' })).inserted).toBe(true);
    expect(store.insert(makeJob({ id: 'b' })).inserted).toBe(true);
    expect(store.listByState(['queued'])).toHaveLength(2);
  });

  it('throws on a reused id rather than pretending a duplicate', () => {
    const store = open();
    store.insert(makeJob({ id: 'same', dedupKey: 'k1' }));
    expect(() => store.insert(makeJob({ id: 'same', dedupKey: 'k2' }))).toThrow(/UNIQUE|PRIMARY/);
  });
});

describe('transition', () => {
  it('lets only one of two racing transitions win', () => {
    const store = open();
    store.insert(makeJob());
    const started = store.transition(
      'job-1',
      ['queued'],
      { state: 'creating', startedAt: 2_000 },
      2_000,
    );
    const cancelled = store.transition('job-1', ['queued'], { state: 'cancelled' }, 2_001);
    expect(started?.state).toBe('creating');
    expect(started?.startedAt).toBe(2_000);
    expect(started?.updatedAt).toBe(2_000);
    expect(cancelled).toBeUndefined();
    expect(store.get('job-1')?.state).toBe('creating');
  });

  it('guards across two connections to the same file', () => {
    const first = open();
    const second = open();
    first.insert(makeJob());
    // Both saw `queued`; the second acts after the first committed and must lose.
    expect(second.get('job-1')?.state).toBe('queued');
    expect(first.transition('job-1', ['queued'], { state: 'cancelled' }, 2_000)?.state).toBe(
      'cancelled',
    );
    expect(second.transition('job-1', ['queued'], { state: 'creating' }, 2_001)).toBeUndefined();
    expect(second.get('job-1')?.state).toBe('cancelled');
  });

  it('accepts any of several from states and returns undefined for a missing job', () => {
    const store = open();
    store.insert(makeJob({ state: 'running' }));
    const done = store.transition('job-1', ['creating', 'running'], { state: 'done' }, 3_000);
    expect(done?.state).toBe('done');
    expect(store.transition('missing', ['queued'], { state: 'done' }, 3_000)).toBeUndefined();
    expect(store.transition('job-1', [], { state: 'failed' }, 3_000)).toBeUndefined();
  });
});

describe('update', () => {
  it('changes only the patched fields and updatedAt', () => {
    const store = open();
    const job = makeFullJob();
    store.insert(job);
    const updated = store.update(job.id, { taskId: 'task-new', deliveryAttempts: 3 }, 5_000);
    expect(updated).toStrictEqual({
      ...job,
      taskId: 'task-new',
      deliveryAttempts: 3,
      updatedAt: 5_000,
    });
    expect(store.get(job.id)).toStrictEqual(updated);
  });

  it('does not overwrite what another connection wrote to other fields', () => {
    const first = open();
    const second = open();
    first.insert(makeJob());
    first.update('job-1', { taskId: 'task-1' }, 2_000);
    second.update('job-1', { delivery: { messageIds: ['m'] } }, 2_001);
    const job = first.get('job-1');
    expect(job?.taskId).toBe('task-1');
    expect(job?.delivery).toEqual({ messageIds: ['m'] });
    expect(job?.updatedAt).toBe(2_001);
  });

  it('clears a nullable field patched with undefined and writes JSON and booleans', () => {
    const store = open();
    const job = makeFullJob();
    store.insert(job);
    const updated = store.update(
      job.id,
      {
        taskId: undefined,
        result: undefined,
        error: { code: 'timeout', params: {} },
        timeoutNotified: false,
        destination: { moved: true },
        reservedImages: 0,
      },
      6_000,
    );
    expect(updated?.taskId).toBeUndefined();
    expect(updated?.result).toBeUndefined();
    expect(updated?.error).toEqual({ code: 'timeout', params: {} });
    expect(updated?.timeoutNotified).toBe(false);
    expect(updated?.destination).toEqual({ moved: true });
    expect(updated?.reservedImages).toBe(0);
    expect(updated?.traceId).toBe(job.traceId);
  });

  it('returns undefined for a missing job', () => {
    const store = open();
    expect(store.update('missing', { taskId: 'x' }, 1)).toBeUndefined();
  });
});

describe('listByState', () => {
  it('lists jobs in the given states, oldest first, ties in insertion order', () => {
    const store = open();
    store.insert(makeJob({ id: 'late', createdAt: 3_000 }));
    store.insert(makeJob({ id: 'early', createdAt: 1_000, state: 'running' }));
    store.insert(makeJob({ id: 'tie-b', createdAt: 2_000 }));
    store.insert(makeJob({ id: 'tie-a', createdAt: 2_000 }));
    store.insert(makeJob({ id: 'finished', createdAt: 500, state: 'done' }));

    const ids = (states: Parameters<JobStore['listByState']>[0]) =>
      store.listByState(states).map((job) => job.id);
    expect(ids(['queued', 'running'])).toEqual(['early', 'tie-b', 'tie-a', 'late']);
    expect(ids(['queued'])).toEqual(['tie-b', 'tie-a', 'late']);
    expect(ids(['done'])).toEqual(['finished']);
    expect(ids(['failed'])).toEqual([]);
    expect(ids([])).toEqual([]);
  });
});

describe('quotas', () => {
  function seed(store: JobStore): void {
    const jobs: Partial<Job>[] = [
      { id: 'a1', requesterId: 'alice', serverId: 'guild-1', reservedImages: 2 },
      { id: 'a2', requesterId: 'alice', serverId: 'guild-2', reservedImages: 4 },
      { id: 'a3', requesterId: 'alice', serverId: undefined, reservedImages: 1 },
      { id: 'b1', requesterId: 'bob', serverId: 'guild-1', reservedImages: 3 },
      { id: 'c1', requesterId: 'carol', serverId: 'guild-1', reservedImages: 0 },
      { id: 'd1', requesterId: 'dave', serverId: 'guild-1', reservedImages: 3 },
      {
        id: 'n1',
        requesterId: 'alice',
        serverId: 'guild-1',
        reservedImages: 10,
        quotaDay: NEXT_DAY,
      },
    ];
    for (const job of jobs) store.insert(makeJob(job));
  }

  it('sums reserved images per user, per server, per both and in total, by day', () => {
    const store = open();
    seed(store);
    expect(store.reservedImages({ day: DAY })).toBe(13);
    expect(store.reservedImages({ day: DAY, requesterId: 'alice' })).toBe(7);
    expect(store.reservedImages({ day: DAY, serverId: 'guild-1' })).toBe(8);
    expect(store.reservedImages({ day: DAY, requesterId: 'alice', serverId: 'guild-1' })).toBe(2);
    expect(store.reservedImages({ day: NEXT_DAY })).toBe(10);
    expect(store.reservedImages({ day: NEXT_DAY, requesterId: 'bob' })).toBe(0);
    expect(store.reservedImages({ day: '2026-01-01' })).toBe(0);
  });

  it('drops released reservations from the sums', () => {
    const store = open();
    seed(store);
    store.update('a2', { reservedImages: 0 }, 2_000);
    expect(store.reservedImages({ day: DAY, requesterId: 'alice' })).toBe(3);
  });

  it('ranks top users by images, excluding zero, per server and with a limit', () => {
    const store = open();
    seed(store);
    expect(store.topUsers(DAY, undefined, 10)).toEqual([
      { requesterId: 'alice', images: 7 },
      { requesterId: 'bob', images: 3 },
      { requesterId: 'dave', images: 3 },
    ]);
    expect(store.topUsers(DAY, 'guild-1', 10)).toEqual([
      { requesterId: 'bob', images: 3 },
      { requesterId: 'dave', images: 3 },
      { requesterId: 'alice', images: 2 },
    ]);
    expect(store.topUsers(DAY, undefined, 1)).toEqual([{ requesterId: 'alice', images: 7 }]);
    expect(store.topUsers(NEXT_DAY, undefined, 10)).toEqual([{ requesterId: 'alice', images: 10 }]);
    expect(store.topUsers(DAY, 'guild-9', 10)).toEqual([]);
    expect(store.topUsers(DAY, undefined, 0)).toEqual([]);
    expect(store.topUsers(DAY, undefined, -1)).toEqual([]);
  });
});

describe('prune and delete', () => {
  it('prunes only final jobs last updated before the cutoff', () => {
    const store = open();
    store.insert(makeJob({ id: 'old-done', state: 'done', updatedAt: 100 }));
    store.insert(makeJob({ id: 'old-failed', state: 'failed', updatedAt: 200 }));
    store.insert(makeJob({ id: 'old-cancelled', state: 'cancelled', updatedAt: 300 }));
    store.insert(makeJob({ id: 'old-running', state: 'running', updatedAt: 100 }));
    store.insert(makeJob({ id: 'old-queued', state: 'queued', updatedAt: 100 }));
    store.insert(makeJob({ id: 'at-cutoff', state: 'done', updatedAt: 1_000 }));
    store.insert(makeJob({ id: 'new-done', state: 'done', updatedAt: 5_000 }));

    expect(store.prune(1_000)).toBe(3);
    for (const id of ['old-done', 'old-failed', 'old-cancelled']) {
      expect(store.get(id)).toBeUndefined();
    }
    for (const id of ['old-running', 'old-queued', 'at-cutoff', 'new-done']) {
      expect(store.get(id)?.id).toBe(id);
    }
    expect(store.prune(1_000)).toBe(0);
  });

  it('keeps an undelivered job, result and all, until the retention cutoff, then prunes it', () => {
    const store = open();
    const result = { images: [{ url: 'https://cdn.example/one.png' }] };
    store.insert(makeJob({ id: 'undelivered-old', state: 'undelivered', updatedAt: 100, result }));
    store.insert(
      makeJob({ id: 'undelivered-new', state: 'undelivered', updatedAt: 5_000, result }),
    );
    expect(store.get('undelivered-new')?.state).toBe('undelivered');
    expect(store.get('undelivered-new')?.result).toEqual(result);
    expect(store.prune(1_000)).toBe(1);
    expect(store.get('undelivered-old')).toBeUndefined();
    expect(store.get('undelivered-new')?.result).toEqual(result);
  });

  it('deletes one job and frees its dedup key', () => {
    const store = open();
    store.insert(makeJob({ id: 'gone', dedupKey: 'key' }));
    store.insert(makeJob({ id: 'kept' }));
    expect(store.delete('gone')).toBe(true);
    expect(store.delete('gone')).toBe(false);
    expect(store.get('gone')).toBeUndefined();
    expect(store.get('kept')?.id).toBe('kept');
    expect(store.insert(makeJob({ id: 'again', dedupKey: 'key' })).inserted).toBe(true);
  });
});

describe('migrations and reopening', () => {
  function appliedVersions(path = storePath): number[] {
    const raw = rawDatabase(path);
    try {
      return raw
        .prepare('SELECT version FROM schema_migrations ORDER BY version')
        .pluck()
        .all() as number[];
    } finally {
      raw.close();
    }
  }

  it('keeps data across close and reopen and applies nothing the second time', () => {
    const store = openSqliteStore({ path: storePath });
    const job = makeFullJob();
    store.insert(job);
    store.close();
    expect(appliedVersions()).toEqual(MIGRATIONS.map((migration) => migration.version));

    const reopened = open();
    expect(reopened.get(job.id)).toStrictEqual(job);
    expect(appliedVersions()).toEqual(MIGRATIONS.map((migration) => migration.version));

    const raw = rawDatabase();
    try {
      expect(migrate(raw, storePath)).toEqual({
        fromVersion: MIGRATIONS.length,
        toVersion: MIGRATIONS.length,
        applied: 0,
      });
    } finally {
      raw.close();
    }
  });

  it('applies only the missing steps, and rolls back a failing one', () => {
    open().close();
    const addColumn = {
      version: MIGRATIONS.length + 1,
      name: 'add note',
      up: (database: BetterSqlite3.Database) => {
        database.exec('ALTER TABLE jobs ADD COLUMN note TEXT');
      },
    };
    const failing = {
      version: MIGRATIONS.length + 2,
      name: 'broken',
      up: (database: BetterSqlite3.Database) => {
        database.exec('ALTER TABLE jobs ADD COLUMN other TEXT');
        throw new Error('step failed');
      },
    };
    const raw = rawDatabase();
    try {
      expect(() => migrate(raw, storePath, [...MIGRATIONS, addColumn, failing])).toThrow(
        'step failed',
      );
      // The whole run was one transaction: not even the good step stayed.
      const columns = raw.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('jobs');
      expect(columns).not.toContain('note');
      expect(columns).not.toContain('other');

      expect(migrate(raw, storePath, [...MIGRATIONS, addColumn]).applied).toBe(1);
      expect(migrate(raw, storePath, [...MIGRATIONS, addColumn]).applied).toBe(0);
    } finally {
      raw.close();
    }
  });

  it('refuses a file written by a newer version, leaving it untouched', () => {
    open().close();
    const future = MIGRATIONS.length + 5;
    const raw = rawDatabase();
    raw
      .prepare(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 0)`)
      .run(future);
    raw.close();

    expect(() => openSqliteStore({ path: storePath })).toThrow(SchemaVersionError);
    expect(() => openSqliteStore({ path: storePath })).toThrow(
      new RegExp(`schema version ${future}.*up to ${MIGRATIONS.length}`),
    );
    expect(appliedVersions()).toContain(future);
  });

  it('rejects a migration list with a gap', () => {
    const raw = rawDatabase(':memory:');
    try {
      const gap = [{ version: 2, name: 'skips one', up: () => {} }];
      expect(() => migrate(raw, ':memory:', gap)).toThrow(/expected 1/);
    } finally {
      raw.close();
    }
  });

  it('survives a process-style restart: jobs in flight are found again', () => {
    const before = openSqliteStore({ path: storePath });
    before.insert(makeJob({ id: 'waiting' }));
    before.insert(makeJob({ id: 'working', createdAt: 2_000 }));
    before.transition('working', ['queued'], { state: 'running', taskId: 'task-9' }, 2_500);
    before.close();

    const after = open();
    const inFlight = after.listByState(['queued', 'running']);
    expect(inFlight.map((job) => [job.id, job.state, job.taskId])).toEqual([
      ['waiting', 'queued', undefined],
      ['working', 'running', 'task-9'],
    ]);
    expect(after.reservedImages({ day: DAY })).toBe(2);
  });
});
