import { createServer } from 'node:net';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import type { JobStore, StoreEvent } from '../src/core/jobs/store.js';
import { ADMISSION_LOCK_KEY, openPostgresStore } from '../src/core/jobs/stores/postgres.js';
import { EVENT_CHANNEL } from '../src/core/jobs/stores/postgres-events.js';
import {
  migratePostgres,
  POSTGRES_MIGRATIONS,
  type PostgresMigration,
  PostgresSchemaVersionError,
} from '../src/core/jobs/stores/postgres-migrations.js';
import { type FreshDatabase, freshDatabase } from './helpers/postgres.js';
import { makeJob } from './store-contract.js';

/**
 * What only the PostgreSQL store does (the shared behaviour is the contract's,
 * test/store-contract-postgres.test.ts): migrations across processes, refusing a newer schema,
 * events between processes through NOTIFY, the LISTEN connection coming back, TLS from the URL.
 */

let database: FreshDatabase;
const opened: JobStore[] = [];
const pools: pg.Pool[] = [];

beforeEach(async () => {
  database = await freshDatabase();
});

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  for (const pool of pools.splice(0)) await pool.end();
  await database.drop();
});

async function open(url = database.url): Promise<JobStore> {
  const store = await openPostgresStore({ url, poolSize: 2 });
  opened.push(store);
  return store;
}

/**
 * A pool of the test's own. Its idle connections end when the database is dropped (FORCE) after
 * the test; pg emits that as an error on the pool, which must have a listener not to be uncaught.
 */
function testPool(): pg.Pool {
  const pool = new pg.Pool({ connectionString: database.url, max: 1 });
  pool.on('error', () => undefined);
  pools.push(pool);
  return pool;
}

async function sql<Row extends pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
): Promise<Row[]> {
  const client = new pg.Client({ connectionString: database.url });
  // A connection the server ends while this one is closing (a drop with FORCE) is no failure.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<Row>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Resolves once `predicate` holds, checking every 20 ms; fails after `timeoutMs`. */
async function eventually(predicate: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('migrations', () => {
  it('ten processes opening a fresh database at once apply each step once', async () => {
    const stores = await Promise.all(Array.from({ length: 10 }, () => open()));
    const recorded = await sql<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    expect(recorded.map((row) => row.version)).toEqual(
      POSTGRES_MIGRATIONS.map((migration) => migration.version),
    );
    for (const store of stores) expect(await store.ping()).toBe(true);
  });

  it('applies every step of a longer list once among ten concurrent migrations', async () => {
    // Each step counts its own applications: a step applied twice would show it.
    const steps: PostgresMigration[] = [1, 2, 3].map((version) => ({
      version,
      name: `step ${version}`,
      additive: true,
      up: async (client) => {
        if (version === 1) await client.query('CREATE TABLE applications (version INTEGER)');
        // A slow step, so that the other openers arrive while it runs.
        await client.query('SELECT pg_sleep(0.05)');
        await client.query('INSERT INTO applications VALUES ($1)', [version]);
      },
    }));
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const pool = testPool();
        return migratePostgres(pool, steps);
      }),
    );
    expect(outcomes.reduce((sum, outcome) => sum + outcome.applied, 0)).toBe(3);
    const applications = await sql<{ version: number }>(
      'SELECT version FROM applications ORDER BY version',
    );
    expect(applications.map((row) => row.version)).toEqual([1, 2, 3]);
    const recorded = await sql<{ version: number }>('SELECT version FROM schema_migrations');
    expect(recorded).toHaveLength(3);
  });

  it('refuses a database a newer version changed incompatibly, naming no secret', async () => {
    await (await open()).close();
    opened.length = 0;
    const known = POSTGRES_MIGRATIONS.length;
    await sql(
      `INSERT INTO schema_migrations (version, name, applied_at, additive)
       VALUES ($1, 'from the future', 0, false)`,
      [known + 1],
    );
    const url = new URL(database.url);
    url.password = 'secret-password-42';
    const error = await rejection(open(url.toString()));
    expect(error).toBeInstanceOf(PostgresSchemaVersionError);
    const message = (error as Error).message;
    expect(message).toContain(`schema version ${known + 1}`);
    expect(message).toContain(`versions up to ${known}`);
    expect(message).not.toContain('secret-password-42');
    expect(message).not.toContain(String(url.port));
  });

  it('opens a database one additive step ahead (a rolling deploy), not two', async () => {
    await (await open()).close();
    opened.length = 0;
    const known = POSTGRES_MIGRATIONS.length;
    await sql(
      `INSERT INTO schema_migrations (version, name, applied_at, additive)
       VALUES ($1, 'a new nullable column', 0, true)`,
      [known + 1],
    );
    const store = await open();
    expect(await store.ping()).toBe(true);
    await sql(
      `INSERT INTO schema_migrations (version, name, applied_at, additive)
       VALUES ($1, 'another one', 0, true)`,
      [known + 2],
    );
    expect(await rejection(open())).toBeInstanceOf(PostgresSchemaVersionError);
  });

  it('keeps working while a newer version adds a column (a rolling deploy)', async () => {
    const store = await open();
    const claimRequest = {
      owner: 'process-a',
      platforms: ['discord'],
      maxConcurrent: 10,
      maxPerUser: 10,
      now: 10_000,
      leaseUntil: 70_000,
    };
    // Every statement the running process uses, so that its connections have them prepared.
    const exercise = async (suffix: string) => {
      await store.insert(makeJob({ id: `queued-${suffix}`, dedupKey: `event-${suffix}` }));
      await store.get(`queued-${suffix}`);
      await store.getByDedupKey(`event-${suffix}`);
      await store.listByState(['queued']);
      await store.listUnfinishedCreatedBefore(5_000, 10);
      const claimed = await store.claimNext(claimRequest);
      if (claimed === undefined) throw new Error('nothing claimed');
      await store.transition(claimed.id, ['queued'], { state: 'creating' }, 11_000, 'process-a');
      await store.update(claimed.id, { taskId: `task-${suffix}` }, 12_000);
      await store.markTimeoutNotified(claimed.id, 13_000);
      await store.takeOverExpired({
        owner: 'process-b',
        now: 100_000,
        leaseUntil: 200_000,
        platforms: ['discord'],
        limit: 10,
      });
      await store.queuePositions();
      await store.counts();
    };
    for (const round of ['a', 'b', 'c']) await exercise(round);
    // The next release's additive step, applied by a process of that release.
    await sql('ALTER TABLE jobs ADD COLUMN future_column TEXT');
    await sql(
      `INSERT INTO schema_migrations (version, name, applied_at, additive)
       VALUES ($1, 'a new nullable column', 0, true)`,
      [POSTGRES_MIGRATIONS.length + 1],
    );
    for (const round of ['d', 'e', 'f']) await exercise(round);
    expect((await store.get('queued-f'))?.taskId).toBe('task-f');
  });

  it('leaves the database as it was when a step fails', async () => {
    const pool = testPool();
    const steps: PostgresMigration[] = [
      {
        version: 1,
        name: 'fine',
        additive: true,
        up: async (client) => {
          await client.query('CREATE TABLE first_table (id INTEGER)');
        },
      },
      {
        version: 2,
        name: 'broken',
        additive: true,
        up: async (client) => {
          await client.query('SELECT * FROM no_such_table');
        },
      },
    ];
    await expect(migratePostgres(pool, steps)).rejects.toThrow(/no_such_table/);
    const tables = await sql<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'`,
    );
    expect(tables).toEqual([]);
  });
});

