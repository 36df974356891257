import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database, Statement, Transaction } from 'better-sqlite3';
import BetterSqlite3 from 'better-sqlite3';
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
import { lockStore } from '../store-lock.js';
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
  type SqlValue,
} from './rows.js';
import { migrateSqlite, PAUSED_UNTIL_KEY, QUEUE_COUNTER_KEY } from './sqlite-migrations.js';
import { SqliteRecords } from './sqlite-records.js';

/**
 * The embedded job store: one SQLite file, written through better-sqlite3. Its calls are
 * synchronous and take microseconds; the interface is asynchronous only so that the engine codes
 * against one contract with the PostgreSQL store. Every read-then-write runs in one `BEGIN
 * IMMEDIATE` transaction, which takes the file's write lock first: another connection to the same
 * file (a tool, a test) cannot slip a write between the check and the write.
 *
 * The bot opens it `exclusive`: one process runs a store (see store-lock.ts), so published events
 * only need to reach this process.
 */

export interface SqliteStoreOptions {
  /** A file path (its folder is created if missing), or `:memory:` for a throwaway store. */
  readonly path: string;
  /**
   * Takes the store's process lock first, and throws StoreInUseError when another process holds
   * it: for the process that runs the jobs. Ignored for `:memory:`.
   */
  readonly exclusive?: boolean;
}

/** How long a write waits for another connection's lock before failing with `SQLITE_BUSY`. */
const BUSY_TIMEOUT_MS = 5_000;

export async function openSqliteStore(options: SqliteStoreOptions): Promise<JobStore> {
  const inMemory = options.path === ':memory:' || options.path === '';
  if (!inMemory) mkdirSync(dirname(options.path), { recursive: true });
  const lock = options.exclusive && !inMemory ? lockStore(options.path) : undefined;
  let database: Database | undefined;
  try {
    database = new BetterSqlite3(options.path);
    // WAL lets readers work while a write is in progress. NORMAL does not sync the WAL at each
    // commit: a power cut (not a crash of the process) may undo the last few commits, and the
    // store is still consistent. The one commit that must survive it is the move to `creating`,
    // written just before a paid create is sent (undone, the job would come back queued and be
    // created twice): that one is synced before it returns (see `#applyPatch`). Syncing every
    // commit instead costs a job about six fsyncs on the event loop, which a burst of requests
    // turns into late acknowledgements.
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    database.pragma('foreign_keys = ON');
    migrateSqlite(database, options.path);
    return new SqliteJobStore(database, () => lock?.release());
  } catch (error) {
    database?.close();
    lock?.release();
    throw error;
  }
}

/** A JSON array bound as one parameter: one statement serves any list. */
const IN_LIST = '(SELECT value FROM json_each(?))';
const UNFINISHED = `state NOT IN ${FINAL_STATES_SQL}`;
const WAITING = `state = 'queued' AND (lease_owner IS NULL OR lease_until < @now)
  AND platform IN (SELECT value FROM json_each(@platforms))`;

interface CountRow {
  readonly count: number;
}

interface TopUserRow {
  readonly requesterId: string;
  readonly images: number;
}

interface WaitingRow {
  readonly id: string;
  readonly requester_id: string;
  readonly queue_seq: number;
  readonly served_seq: number;
}

type Listener = (event: StoreEvent) => void;

class SqliteJobStore implements JobStore {
  readonly kind = 'sqlite' as const;
  readonly #database: Database;
  /** Releases the process lock, if this store holds it. */
  readonly #release: () => void;
  readonly #listeners = new Set<Listener>();
  #closed = false;

