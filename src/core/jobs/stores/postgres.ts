import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { type Logger, silentLogger } from '../../logger.js';
import { isFinal, type Job, type JobPatch, type JobState, type QuotaScope } from '../job.js';
import type {
  Admission,
  AuditLine,
  ClaimRequest,
  InsertOutcome,
  JobStore,
  NewAuditLine,
  SettingsScope,
  StoreCounts,
  StoreEvent,
  TakeOverRequest,
} from '../store.js';
import { EVENT_CHANNEL, type EventEnvelope, EventListener } from './postgres-events.js';
import { migratePostgres, PAUSED_UNTIL_KEY } from './postgres-migrations.js';
import { PostgresRecords } from './postgres-records.js';
import {
  checkAdmission,
  FINAL_STATES_SQL,
  JOB_COLUMNS,
  type JobRow,
  jobToRow,
  LATE_SQL,
  OCCUPYING_ANY_TIME_SQL,
  occupyingSql,
  patchToColumns,
  queuePositionSql,
  queuePositionsOf,
  rowToJob,
} from './rows.js';

/**
 * The job store of a fleet: several bot processes over one PostgreSQL database, through a `pg`
 * pool. Every guarantee of the JobStore contract holds across processes:
 *
 * - Admissions (dedup, quotas, the unfinished cap, the insert) and claims (the fleet-wide slot
 *   count, the per-user count, round-robin turns) each run in a short transaction under a
 *   transaction-level advisory lock of their own: a claim must count the slots occupied in the
 *   whole fleet, which row locks alone (`FOR UPDATE SKIP LOCKED`) cannot make exact, and an
 *   admission must sum a quota no other admission is adding to. The locks are held for a few
 *   round trips, and released by the server if a process dies holding one.
 * - Everything else is one statement, whose row locks settle races: of two transitions guarded
 *   by the same `from` state, the second finds the row changed and matches nothing.
 * - The move to `creating` (just before a paid create) commits with `synchronous_commit = on`
 *   whatever the server's default, so it is on disk before the create is sent.
 * - Events travel by NOTIFY, heard on one dedicated LISTEN connection (postgres-events.ts).
 *
 * TLS comes from the URL, as node-postgres reads it: `sslmode=verify-full` (and, in pg 8,
 * `require`, `prefer` and `verify-ca` too) verifies the server's certificate against the system's
 * authorities, or against `sslrootcert=<file>`; `sslmode=no-verify` encrypts without verifying;
 * `uselibpqcompat=true&sslmode=require` gives libpq's meaning (encrypt, do not verify);
 * `sslmode=disable` turns it off.
 */

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:5432/database?sslmode=...`; never logged. */
  readonly url: string;
  /** Connections in the pool (10 by default); the LISTEN connection is one more. */
  readonly poolSize?: number;
  readonly logger?: Logger;
}

const DEFAULT_POOL_SIZE = 10;
/** How long a pooled query waits for a connection before failing (the database is unreachable). */
const CONNECT_TIMEOUT_MS = 10_000;
/** `ping` answers within this, so that `/readyz` stays quick when the database does not. */
const PING_TIMEOUT_MS = 2_000;
const APPLICATION_NAME = 'nano-banana';

/*
 * Advisory lock keys (any fixed numbers; the migration key is in postgres-migrations.ts). Two
 * keys rather than one: admissions and claims do not read what the other writes in a way that
 * matters (a claim leases an existing job; an admission counts reservations and unfinished jobs,
 * which a claim does not change), so they need not wait for each other.
 */
export const ADMISSION_LOCK_KEY = 7_306_117_002;
const CLAIM_LOCK_KEY = 7_306_117_003;

export async function openPostgresStore(options: PostgresStoreOptions): Promise<JobStore> {
  const logger = options.logger ?? silentLogger;
  const connection: pg.ClientConfig = {
    connectionString: options.url,
    application_name: APPLICATION_NAME,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  };
  const pool = new pg.Pool({
    ...connection,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    keepAlive: true,
  });
  // An idle pooled connection that fails (the server restarted, say) is reported here and
  // dropped by the pool; without a listener, the error would end the process.
  pool.on('error', (error) => {
    logger.warn({ err: error }, 'Job store: an idle database connection failed');
  });
  try {
    const outcome = await migratePostgres(pool);
    if (outcome.applied > 0) {
      logger.info(
        { fromVersion: outcome.fromVersion, toVersion: outcome.toVersion },
        'Job store: PostgreSQL schema migrated',
      );
    }
    const store = new PostgresJobStore(pool, logger, {
      ...connection,
      application_name: `${APPLICATION_NAME}-listener`,
    });
    await store.listen();
    return store;
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
}

const UNFINISHED = `state NOT IN ${FINAL_STATES_SQL}`;

/**
 * The columns a job is read with, named rather than `*`: a statement prepared on a connection
 * (pg's named statements) fails with "cached plan must not change result type" once its result
 * gains a column, so with `*` every process still running the previous release would break when
 * the next one adds a column (an additive step, see postgres-migrations.ts).
 */
const JOB_FIELDS = [...JOB_COLUMNS, 'lease_owner', 'lease_until', 'queue_seq', 'insert_order']
  .map((column) => `jobs.${column}`)
  .join(', ');
const INSERT_JOB_SQL = `INSERT INTO jobs (${JOB_COLUMNS.join(', ')}, queue_seq)
  VALUES (${JOB_COLUMNS.map((_, index) => `$${index + 1}`).join(', ')}, nextval('queue_seq'))
  RETURNING ${JOB_FIELDS}`;
const QUEUE_POSITION_SQL = queuePositionSql({
  greatest: 'GREATEST',
  least: 'LEAST',
  parameter: '$1',
});
/** Claimable: queued, no live lease, one of the claiming process's platforms. `$1` is now. */
const WAITING = `state = 'queued' AND (lease_owner IS NULL OR lease_until < $1)
  AND platform = ANY($2::text[])`;

/*
 * The claim, after the claim lock is taken (a separate statement, so that this one's snapshot
 * sees every claim committed before it): the fleet-wide slot count, the eligible user with the
 * smallest turn key (the later of when they were last served and when their oldest waiting job
 * was (re)queued; keys come from one sequence, so they never tie), their oldest waiting job
 * leased, and their key moved to the back. $1 now, $2 platforms, $3 max per user, $4 max
 * concurrent, $5 owner, $6 lease until.
 *
 * The claim lock does not stop a transition (a cancel) changing the chosen job after this
 * statement's snapshot: `FOR UPDATE` waits for it and re-checks the row, moving on to the user's
 * next waiting job if it no longer waits, and the UPDATE checks again, so a claim never returns
 * a job that stopped waiting.
 */
const CLAIM_SQL = `
  WITH busy AS MATERIALIZED (
    SELECT requester_id, COUNT(*) AS occupied FROM jobs WHERE ${occupyingSql('$1')}
    GROUP BY requester_id
  ),
  waiting AS MATERIALIZED (
    SELECT requester_id, MIN(queue_seq) AS oldest FROM jobs WHERE ${WAITING}
    GROUP BY requester_id
  ),
  next_user AS (
    SELECT waiting.requester_id FROM waiting
      LEFT JOIN queue_users ON queue_users.requester_id = waiting.requester_id
      LEFT JOIN busy ON busy.requester_id = waiting.requester_id
    WHERE COALESCE(busy.occupied, 0) < $3
      AND (SELECT COALESCE(SUM(occupied), 0) FROM busy) < $4
    ORDER BY GREATEST(COALESCE(queue_users.served_seq, 0), waiting.oldest),
      waiting.requester_id COLLATE "C"
    LIMIT 1
  ),
  next_job AS (
    SELECT id FROM jobs
    WHERE ${WAITING} AND requester_id = (SELECT requester_id FROM next_user)
    ORDER BY queue_seq LIMIT 1
    FOR UPDATE
  ),
  leased AS (
    UPDATE jobs SET lease_owner = $5, lease_until = $6
    WHERE id = (SELECT id FROM next_job) AND ${WAITING}
    RETURNING ${JOB_FIELDS}
  ),
  served AS (
    INSERT INTO queue_users (requester_id, served_seq)
    SELECT requester_id, nextval('queue_seq') FROM leased
    ON CONFLICT (requester_id) DO UPDATE SET served_seq = EXCLUDED.served_seq
  )
  SELECT * FROM leased`;

interface CountRow {
  readonly count: number;
}

interface WaitingRow {
  readonly id: string;
  readonly requester_id: string;
  readonly queue_seq: string;
  readonly served_seq: string;
}

/** A job row as read here: `insert_order` orders rows made in the same millisecond. */
type StoredRow = JobRow & { readonly insert_order?: string | number };

type Listener = (event: StoreEvent) => void;

class PostgresJobStore implements JobStore {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #records: PostgresRecords;
  readonly #logger: Logger;
  readonly #listeners = new Set<Listener>();
  readonly #events: EventListener;
  /** Tells this store's own notifications apart, when they come back through LISTEN. */
  readonly #origin = randomUUID();
  /**
   * Per advisory lock key, the end of this process's line of transactions for it. They would
   * wait for one another on the server anyway; waiting here instead, before taking a connection,
   * keeps a burst of admissions (200 requests at once) from holding every pooled connection idle
   * on the lock, while claims, lease renewals and reads wait behind them for a connection.
   */
  readonly #lockLines = new Map<number, Promise<unknown>>();
  #closed = false;

  constructor(pool: pg.Pool, logger: Logger, listenerConnection: pg.ClientConfig) {
    this.#pool = pool;
    this.#records = new PostgresRecords(pool);
    this.#logger = logger;
    this.#events = new EventListener({
      connection: listenerConnection,
      logger,
      onEnvelope: (envelope) => this.#heard(envelope),
      onReconnect: () => this.#deliver({ kind: 'queue' }),
    });
  }

  /** Opens the LISTEN connection (called once, by `openPostgresStore`). */
  async listen(): Promise<void> {
    await this.#events.start();
  }

  // --- Jobs ---------------------------------------------------------------------------------

  async insert(job: Job, admission?: Admission): Promise<InsertOutcome> {
    // A batch of one: the same dedup lookup, admission and insert.
    const [outcome] = await this.insertMany([job], admission);
    if (outcome === undefined) throw new Error(`Job ${job.id} was not inserted`);
    return outcome;
  }

  async insertMany(jobs: readonly Job[], admission?: Admission): Promise<InsertOutcome[]> {
    const first = jobs[0];
    if (first === undefined) return [];
    return this.#transaction(ADMISSION_LOCK_KEY, async (client) => {
      const keys = jobs.flatMap((job) => (job.dedupKey === undefined ? [] : [job.dedupKey]));
      if (keys.length > 0) {
        const existing = await client.query<StoredRow>(
          `SELECT ${JOB_FIELDS} FROM jobs WHERE dedup_key = ANY($1::text[])
           ORDER BY queue_seq`,
          [keys],
        );
        if (existing.rows.length > 0) {
          return existing.rows.map((row) => ({ job: rowToJob(row), inserted: false }));
        }
      }
      if (admission !== undefined) {
        const { used, unfinished } = await admissionFigures(client, admission, first.requesterId);
        checkAdmission(admission, used, unfinished, jobs.length);
      }
      const outcomes: InsertOutcome[] = [];
      for (const job of jobs) {
        const row = jobToRow(job);
        const inserted = await client.query<StoredRow>({
          name: 'nb-insert',
          text: INSERT_JOB_SQL,
          values: JOB_COLUMNS.map((column) => row[column]),
        });
        const stored = inserted.rows[0];
        if (stored === undefined) throw new Error(`Job ${job.id} was not inserted`);
        outcomes.push({ job: rowToJob(stored), inserted: true });
      }
      return outcomes;
    });
  }

  async get(id: string): Promise<Job | undefined> {
    const result = await this.#pool.query<StoredRow>({
      name: 'nb-get',
      text: `SELECT ${JOB_FIELDS} FROM jobs WHERE id = $1`,
      values: [id],
    });
    const row = result.rows[0];
    return row === undefined ? undefined : rowToJob(row);
  }

  async getByDedupKey(dedupKey: string): Promise<Job | undefined> {
    const result = await this.#pool.query<StoredRow>({
      name: 'nb-get-by-dedup-key',
      text: `SELECT ${JOB_FIELDS} FROM jobs WHERE dedup_key = $1`,
      values: [dedupKey],
    });
    const row = result.rows[0];
    return row === undefined ? undefined : rowToJob(row);
  }

  async update(id: string, patch: JobPatch, now: number): Promise<Job | undefined> {
    return this.#applyPatch(id, undefined, patch, now, undefined);
  }

  async transition(
    id: string,
    from: readonly JobState[],
    patch: JobPatch & { state: JobState },
    now: number,
    owner?: string,
  ): Promise<Job | undefined> {
    return this.#applyPatch(id, from, patch, now, owner);
  }

  async markTimeoutNotified(id: string, now: number): Promise<Job | undefined> {
    const result = await this.#pool.query<StoredRow>({
      name: 'nb-mark-timeout-notified',
      text: `UPDATE jobs SET timeout_notified = 1, updated_at = $1
             WHERE id = $2 AND timeout_notified = 0 AND ${UNFINISHED}
             RETURNING ${JOB_FIELDS}`,
      values: [now, id],
    });
    const row = result.rows[0];
    return row === undefined ? undefined : rowToJob(row);
  }

  async listByState(states: readonly JobState[]): Promise<Job[]> {
    if (states.length === 0) return [];
    const result = await this.#pool.query<StoredRow>({
      name: 'nb-list-by-state',
      text: `SELECT ${JOB_FIELDS} FROM jobs WHERE state = ANY($1::text[])
             ORDER BY created_at, insert_order`,
      values: [[...states]],
    });
    return result.rows.map(rowToJob);
  }

  async listUnfinishedCreatedBefore(createdBefore: number, limit: number): Promise<Job[]> {
    const rows = Math.max(0, Math.floor(limit));
    if (rows === 0) return [];
    const result = await this.#pool.query<StoredRow>({
      name: 'nb-list-unfinished-created-before',
      text: `SELECT ${JOB_FIELDS} FROM jobs WHERE ${UNFINISHED} AND created_at <= $1
             ORDER BY created_at, insert_order LIMIT $2`,
      values: [createdBefore, rows],
    });
    return result.rows.map(rowToJob);
  }

  async reservedImages(scope: QuotaScope): Promise<number> {
    return this.#reservedImages(this.#pool, scope);
  }

  async topUsers(
    day: string,
    serverId: string | undefined,
    limit: number,
  ): Promise<{ requesterId: string; images: number }[]> {
    const rows = Math.max(0, Math.floor(limit));
    if (rows === 0) return [];
    // Ties in byte order of the id, as SQLite's BINARY collation has them.
    const filter = serverId === undefined ? '' : 'AND server_id = $3';
    const result = await this.#pool.query<{ requester_id: string; images: string }>(
      `SELECT requester_id, SUM(reserved_images) AS images FROM jobs
       WHERE quota_day = $1 ${filter}
       GROUP BY requester_id HAVING SUM(reserved_images) > 0
       ORDER BY images DESC, requester_id COLLATE "C"
       LIMIT $2`,
      serverId === undefined ? [day, rows] : [day, rows, serverId],
    );
    return result.rows.map((row) => ({
      requesterId: row.requester_id,
      images: Number(row.images),
    }));
  }

  async unfinishedJobs(requesterId: string): Promise<number> {
    return this.#unfinishedJobs(this.#pool, requesterId);
  }

  async prune(before: number): Promise<number> {
    return this.#transaction(undefined, async (client) => {
      const pruned = await client.query(
        `DELETE FROM jobs WHERE NOT (${UNFINISHED}) AND updated_at < $1`,
        [before],
      );
      // A user with nothing waiting needs no turn key: when they queue again, their new job's
      // place is later than any key they had, so the key they get is the same.
      // Named leases expired that long ago are nobody's (per-event claims pile up otherwise).
      await client.query('DELETE FROM locks WHERE until < $1', [before]);
      await client.query(
        `DELETE FROM queue_users WHERE NOT EXISTS
           (SELECT 1 FROM jobs WHERE jobs.requester_id = queue_users.requester_id
              AND jobs.state = 'queued')`,
      );
      return pruned.rowCount ?? 0;
    });
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.#pool.query('DELETE FROM jobs WHERE id = $1', [id]);
    return (result.rowCount ?? 0) > 0;
  }

  // --- Scheduling -----------------------------------------------------------------------------

  async claimNext(claim: ClaimRequest): Promise<Job | undefined> {
    if (claim.platforms.length === 0) return undefined;
    return this.#transaction(CLAIM_LOCK_KEY, async (client) => {
      const result = await client.query<StoredRow>({
        name: 'nb-claim-next',
        text: CLAIM_SQL,
        values: [
          claim.now,
          [...claim.platforms],
          claim.maxPerUser,
          claim.maxConcurrent,
          claim.owner,
          claim.leaseUntil,
        ],
      });
      const row = result.rows[0];
      return row === undefined ? undefined : rowToJob(row);
    });
  }

  async renewLeases(owner: string, leaseUntil: number, _now: number): Promise<number> {
    // An expired lease nobody took over is still the owner's: renewing it is safe, since a
    // takeover changes the owner first, and this statement then no longer matches the row.
    const result = await this.#pool.query({
      name: 'nb-renew-leases',
      text: `UPDATE jobs SET lease_until = $1 WHERE lease_owner = $2 AND ${UNFINISHED}`,
      values: [leaseUntil, owner],
    });
    return result.rowCount ?? 0;
  }

  async takeOverExpired(request: TakeOverRequest): Promise<Job[]> {
    const all = request.allOwners === true;
    const limit = Math.max(0, Math.floor(request.limit));
    return this.#transaction(undefined, async (client) => {
      // Queued jobs keep their place (`queue_seq`) and simply become claimable again.
      await client.query(
        `UPDATE jobs SET lease_owner = NULL, lease_until = NULL
         WHERE state = 'queued' AND lease_owner IS NOT NULL AND ($1 OR lease_until < $2)`,
        [all, request.now],
      );
      if (limit === 0 || request.platforms.length === 0) return [];
      // A job past `queued` with no lease at all is nobody's (its owner released it): taken over
      // like an expired one. SKIP LOCKED: two processes taking over at once split the jobs; a
      // row another one just took is re-checked after its commit and no longer matches.
      const result = await client.query<StoredRow>(
        `UPDATE jobs SET lease_owner = $1, lease_until = $2
         WHERE id IN (
           SELECT id FROM jobs
           WHERE ${UNFINISHED} AND state <> 'queued' AND platform = ANY($3::text[])
             AND ($4 OR lease_owner IS NULL OR lease_until < $5)
           ORDER BY created_at, insert_order
           LIMIT $6
           FOR UPDATE SKIP LOCKED)
         RETURNING ${JOB_FIELDS}`,
        [request.owner, request.leaseUntil, [...request.platforms], all, request.now, limit],
      );
      return sortByCreation(result.rows).map(rowToJob);
    });
  }

  async releaseLeases(owner: string, _now: number): Promise<number> {
    const result = await this.#pool.query(
      `UPDATE jobs SET lease_owner = NULL, lease_until = NULL
       WHERE lease_owner = $1 AND ${UNFINISHED}`,
      [owner],
    );
    return result.rowCount ?? 0;
  }

  async queuePosition(jobId: string): Promise<number | undefined> {
    const result = await this.#pool.query<{ position: string }>({
      name: 'nb-queue-position',
      text: QUEUE_POSITION_SQL,
      values: [jobId],
    });
    const row = result.rows[0];
    return row === undefined ? undefined : Number(row.position);
  }

  async queuePositions(): Promise<Map<string, number>> {
    const result = await this.#pool.query<WaitingRow>({
      name: 'nb-waiting',
      text: `SELECT jobs.id, jobs.requester_id, jobs.queue_seq,
               COALESCE(queue_users.served_seq, 0) AS served_seq
             FROM jobs LEFT JOIN queue_users ON queue_users.requester_id = jobs.requester_id
             WHERE jobs.state = 'queued' AND jobs.lease_owner IS NULL`,
    });
    return queuePositionsOf(
      result.rows.map((row) => ({
        id: row.id,
        requesterId: row.requester_id,
        queueSeq: Number(row.queue_seq),
        servedSeq: Number(row.served_seq),
      })),
    );
  }

  async counts(): Promise<StoreCounts> {
    const result = await this.#pool.query<StoreCounts>({
      name: 'nb-counts',
      text: `SELECT
               COUNT(*) FILTER (WHERE state = 'queued' AND lease_owner IS NULL)::int AS queued,
               COUNT(*) FILTER (WHERE ${OCCUPYING_ANY_TIME_SQL})::int AS running,
               COUNT(*) FILTER (WHERE ${LATE_SQL})::int AS late
             FROM jobs WHERE ${UNFINISHED}`,
    });
    const row = result.rows[0];
    return { queued: row?.queued ?? 0, running: row?.running ?? 0, late: row?.late ?? 0 };
  }

  // --- Shared state ---------------------------------------------------------------------------

  async acquireLock(name: string, owner: string, now: number, until: number): Promise<boolean> {
    // The conflict's row lock serialises two processes racing for a free lease: the second
    // re-checks the condition against the first one's row, and takes nothing.
    const result = await this.#pool.query({
      name: 'nb-acquire-lock',
      text: `INSERT INTO locks (name, owner, until) VALUES ($1, $2, $4)
             ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until
             WHERE locks.owner = EXCLUDED.owner OR locks.until < $3`,
      values: [name, owner, now, until],
    });
    return (result.rowCount ?? 0) > 0;
  }

  async releaseLock(name: string, owner: string): Promise<void> {
    await this.#pool.query('DELETE FROM locks WHERE name = $1 AND owner = $2', [name, owner]);
  }

  async lockHolder(name: string, now: number): Promise<string | undefined> {
    const result = await this.#pool.query<{ owner: string }>(
      'SELECT owner FROM locks WHERE name = $1 AND until >= $2',
      [name, now],
    );
    return result.rows[0]?.owner;
  }

  async countLocks(prefix: string, now: number): Promise<number> {
    // A prefix compared as text, not LIKE: a name's `_` or `%` is no wildcard.
    const result = await this.#pool.query<{ locks: string }>(
      'SELECT COUNT(*) AS locks FROM locks WHERE left(name, length($1)) = $1 AND until >= $2',
      [prefix, now],
    );
    return Number(result.rows[0]?.locks ?? 0);
  }

  async pauseCreatesUntil(until: number): Promise<number> {
    const result = await this.#pool.query<{ value: string }>(
      `INSERT INTO shared_state (key, value) VALUES ($1, $2)
       ON CONFLICT (key) DO UPDATE SET value = GREATEST(shared_state.value, EXCLUDED.value)
       RETURNING value`,
      [PAUSED_UNTIL_KEY, until],
    );
    const value = result.rows[0]?.value;
    return value === undefined ? until : Number(value);
  }

  async pausedUntil(): Promise<number> {
    const result = await this.#pool.query<{ value: string }>(
      'SELECT value FROM shared_state WHERE key = $1',
      [PAUSED_UNTIL_KEY],
    );
    const value = result.rows[0]?.value;
    return value === undefined ? 0 : Number(value);
  }

  async publish(event: StoreEvent): Promise<void> {
    // This process hears it at once, whether or not its LISTEN connection is up (the echo that
    // comes back through NOTIFY is recognised by its origin and skipped), but in a microtask:
    // never inside the publisher's own call, as for another process. The listeners are those
    // subscribed now and still then.
    const listeners = [...this.#listeners];
    queueMicrotask(() => this.#deliver(event, listeners));
    const envelope: EventEnvelope = { origin: this.#origin, event };
    const payload = JSON.stringify(envelope);
    // A repeat, should the listening connection fail as it sent, is harmless: events only wake.
    if (await this.#events.notify(payload)) return;
    await this.#pool.query('SELECT pg_notify($1, $2)', [EVENT_CHANNEL, payload]);
  }

  subscribe(listener: Listener): () => void {
    // Wrapped, so that one function subscribed twice is called twice and unsubscribed once each.
    const wrapped: Listener = (event) => listener(event);
    this.#listeners.add(wrapped);
    return () => {
      this.#listeners.delete(wrapped);
    };
  }

  async getSettings(scope: SettingsScope, key: string): Promise<unknown> {
    return this.#records.getSettings(scope, key);
  }

  async putSettings(scope: SettingsScope, key: string, value: unknown, now: number): Promise<void> {
    await this.#records.putSettings(scope, key, value, now);
  }

  async recentJobs(requesterId: string, platform: string, limit: number): Promise<Job[]> {
    const rows = Math.max(0, Math.floor(limit));
    if (rows === 0) return [];
    const result = await this.#pool.query<StoredRow>({
      name: 'nb-recent-jobs',
      text: `SELECT ${JOB_FIELDS} FROM jobs WHERE requester_id = $1 AND platform = $2
             ORDER BY created_at DESC, insert_order DESC LIMIT $3`,
      values: [requesterId, platform, rows],
    });
    return result.rows.map(rowToJob);
  }

  reservedImagesBetween(requesterId: string, fromDay: string, toDay: string): Promise<number> {
    return this.#records.reservedImagesBetween(requesterId, fromDay, toDay);
  }

  appendAuditLines(lines: readonly NewAuditLine[], now: number): Promise<void> {
    return this.#records.appendAuditLines(lines, now);
  }

  pendingAuditLines(limit: number): Promise<AuditLine[]> {
    return this.#records.pendingAuditLines(limit);
  }

  deleteAuditLines(ids: readonly number[]): Promise<void> {
    return this.#records.deleteAuditLines(ids);
  }

  async ping(): Promise<boolean> {
    if (this.#closed) return false;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
    });
    const answered = this.#pool.query('SELECT 1').then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([answered, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    await this.#events.close();
    await this.#pool.end();
  }

  // --- Inside ---------------------------------------------------------------------------------

  #heard(envelope: EventEnvelope): void {
    if (envelope.origin === this.#origin) return;
    this.#deliver(envelope.event);
  }

  #deliver(event: StoreEvent, listeners: readonly Listener[] = [...this.#listeners]): void {
    // A copy: a listener may unsubscribe (itself or another) while being called, and is then
    // not called.
    for (const listener of listeners) {
      if (!this.#listeners.has(listener)) continue;
      try {
        listener(event);
      } catch (error) {
        // One listener's failure is its own: the others still hear of the change.
        this.#logger.warn({ err: error, event: event.kind }, 'Job store: an event listener threw');
      }
    }
  }

  /**
   * Runs `work` in one transaction on one pooled connection, first taking the advisory lock
   * `lockKey` if given (released at COMMIT or ROLLBACK, or by the server if the process dies).
   * `BEGIN` and the lock go in one round trip.
   */
  async #transaction<T>(
    lockKey: number | undefined,
    work: (client: pg.PoolClient) => Promise<T>,
    begin = 'BEGIN',
  ): Promise<T> {
    if (lockKey === undefined) return this.#transactionNow(lockKey, work, begin);
    // One at a time per key in this process (see `#lockLines`), in the order asked; but never
    // longer in line than a connection may take, so that with the database unreachable a long
    // line fails within about that time, not one connection timeout after another.
    const before = this.#lockLines.get(lockKey) ?? Promise.resolve();
    let lineTimer: NodeJS.Timeout | undefined;
    const lineOver = new Promise<void>((resolve) => {
      lineTimer = setTimeout(resolve, CONNECT_TIMEOUT_MS);
      lineTimer.unref();
    });
    const turn = Promise.race([before, lineOver]).then(() => {
      clearTimeout(lineTimer);
      return this.#transactionNow(lockKey, work, begin);
    });
    const settled = turn.catch(() => undefined);
    this.#lockLines.set(lockKey, settled);
    try {
      return await turn;
    } finally {
      if (this.#lockLines.get(lockKey) === settled) this.#lockLines.delete(lockKey);
    }
  }

  async #transactionNow<T>(
    lockKey: number | undefined,
    work: (client: pg.PoolClient) => Promise<T>,
    begin: string,
  ): Promise<T> {
    const client = await this.#pool.connect();
    let broken = false;
    // A connection lost between two statements reports it here (the pool listens only to idle
    // ones, and an unheard error would end the process); the next statement then fails.
    const onError = (error: Error) => {
      broken = true;
      this.#logger.warn({ err: error }, 'Job store: a database connection failed mid-transaction');
    };
    client.on('error', onError);
    try {
      await client.query(
        lockKey === undefined ? begin : `${begin}; SELECT pg_advisory_xact_lock(${lockKey})`,
      );
      const result = await work(client);
      await client.query('COMMIT');
      return result;
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

  async #reservedImages(queryable: pg.Pool | pg.PoolClient, scope: QuotaScope): Promise<number> {
    const values: string[] = [];
    const result = await queryable.query<{ images: string }>(
      `SELECT ${reservedImagesSql(scope, values)} AS images`,
      values,
    );
    return Number(result.rows[0]?.images ?? 0);
  }

  async #unfinishedJobs(queryable: pg.Pool | pg.PoolClient, requesterId: string): Promise<number> {
    const result = await queryable.query<CountRow>({
      name: 'nb-unfinished-jobs',
      text: `SELECT COUNT(*)::int AS count FROM jobs WHERE requester_id = $1 AND ${UNFINISHED}`,
      values: [requesterId],
    });
    return result.rows[0]?.count ?? 0;
  }

  /**
   * One conditional UPDATE returning the row: with `from` (and `owner`), the check and the write
   * are one statement, and the row lock makes the second of two racing transitions re-check the
   * first one's result and match nothing.
   */
  async #applyPatch(
    id: string,
    from: readonly JobState[] | undefined,
    patch: JobPatch,
    now: number,
    owner: string | undefined,
  ): Promise<Job | undefined> {
    const { columns, values } = patchToColumns(patch);
    // Back in line: a new place at the end, and no claim on it. Finished: nobody's any more.
    const requeued = patch.state === 'queued';
    const leaseCleared = requeued || (patch.state !== undefined && isFinal(patch.state));
    const parameters: unknown[] = [...values];
    const assignments = columns.map((column, index) => `${column} = $${index + 1}`);
    if (requeued) assignments.push(`queue_seq = nextval('queue_seq')`);
    if (leaseCleared) assignments.push('lease_owner = NULL', 'lease_until = NULL');
    parameters.push(now);
    assignments.push(`updated_at = $${parameters.length}`);
    parameters.push(id);
    let where = `id = $${parameters.length}`;
    if (from !== undefined) {
      parameters.push([...from]);
      where += ` AND state = ANY($${parameters.length}::text[])`;
    }
    if (owner !== undefined) {
      parameters.push(owner);
      where += ` AND lease_owner = $${parameters.length}`;
    }
    const text = `UPDATE jobs SET ${assignments.join(', ')} WHERE ${where}
      RETURNING ${JOB_FIELDS}`;
    const run = async (queryable: pg.Pool | pg.PoolClient) => {
      const result = await queryable.query<StoredRow>(text, parameters);
      const row = result.rows[0];
      return row === undefined ? undefined : rowToJob(row);
    };
    if (patch.state !== 'creating') return run(this.#pool);
    // The commit that precedes a paid create waits for the disk, whatever the server's default
    // (an operator may run with synchronous_commit off): undone by a crash, the job would come
    // back queued and be created twice.
    return this.#transaction(undefined, run, 'BEGIN; SET LOCAL synchronous_commit = on');
  }
}