describe('claims racing transitions', () => {
  it('never returns a job that a concurrent cancel took out of the queue', async () => {
    const store = await open();
    await store.insert(makeJob({ id: 'first', createdAt: 1 }));
    await store.insert(makeJob({ id: 'second', createdAt: 2 }));
    // Another process cancels the user's oldest job; its transaction holds the row.
    const canceller = new pg.Client({ connectionString: database.url });
    await canceller.connect();
    try {
      await canceller.query('BEGIN');
      await canceller.query(`UPDATE jobs SET state = 'cancelled' WHERE id = 'first'`);
      const claim = store.claimNext({
        owner: 'process-a',
        platforms: ['discord'],
        maxConcurrent: 10,
        maxPerUser: 10,
        now: 10_000,
        leaseUntil: 70_000,
      });
      // The claim chose `first` from a snapshot without the cancel, and waits for its row.
      await eventually(
        async () =>
          (
            await sql(
              `SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
               AND application_name = 'nano-banana' AND wait_event_type = 'Lock'`,
            )
          ).length > 0,
      );
      await canceller.query('COMMIT');
      const claimed = await claim;
      expect(claimed?.id).toBe('second');
      expect(claimed?.state).toBe('queued');
      expect((await store.get('first'))?.leaseOwner).toBeUndefined();
    } finally {
      await canceller.end();
    }
  });
});

describe('admissions waiting for the fleet', () => {
  it('wait without holding the pool: reads and claims go on meanwhile (issue 12, fleet bench)', async () => {
    // Pool of 2. Another process holds the admission lock: this process's admissions wait.
    const store = await open();
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query(`BEGIN; SELECT pg_advisory_xact_lock(${ADMISSION_LOCK_KEY})`);
      const admissions = Array.from({ length: 5 }, (_, index) =>
        store.insert(makeJob({ id: `waiting-${index}`, requesterId: `user-${index}` })),
      );
      // The admissions have asked for their connections by now.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const answered = await Promise.race([
        store.get('nothing-here').then(() => 'answered'),
        new Promise((resolve) => setTimeout(() => resolve('still waiting'), 3_000)),
      ]);
      expect(answered).toBe('answered');
      await holder.query('COMMIT');
      const outcomes = await Promise.all(admissions);
      expect(outcomes.every((outcome) => outcome.inserted)).toBe(true);
    } finally {
      await holder.end();
    }
  });
});