  readonly #insert: Statement<[Record<string, SqlValue>], JobRow>;
  readonly #selectById: Statement<[string], JobRow>;
  readonly #selectByDedupKey: Statement<[string], JobRow>;
  readonly #selectByStates: Statement<[string], JobRow>;
  readonly #selectUnfinishedBefore: Statement<[number, number], JobRow>;
  readonly #sumAll: Statement<[string], { images: number }>;
  readonly #sumByRequester: Statement<[string, string], { images: number }>;
  readonly #sumByServer: Statement<[string, string], { images: number }>;
  readonly #sumDirectMessages: Statement<[string], { images: number }>;
  readonly #sumByRequesterAndServer: Statement<[string, string, string], { images: number }>;
  readonly #topUsersAll: Statement<[string, number], TopUserRow>;
  readonly #topUsersByServer: Statement<[string, string, number], TopUserRow>;
  readonly #countUnfinished: Statement<[string], CountRow>;
  readonly #prune: Statement<[number]>;
  readonly #pruneTurns: Statement<[]>;
  readonly #pruneLocks: Statement<[number]>;
  readonly #delete: Statement<[string]>;
  readonly #markTimeoutNotified: Statement<[number, string], JobRow>;
  readonly #nextSeq: Statement<[string], { value: number }>;
  readonly #countOccupying: Statement<[{ now: number }], CountRow>;
  readonly #nextUser: Statement<
    [{ now: number; platforms: string; maxPerUser: number }],
    { requester_id: string }
  >;
  readonly #oldestWaiting: Statement<
    [{ now: number; platforms: string; requesterId: string }],
    { id: string }
  >;
  readonly #lease: Statement<[string, number, string], JobRow>;
  readonly #served: Statement<[string, number]>;
  readonly #clearQueuedLeases: Statement<[{ now: number; all: number }]>;
  readonly #expiredInFlight: Statement<
    [{ now: number; all: number; platforms: string; limit: number }],
    { id: string }
  >;
  readonly #renewLeases: Statement<[number, string]>;
  readonly #releaseLeases: Statement<[string]>;
  readonly #waiting: Statement<[], WaitingRow>;
  readonly #queuePosition: Statement<[string], { position: number }>;
  readonly #counts: Statement<[], StoreCounts>;
  readonly #acquireLock: Statement<[{ name: string; owner: string; now: number; until: number }]>;
  readonly #releaseLock: Statement<[string, string]>;
  readonly #lockHolder: Statement<[string, number], { owner: string }>;
  readonly #countLocks: Statement<[string, string, number], { locks: number }>;
  readonly #pause: Statement<[string, number], { value: number }>;
  readonly #sharedValue: Statement<[string], { value: number }>;
  /** Update statements by the set of patched columns: a handful of shapes occur in practice. */
  readonly #updates = new Map<string, Statement<SqlValue[], JobRow>>();

  readonly #insertManyTransaction: Transaction<
    (jobs: readonly Job[], admission: Admission | undefined) => InsertOutcome[]
  >;
  readonly #records: SqliteRecords;
  readonly #claimTransaction: Transaction<(claim: ClaimRequest) => Job | undefined>;
  readonly #takeOverTransaction: Transaction<(request: TakeOverRequest) => Job[]>;
  readonly #pruneTransaction: Transaction<(before: number) => number>;