/**
 * A subquery summing the images reserved by a scope, its values appended to `values`. One shape
 * per scope rather than `$2 IS NULL OR ...`, so that each can use its index.
 */
function reservedImagesSql(scope: QuotaScope, values: string[]): string {
  const parameter = (value: string) => {
    values.push(value);
    return `$${values.length}`;
  };
  const conditions = [`quota_day = ${parameter(scope.day)}`];
  if (scope.directMessages === true) {
    conditions.push('server_id IS NULL');
  } else {
    if (scope.requesterId !== undefined) {
      conditions.push(`requester_id = ${parameter(scope.requesterId)}`);
    }
    if (scope.serverId !== undefined) conditions.push(`server_id = ${parameter(scope.serverId)}`);
  }
  return `(SELECT COALESCE(SUM(reserved_images), 0) FROM jobs WHERE ${conditions.join(' AND ')})`;
}

/**
 * What an admission is checked against, read in one statement (inside the admission's
 * transaction, so one round trip less per quota while the admission lock is held): what each
 * limited quota's scope reserved, and the user's unfinished jobs when they are capped.
 */
async function admissionFigures(
  client: pg.PoolClient,
  admission: Admission,
  requesterId: string,
): Promise<{ used: number[]; unfinished: number }> {
  const values: string[] = [];
  const columns = admission.quotas.map((quota, index) =>
    quota.limit > 0
      ? `${reservedImagesSql(quota.of, values)} AS quota_${index}`
      : `0 AS quota_${index}`,
  );
  if (admission.maxUnfinished !== undefined) {
    values.push(requesterId);
    columns.push(
      `(SELECT COUNT(*) FROM jobs WHERE requester_id = $${values.length} AND ${UNFINISHED})
         AS unfinished`,
    );
  }
  if (columns.length === 0) return { used: [], unfinished: 0 };
  const result = await client.query<Record<string, string | number>>(
    `SELECT ${columns.join(', ')}`,
    values,
  );
  const row = result.rows[0] ?? {};
  return {
    used: admission.quotas.map((_, index) => Number(row[`quota_${index}`] ?? 0)),
    unfinished: Number(row.unfinished ?? 0),
  };
}

/** Oldest first, and in insertion order within a millisecond (RETURNING keeps no order). */
function sortByCreation(rows: readonly StoredRow[]): StoredRow[] {
  return [...rows].sort(
    (first, second) =>
      Number(first.created_at) - Number(second.created_at) ||
      Number(first.insert_order ?? 0) - Number(second.insert_order ?? 0),
  );
}