describe('takeovers across processes', () => {
  it('splits the jobs of a dead process among five processes taking over at once', async () => {
    const store = await open();
    const ids = Array.from({ length: 30 }, (_, index) => `job-${index}`);
    for (const [index, id] of ids.entries()) {
      await store.insert(makeJob({ id, requesterId: `user-${index}`, createdAt: index }));
    }
    const claim = {
      owner: 'dead-process',
      platforms: ['discord'],
      maxConcurrent: 100,
      maxPerUser: 10,
      now: 10_000,
      leaseUntil: 20_000,
    };
    for (const _ of ids) {
      const job = await store.claimNext(claim);
      if (job === undefined) throw new Error('nothing claimed');
      await store.transition(job.id, ['queued'], { state: 'running' }, 10_000, 'dead-process');
    }
    const takers = await Promise.all(Array.from({ length: 5 }, () => open()));
    const taken = await Promise.all(
      takers.map((taker, index) =>
        taker.takeOverExpired({
          owner: `process-${index}`,
          now: 30_000,
          leaseUntil: 90_000,
          platforms: ['discord'],
          limit: 100,
        }),
      ),
    );
    const takenIds = taken.flat().map((job) => job.id);
    expect(takenIds.toSorted()).toEqual(ids.toSorted());
    // Each job's lease names the one process that returned it.
    for (const [index, jobs] of taken.entries()) {
      for (const job of jobs) {
        expect((await store.get(job.id))?.leaseOwner).toBe(`process-${index}`);
      }
    }
  });
});