  constructor(database: Database, release: () => void) {
    this.#database = database;
    this.#release = release;
    const insertColumns = [...JOB_COLUMNS, 'queue_seq'];
    this.#insert = database.prepare(
      `INSERT INTO jobs (${insertColumns.join(', ')})
       VALUES (${insertColumns.map((column) => `@${column}`).join(', ')})
       ON CONFLICT (dedup_key) DO NOTHING
       RETURNING *`,
    );
    this.#selectById = database.prepare('SELECT * FROM jobs WHERE id = ?');
    this.#selectByDedupKey = database.prepare('SELECT * FROM jobs WHERE dedup_key = ?');
    this.#selectByStates = database.prepare(
      `SELECT * FROM jobs WHERE state IN ${IN_LIST} ORDER BY created_at, rowid`,
    );
    this.#selectUnfinishedBefore = database.prepare(
      `SELECT * FROM jobs WHERE ${UNFINISHED} AND created_at <= ?
       ORDER BY created_at, rowid LIMIT ?`,
    );
    // One statement per scope rather than `? IS NULL OR ...`, so each can use its index.
    const sum = 'SELECT COALESCE(SUM(reserved_images), 0) AS images FROM jobs WHERE quota_day = ?';
    this.#sumAll = database.prepare(sum);
    this.#sumByRequester = database.prepare(`${sum} AND requester_id = ?`);
    this.#sumByServer = database.prepare(`${sum} AND server_id = ?`);
    this.#sumDirectMessages = database.prepare(`${sum} AND server_id IS NULL`);
    this.#sumByRequesterAndServer = database.prepare(
      `${sum} AND requester_id = ? AND server_id = ?`,
    );
    const topUsers = (filter: string) =>
      `SELECT requester_id AS requesterId, SUM(reserved_images) AS images FROM jobs
       WHERE quota_day = ? ${filter}
       GROUP BY requester_id HAVING images > 0
       ORDER BY images DESC, requester_id
       LIMIT ?`;
    this.#topUsersAll = database.prepare(topUsers(''));
    this.#topUsersByServer = database.prepare(topUsers('AND server_id = ?'));
    this.#countUnfinished = database.prepare(
      `SELECT COUNT(*) AS count FROM jobs WHERE requester_id = ? AND ${UNFINISHED}`,
    );
    this.#prune = database.prepare(`DELETE FROM jobs WHERE NOT ${UNFINISHED} AND updated_at < ?`);
    // A user with nothing waiting needs no turn key: when they queue again, their new job's
    // sequence number is later than any key they had, so the key they get is the same.
    // Named leases expired that long ago are nobody's (per-event claims pile up otherwise).
    this.#pruneLocks = database.prepare('DELETE FROM locks WHERE until < ?');
    this.#pruneTurns = database.prepare(
      `DELETE FROM queue_users WHERE requester_id NOT IN
         (SELECT requester_id FROM jobs WHERE state = 'queued')`,
    );
    this.#delete = database.prepare('DELETE FROM jobs WHERE id = ?');
    this.#markTimeoutNotified = database.prepare(
      `UPDATE jobs SET timeout_notified = 1, updated_at = ?
       WHERE id = ? AND timeout_notified = 0 AND ${UNFINISHED}
       RETURNING *`,
    );
    this.#nextSeq = database.prepare(
      'UPDATE shared_state SET value = value + 1 WHERE key = ? RETURNING value',
    );
    this.#countOccupying = database.prepare(
      `SELECT COUNT(*) AS count FROM jobs WHERE ${occupyingSql('@now')}`,
    );
    // The eligible user with the smallest turn key: the later of when they were last served and
    // when their oldest waiting job was (re)queued. Keys come from one counter, so never tie.
    this.#nextUser = database.prepare(
      `WITH waiting AS (
         SELECT requester_id, MIN(queue_seq) AS oldest FROM jobs WHERE ${WAITING}
         GROUP BY requester_id
       ),
       busy AS (
         SELECT requester_id, COUNT(*) AS occupied FROM jobs
         WHERE ${occupyingSql('@now')} AND requester_id IN (SELECT requester_id FROM waiting)
         GROUP BY requester_id
       )
       SELECT waiting.requester_id FROM waiting
         LEFT JOIN queue_users ON queue_users.requester_id = waiting.requester_id
         LEFT JOIN busy ON busy.requester_id = waiting.requester_id
       WHERE COALESCE(busy.occupied, 0) < @maxPerUser
       ORDER BY MAX(COALESCE(queue_users.served_seq, 0), waiting.oldest), waiting.requester_id
       LIMIT 1`,
    );
    this.#oldestWaiting = database.prepare(
      `SELECT id FROM jobs WHERE ${WAITING} AND requester_id = @requesterId
       ORDER BY queue_seq LIMIT 1`,
    );
    this.#lease = database.prepare(
      'UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE id = ? RETURNING *',
    );
    this.#served = database.prepare(
      `INSERT INTO queue_users (requester_id, served_seq) VALUES (?, ?)
       ON CONFLICT (requester_id) DO UPDATE SET served_seq = excluded.served_seq`,
    );
    this.#clearQueuedLeases = database.prepare(
      `UPDATE jobs SET lease_owner = NULL, lease_until = NULL
       WHERE state = 'queued' AND lease_owner IS NOT NULL AND (@all <> 0 OR lease_until < @now)`,
    );
    // A job past `queued` with no lease at all is nobody's (its owner released it, or it comes
    // from a version-1 file): it is taken over like an expired one.
    this.#expiredInFlight = database.prepare(
      `SELECT id FROM jobs
       WHERE ${UNFINISHED} AND state <> 'queued'
         AND platform IN (SELECT value FROM json_each(@platforms))
         AND (@all <> 0 OR lease_owner IS NULL OR lease_until < @now)
       ORDER BY created_at, rowid LIMIT @limit`,
    );
    this.#renewLeases = database.prepare(
      `UPDATE jobs SET lease_until = ? WHERE lease_owner = ? AND ${UNFINISHED}`,
    );
    this.#releaseLeases = database.prepare(
      `UPDATE jobs SET lease_owner = NULL, lease_until = NULL
       WHERE lease_owner = ? AND ${UNFINISHED}`,
    );
    this.#waiting = database.prepare(
      `SELECT jobs.id, jobs.requester_id, jobs.queue_seq,
         COALESCE(queue_users.served_seq, 0) AS served_seq
       FROM jobs LEFT JOIN queue_users ON queue_users.requester_id = jobs.requester_id
       WHERE jobs.state = 'queued' AND jobs.lease_owner IS NULL`,
    );
    this.#queuePosition = database.prepare(
      queuePositionSql({ greatest: 'MAX', least: 'MIN', parameter: '?' }),
    );
    this.#counts = database.prepare(
      `SELECT
         COALESCE(SUM(state = 'queued' AND lease_owner IS NULL), 0) AS queued,
         COALESCE(SUM(${OCCUPYING_ANY_TIME_SQL}), 0) AS running,
         COALESCE(SUM(${LATE_SQL}), 0) AS late
       FROM jobs WHERE ${UNFINISHED}`,
    );
    this.#acquireLock = database.prepare(
      `INSERT INTO locks (name, owner, until) VALUES (@name, @owner, @until)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
       WHERE locks.owner = excluded.owner OR locks.until < @now`,
    );
    this.#releaseLock = database.prepare('DELETE FROM locks WHERE name = ? AND owner = ?');
    this.#lockHolder = database.prepare('SELECT owner FROM locks WHERE name = ? AND until >= ?');
    // A prefix compared as text, not LIKE: a name's `_` or `%` is no wildcard.
    this.#countLocks = database.prepare(
      'SELECT COUNT(*) AS locks FROM locks WHERE substr(name, 1, length(?)) = ? AND until >= ?',
    );
    this.#pause = database.prepare(
      `INSERT INTO shared_state (key, value) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)
       RETURNING value`,
    );
    this.#sharedValue = database.prepare('SELECT value FROM shared_state WHERE key = ?');

    this.#insertManyTransaction = database.transaction(
      (jobs: readonly Job[], admission: Admission | undefined): InsertOutcome[] => {
        const existing = jobs.flatMap((job) => {
          const row =
            job.dedupKey === undefined ? undefined : this.#selectByDedupKey.get(job.dedupKey);
          return row === undefined ? [] : [{ job: rowToJob(row), inserted: false }];
        });
        if (existing.length > 0) return existing;
        const first = jobs[0];
        if (first === undefined) return [];
        if (admission !== undefined) {
          const used = admission.quotas.map((quota) =>
            quota.limit > 0 ? this.#reservedImages(quota.of) : 0,
          );
          const unfinished =
            admission.maxUnfinished === undefined
              ? 0
              : (this.#countUnfinished.get(first.requesterId)?.count ?? 0);
          checkAdmission(admission, used, unfinished, jobs.length);
        }
        return jobs.map((job) => {
          const row = this.#insert.get({ ...jobToRow(job), queue_seq: this.#takeSeq() });
          // Only a taken dedup key is ignored by the conflict clause (a taken id still throws);
          // keys were looked up above, inside this transaction, so this cannot happen.
          if (row === undefined) throw new Error(`Job ${job.id} was neither inserted nor found`);
          return { job: rowToJob(row), inserted: true };
        });
      },
    );
    this.#records = new SqliteRecords(database);

    this.#claimTransaction = database.transaction((claim: ClaimRequest) => {
      const { now, owner } = claim;
      if (claim.platforms.length === 0) return undefined;
      const occupied = this.#countOccupying.get({ now })?.count ?? 0;
      if (occupied >= claim.maxConcurrent) return undefined;
      const platforms = JSON.stringify(claim.platforms);
      const user = this.#nextUser.get({ now, platforms, maxPerUser: claim.maxPerUser });
      if (user === undefined) return undefined;
      const next = this.#oldestWaiting.get({ now, platforms, requesterId: user.requester_id });
      if (next === undefined) return undefined;
      const row = this.#lease.get(owner, claim.leaseUntil, next.id);
      if (row === undefined) return undefined;
      this.#served.run(user.requester_id, this.#takeSeq());
      return rowToJob(row);
    });

    this.#takeOverTransaction = database.transaction((request: TakeOverRequest) => {
      const all = request.allOwners === true ? 1 : 0;
      this.#clearQueuedLeases.run({ now: request.now, all });
      const limit = Math.max(0, Math.floor(request.limit));
      if (limit === 0 || request.platforms.length === 0) return [];
      const expired = this.#expiredInFlight.all({
        now: request.now,
        all,
        platforms: JSON.stringify(request.platforms),
        limit,
      });
      const taken: Job[] = [];
      for (const { id } of expired) {
        const row = this.#lease.get(request.owner, request.leaseUntil, id);
        if (row !== undefined) taken.push(rowToJob(row));
      }
      return taken;
    });

    this.#pruneTransaction = database.transaction((before: number) => {
      const pruned = this.#prune.run(before).changes;
      this.#pruneTurns.run();
      this.#pruneLocks.run(before);
      return pruned;
    });
  }

  async insert(job: Job, admission?: Admission): Promise<InsertOutcome> {
    // A batch of one: the same dedup lookup, admission and insert.
    const [outcome] = this.#insertManyTransaction.immediate([job], admission);
    if (outcome === undefined) throw new Error(`Job ${job.id} was neither inserted nor found`);
    return outcome;
  }

  async insertMany(jobs: readonly Job[], admission?: Admission): Promise<InsertOutcome[]> {
    return this.#insertManyTransaction.immediate(jobs, admission);
  }

  async get(id: string): Promise<Job | undefined> {
    const row = this.#selectById.get(id);
    return row === undefined ? undefined : rowToJob(row);
  }

  async getByDedupKey(dedupKey: string): Promise<Job | undefined> {
    const row = this.#selectByDedupKey.get(dedupKey);
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
    const row = this.#markTimeoutNotified.get(now, id);
    return row === undefined ? undefined : rowToJob(row);
  }

  async listByState(states: readonly JobState[]): Promise<Job[]> {
    if (states.length === 0) return [];
    return this.#selectByStates.all(JSON.stringify(states)).map(rowToJob);
  }

  async listUnfinishedCreatedBefore(createdBefore: number, limit: number): Promise<Job[]> {
    const rows = Math.max(0, Math.floor(limit));
    if (rows === 0) return [];
    return this.#selectUnfinishedBefore.all(createdBefore, rows).map(rowToJob);
  }

  async reservedImages(scope: QuotaScope): Promise<number> {
    return this.#reservedImages(scope);
  }

  async topUsers(
    day: string,
    serverId: string | undefined,
    limit: number,
  ): Promise<{ requesterId: string; images: number }[]> {
    // SQLite reads a negative LIMIT as "no limit"; here it means nobody.
    const rows = Math.max(0, Math.floor(limit));
    if (rows === 0) return [];
    const found =
      serverId === undefined
        ? this.#topUsersAll.all(day, rows)
        : this.#topUsersByServer.all(day, serverId, rows);
    return found.map((row) => ({ requesterId: row.requesterId, images: row.images }));
  }

  async unfinishedJobs(requesterId: string): Promise<number> {
    return this.#countUnfinished.get(requesterId)?.count ?? 0;
  }

  async prune(before: number): Promise<number> {
    return this.#pruneTransaction.immediate(before);
  }

  async delete(id: string): Promise<boolean> {
    return this.#delete.run(id).changes > 0;
  }

  async claimNext(claim: ClaimRequest): Promise<Job | undefined> {
    return this.#claimTransaction.immediate(claim);
  }

  async renewLeases(owner: string, leaseUntil: number, _now: number): Promise<number> {
    // An expired lease nobody took over is still the owner's: renewing it is safe, since a
    // takeover and this update cannot interleave.
    return this.#renewLeases.run(leaseUntil, owner).changes;
  }

  async takeOverExpired(request: TakeOverRequest): Promise<Job[]> {
    return this.#takeOverTransaction.immediate(request);
  }

  async releaseLeases(owner: string, _now: number): Promise<number> {
    return this.#releaseLeases.run(owner).changes;
  }

  async queuePositions(): Promise<Map<string, number>> {
    return queuePositionsOf(
      this.#waiting.all().map((row) => ({
        id: row.id,
        requesterId: row.requester_id,
        queueSeq: row.queue_seq,
        servedSeq: row.served_seq,
      })),
    );
  }

  async queuePosition(jobId: string): Promise<number | undefined> {
    return this.#queuePosition.get(jobId)?.position;
  }

  async counts(): Promise<StoreCounts> {
    const row = this.#counts.get();
    return { queued: row?.queued ?? 0, running: row?.running ?? 0, late: row?.late ?? 0 };
  }

  async acquireLock(name: string, owner: string, now: number, until: number): Promise<boolean> {
    return this.#acquireLock.run({ name, owner, now, until }).changes > 0;
  }

  async releaseLock(name: string, owner: string): Promise<void> {
    this.#releaseLock.run(name, owner);
  }

  async lockHolder(name: string, now: number): Promise<string | undefined> {
    return this.#lockHolder.get(name, now)?.owner;
  }

  async countLocks(prefix: string, now: number): Promise<number> {
    return this.#countLocks.get(prefix, prefix, now)?.locks ?? 0;
  }

  async pauseCreatesUntil(until: number): Promise<number> {
    return this.#pause.get(PAUSED_UNTIL_KEY, until)?.value ?? until;
  }

  async pausedUntil(): Promise<number> {
    return this.#sharedValue.get(PAUSED_UNTIL_KEY)?.value ?? 0;
  }

  async publish(event: StoreEvent): Promise<void> {
    // Delivered in a microtask: never inside the publisher's own call (as with PostgreSQL's
    // NOTIFY, so that code run over SQLite cannot come to rely on it), yet before the caller's
    // `await publish(...)` resumes. The listeners are those subscribed now and still then.
    const listeners = [...this.#listeners];
    queueMicrotask(() => {
      for (const listener of listeners) {
        if (!this.#listeners.has(listener)) continue;
        try {
          listener(event);
        } catch {
          // One listener's failure is its own: the others still hear of the change, and
          // delivery is best-effort by contract (listeners also poll).
        }
      }
    });
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
    this.#records.putSettings(scope, key, value, now);
  }

  async recentJobs(requesterId: string, platform: string, limit: number): Promise<Job[]> {
    return this.#records.recentJobs(requesterId, platform, limit);
  }

  async reservedImagesBetween(
    requesterId: string,
    fromDay: string,
    toDay: string,
  ): Promise<number> {
    return this.#records.reservedImagesBetween(requesterId, fromDay, toDay);
  }

  async appendAuditLines(lines: readonly NewAuditLine[], now: number): Promise<void> {
    this.#records.appendAuditLines(lines, now);
  }

  async pendingAuditLines(limit: number): Promise<AuditLine[]> {
    return this.#records.pendingAuditLines(limit);
  }

  async deleteAuditLines(ids: readonly number[]): Promise<void> {
    this.#records.deleteAuditLines(ids);
  }

  async ping(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      this.#database.prepare('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#database.close();
    this.#release();
  }

  #reservedImages(scope: QuotaScope): number {
    const { day, requesterId, serverId } = scope;
    let row: { images: number } | undefined;
    if (scope.directMessages === true) {
      row = this.#sumDirectMessages.get(day);
    } else if (requesterId !== undefined && serverId !== undefined) {
      row = this.#sumByRequesterAndServer.get(day, requesterId, serverId);
    } else if (requesterId !== undefined) {
      row = this.#sumByRequester.get(day, requesterId);
    } else if (serverId !== undefined) {
      row = this.#sumByServer.get(day, serverId);
    } else {
      row = this.#sumAll.get(day);
    }
    return row?.images ?? 0;
  }

  /** The next value of the store-wide counter; call inside a write transaction. */
  #takeSeq(): number {
    const row = this.#nextSeq.get(QUEUE_COUNTER_KEY);
    if (row === undefined) throw new Error('Job store: the queue counter is missing');
    return row.value;
  }

  /**
   * One conditional UPDATE returning the row, in one immediate transaction with the counter it
   * may draw from: with `from` (and `owner`), the check and the write cannot be separated by
   * another writer, so of two racing transitions only the first one matches.
   */
  #applyPatch(
    id: string,
    from: readonly JobState[] | undefined,
    patch: JobPatch,
    now: number,
    owner: string | undefined,
  ): Job | undefined {
    const { columns, values } = patchToColumns(patch);
    // Back in line: a new place at the end, and no claim on it. Finished: nobody's any more.
    const requeued = patch.state === 'queued';
    const leaseCleared = requeued || (patch.state !== undefined && isFinal(patch.state));
    const statement = this.#updateStatement(columns, {
      guarded: from !== undefined,
      owned: owner !== undefined,
      requeued,
      leaseCleared,
    });
    const run = this.#database.transaction((): Job | undefined => {
      const parameters: SqlValue[] = [...values];
      if (requeued) parameters.push(this.#takeSeq());
      parameters.push(now, id);
      if (from !== undefined) parameters.push(JSON.stringify(from));
      if (owner !== undefined) parameters.push(owner);
      const row = statement.get(...parameters);
      return row === undefined ? undefined : rowToJob(row);
    });
    if (patch.state !== 'creating') return run.immediate();
    // Synced before the create is sent (a synced commit syncs the whole WAL before it too).
    this.#database.pragma('synchronous = FULL');
    try {
      return run.immediate();
    } finally {
      this.#database.pragma('synchronous = NORMAL');
    }
  }

  #updateStatement(
    columns: readonly string[],
    shape: { guarded: boolean; owned: boolean; requeued: boolean; leaseCleared: boolean },
  ): Statement<SqlValue[], JobRow> {
    const key = `${JSON.stringify(shape)}:${columns.join(',')}`;
    let statement = this.#updates.get(key);
    if (statement === undefined) {
      const assignments = columns.map((column) => `${column} = ?`);
      if (shape.requeued) assignments.push('queue_seq = ?');
      if (shape.leaseCleared) assignments.push('lease_owner = NULL', 'lease_until = NULL');
      assignments.push('updated_at = ?');
      const guard = shape.guarded ? ` AND state IN ${IN_LIST}` : '';
      const ownership = shape.owned ? ' AND lease_owner = ?' : '';
      statement = this.#database.prepare<SqlValue[], JobRow>(
        `UPDATE jobs SET ${assignments.join(', ')} WHERE id = ?${guard}${ownership} RETURNING *`,
      );
      this.#updates.set(key, statement);
    }
    return statement;
  }
}