describe('events between processes', () => {
  it('NOTIFY reaches the other process once, past a listener that throws, and the sender once', async () => {
    const first = await open();
    const second = await open();
    const heardByFirst: StoreEvent[] = [];
    const heardBySecond: StoreEvent[] = [];
    first.subscribe(() => {
      throw new Error('a broken listener');
    });
    first.subscribe((event) => heardByFirst.push(event));
    second.subscribe((event) => heardBySecond.push(event));

    await second.publish({ kind: 'callback', jobId: 'job-1' });
    await eventually(() => heardByFirst.length === 1);
    // Sent after the first one was heard, so every notification of the first one reached
    // `second` before this one does (PostgreSQL delivers them in commit order): an echo of its
    // own event would be in the list.
    await first.publish({ kind: 'pause', until: 123 });
    await eventually(() => heardBySecond.length >= 2);

    expect(heardByFirst).toEqual([
      { kind: 'callback', jobId: 'job-1' },
      { kind: 'pause', until: 123 },
    ]);
    expect(heardBySecond).toEqual([
      { kind: 'callback', jobId: 'job-1' },
      { kind: 'pause', until: 123 },
    ]);
  });

  it('tells an event while every pooled connection is busy (fleet bench, issue 12)', async () => {
    // Pool of 2, both held by updates waiting on rows another client locked.
    const sender = await open();
    const receiver = await open();
    await sender.insert(makeJob({ id: 'held-1' }));
    await sender.insert(makeJob({ id: 'held-2', requesterId: 'user-2' }));
    const heard: StoreEvent[] = [];
    receiver.subscribe((event) => heard.push(event));
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    try {
      await locker.query("BEGIN; SELECT id FROM jobs WHERE id IN ('held-1', 'held-2') FOR UPDATE");
      const blocked = [
        sender.update('held-1', { deliveryAttempts: 1 }, 2),
        sender.update('held-2', { deliveryAttempts: 1 }, 2),
      ];
      await new Promise((resolve) => setTimeout(resolve, 200));
      await sender.publish({ kind: 'callback', jobId: 'held-1' });
      await eventually(() => heard.length > 0, 3_000);
      expect(heard).toEqual([{ kind: 'callback', jobId: 'held-1' }]);
      await locker.query('COMMIT');
      await Promise.all(blocked);
    } finally {
      await locker.end();
    }
  });

  it('ignores a notification it cannot read (another version, another program)', async () => {
    const store = await open();
    const heard: StoreEvent[] = [];
    store.subscribe((event) => heard.push(event));
    await sql('SELECT pg_notify($1, $2)', [EVENT_CHANNEL, 'not json']);
    await sql('SELECT pg_notify($1, $2)', [
      EVENT_CHANNEL,
      JSON.stringify({ origin: 'elsewhere', event: { kind: 'from-the-future' } }),
    ]);
    await sql('SELECT pg_notify($1, $2)', [
      EVENT_CHANNEL,
      JSON.stringify({ origin: 'elsewhere', event: { kind: 'cancel', jobId: 'job-9' } }),
    ]);
    await eventually(() => heard.length > 0);
    expect(heard).toEqual([{ kind: 'cancel', jobId: 'job-9' }]);
  });

  it('reconnects its LISTEN connection after the server ends it, and hears events again', async () => {
    const listening = await open();
    const heard: StoreEvent[] = [];
    listening.subscribe((event) => heard.push(event));
    const ended = await sql<{ ended: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'nano-banana-listener'`,
    );
    expect(ended).toEqual([{ ended: true }]);

    // Back: it says so (events may have been missed while it was away) ...
    await eventually(() => heard.some((event) => event.kind === 'queue'));
    // ... and hears another process again.
    const sender = await open();
    await sender.publish({ kind: 'cancel', jobId: 'job-2' });
    await eventually(() => heard.some((event) => event.kind === 'cancel'));
    expect(heard).toEqual([{ kind: 'queue' }, { kind: 'cancel', jobId: 'job-2' }]);
    expect(await listening.ping()).toBe(true);
  });
});

describe('connections', () => {
  async function connectionsOf(applicationName: string) {
    return sql<{ ssl: boolean }>(
      `SELECT COALESCE(pg_stat_ssl.ssl, false) AS ssl FROM pg_stat_activity
       LEFT JOIN pg_stat_ssl ON pg_stat_ssl.pid = pg_stat_activity.pid
       WHERE datname = current_database() AND application_name = $1`,
      [applicationName],
    );
  }

  it('uses TLS when the URL asks for it, verifying the server against sslrootcert', async () => {
    const url = new URL(database.url);
    url.searchParams.set('sslmode', 'verify-full');
    url.searchParams.set('sslrootcert', inject('postgresCertificateFile'));
    const store = await open(url.toString());
    expect(await store.ping()).toBe(true);
    const connections = await connectionsOf('nano-banana-listener');
    expect(connections).toEqual([{ ssl: true }]);
    const pooled = await connectionsOf('nano-banana');
    expect(pooled.length).toBeGreaterThan(0);
    expect(pooled.every((connection) => connection.ssl)).toBe(true);
  });

  it('refuses a server whose certificate it cannot verify, and connects in clear without sslmode', async () => {
    const url = new URL(database.url);
    // pg 8 reads `require` as `verify-full`; our test server's certificate is self-signed.
    url.searchParams.set('sslmode', 'require');
    expect(await rejection(openPostgresStore({ url: url.toString() }))).toBeInstanceOf(Error);
    await open();
    expect(await connectionsOf('nano-banana-listener')).toEqual([{ ssl: false }]);
  });

  it('keeps working when the server ends its connections, idle or mid-transaction', async () => {
    const store = await open();
    await store.insert(makeJob({ id: 'first' }));
    // Idle in the pool.
    await sql(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'nano-banana'`,
    );
    await eventually(async () => (await connectionsOf('nano-banana')).length === 0);
    expect((await store.get('first'))?.id).toBe('first');

    // Mid-transaction: an admission waits for the admission lock another session holds.
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(7306117002)');
      // Its outcome is read at once, so that the rejection is never unhandled for a moment.
      const waiting = store.insert(makeJob({ id: 'second' })).then(
        () => undefined,
        (error: unknown) => error,
      );
      const waitingFor = async () =>
        sql<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database()
           AND application_name = 'nano-banana' AND wait_event_type = 'Lock'`,
        );
      await eventually(async () => (await waitingFor()).length > 0);
      await sql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1', [
        (await waitingFor())[0]?.pid,
      ]);
      expect(await waiting).toBeInstanceOf(Error);
      await holder.query('COMMIT');
    } finally {
      await holder.end();
    }
    expect((await store.insert(makeJob({ id: 'third' }))).inserted).toBe(true);
    expect(await store.ping()).toBe(true);
  });

  it('fails to open, naming no password, when the server does not answer', async () => {
    // A loopback port nothing listens on: the server's, once it is closed.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const address = probe.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    await new Promise((resolve) => probe.close(resolve));
    const url = `postgres://bot:secret-password-42@127.0.0.1:${port}/jobs`;
    const error = await rejection(openPostgresStore({ url }));
    expect(error).toBeInstanceOf(Error);
    expect(String((error as Error).message)).not.toContain('secret-password-42');
  });

  it('answers ping while open, and close ends every connection it made', async () => {
    const store = await open();
    await store.publish({ kind: 'queue' });
    expect(await store.ping()).toBe(true);
    await store.close();
    expect(await store.ping()).toBe(false);
    await eventually(
      async () =>
        (await connectionsOf('nano-banana')).length === 0 &&
        (await connectionsOf('nano-banana-listener')).length === 0,
    );
  });
});
