import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database, Statement } from 'better-sqlite3';
import BetterSqlite3 from 'better-sqlite3';
import { z } from 'zod';
import { ERROR_CODES } from '../errors.js';
import { ASPECT_RATIOS, RESOLUTIONS } from '../models.js';
import type { ImageAction } from '../request.js';
import {
  FINAL_STATES,
  type InputReference,
  JOB_STATES,
  type Job,
  type JobError,
  type JobOptions,
  type JobPatch,
  type JobResult,
  type JobState,
  type JobStore,
  type QuotaScope,
} from './job.js';
import { migrate } from './migrations.js';
import { lockStore } from './store-lock.js';

/**
 * The embedded job store: one SQLite file, written through better-sqlite3. Its calls are
 * synchronous and take microseconds, which keeps every read-modify-write atomic without locks in
 * the engine. The bot opens it `exclusive`: one process runs a store (see store-lock.ts), while
 * other connections (tools, tests) may still read and write it (WAL, busy timeout).
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

export function openSqliteStore(options: SqliteStoreOptions): JobStore {
  const inMemory = options.path === ':memory:' || options.path === '';
  if (!inMemory) mkdirSync(dirname(options.path), { recursive: true });
  const lock = options.exclusive && !inMemory ? lockStore(options.path) : undefined;
  let database: Database | undefined;
  try {
    database = new BetterSqlite3(options.path);
    // WAL lets readers work while a write is in progress. NORMAL does not sync the WAL at each
    // commit: a power cut (not a crash of the process) may undo the last few commits, and the
    // store is still consistent. The one commit that must survive it is `queued → creating`,
    // written just before a paid create is sent (undone, the job would come back queued and be
    // created twice): that one is synced before it returns (see `#applyPatch`). Syncing every
    // commit instead costs a job about six fsyncs on the event loop, which a burst of requests
    // turns into late acknowledgements.
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    database.pragma('foreign_keys = ON');
    migrate(database, options.path);
    return new SqliteJobStore(database, () => lock?.release());
  } catch (error) {
    database?.close();
    lock?.release();
    throw error;
  }
}

/** A row as SQLite returns it; the STRICT table guarantees the column types. */
interface JobRow {
  readonly id: string;
  readonly platform: string;
  readonly dedup_key: string | null;
  readonly requester_id: string;
  readonly server_id: string | null;
  readonly channel_id: string;
  readonly locale: string;
  readonly requester_is_admin: number;
  readonly action: string;
  readonly prompt: string;
  readonly options: string;
  readonly inputs: string;
  readonly destination: string | null;
  readonly parent_job_id: string | null;
  readonly state: string;
  readonly created_at: number;
  readonly updated_at: number;
  readonly started_at: number | null;
  readonly finished_at: number | null;
  readonly task_id: string | null;
  readonly trace_id: string | null;
  readonly callback_token: string;
  readonly reserved_images: number;
  readonly quota_day: string;
  readonly result: string | null;
  readonly error: string | null;
  readonly delivery: string | null;
  readonly delivery_attempts: number;
  readonly timeout_notified: number;
}

type SqlValue = string | number | null;

const COLUMNS = [
  'id',
  'platform',
  'dedup_key',
  'requester_id',
  'server_id',
  'channel_id',
  'locale',
  'requester_is_admin',
  'action',
  'prompt',
  'options',
  'inputs',
  'destination',
  'parent_job_id',
  'state',
  'created_at',
  'updated_at',
  'started_at',
  'finished_at',
  'task_id',
  'trace_id',
  'callback_token',
  'reserved_images',
  'quota_day',
  'result',
  'error',
  'delivery',
  'delivery_attempts',
  'timeout_notified',
] as const satisfies readonly (keyof JobRow)[];

/** How each patchable field is written; the key set is checked against `JobPatch` by the type. */
const PATCH_COLUMNS: {
  readonly [Field in keyof JobPatch]-?: {
    readonly column: keyof JobRow;
    /** Whether `undefined` may be written (as NULL), or means "leave unchanged". */
    readonly nullable: boolean;
    readonly encode: (value: Exclude<JobPatch[Field], undefined>) => SqlValue;
  };
} = {
  state: { column: 'state', nullable: false, encode: (value) => value },
  startedAt: { column: 'started_at', nullable: true, encode: (value) => value },
  finishedAt: { column: 'finished_at', nullable: true, encode: (value) => value },
  taskId: { column: 'task_id', nullable: true, encode: (value) => value },
  traceId: { column: 'trace_id', nullable: true, encode: (value) => value },
  reservedImages: { column: 'reserved_images', nullable: false, encode: (value) => value },
  result: { column: 'result', nullable: true, encode: encodeJson },
  error: { column: 'error', nullable: true, encode: encodeJson },
  delivery: { column: 'delivery', nullable: true, encode: encodeJson },
  deliveryAttempts: { column: 'delivery_attempts', nullable: false, encode: (value) => value },
  timeoutNotified: { column: 'timeout_notified', nullable: false, encode: encodeBoolean },
  destination: { column: 'destination', nullable: true, encode: encodeJson },
};

const PATCH_FIELDS = Object.keys(PATCH_COLUMNS) as (keyof JobPatch)[];

class SqliteJobStore implements JobStore {
  readonly #database: Database;
  readonly #insert: Statement<[Record<keyof JobRow, SqlValue>]>;
  readonly #selectById: Statement<[string], JobRow>;
  readonly #selectByDedupKey: Statement<[string], JobRow>;
  readonly #selectByStates: Statement<[string], JobRow>;
  readonly #sumAll: Statement<[string], { images: number }>;
  readonly #sumByRequester: Statement<[string, string], { images: number }>;
  readonly #sumByServer: Statement<[string, string], { images: number }>;
  readonly #sumDirectMessages: Statement<[string], { images: number }>;
  readonly #sumByRequesterAndServer: Statement<[string, string, string], { images: number }>;
  readonly #topUsersAll: Statement<[string, number], TopUserRow>;
  readonly #topUsersByServer: Statement<[string, string, number], TopUserRow>;
  readonly #prune: Statement<[string, number]>;
  readonly #delete: Statement<[string]>;
  readonly #insertOrFindExisting: (job: Job) => { readonly job: Job; readonly inserted: boolean };
  /** Update statements by the set of patched columns: a handful of shapes occur in practice. */
  readonly #updates = new Map<string, Statement<SqlValue[]>>();

  /** Releases the process lock, if this store holds it. */
  readonly #release: () => void;

  constructor(database: Database, release: () => void) {
    this.#database = database;
    this.#release = release;
    this.#insert = database.prepare(
      `INSERT INTO jobs (${COLUMNS.join(', ')})
       VALUES (${COLUMNS.map((column) => `@${column}`).join(', ')})
       ON CONFLICT (dedup_key) DO NOTHING`,
    );
    this.#selectById = database.prepare('SELECT * FROM jobs WHERE id = ?');
    this.#selectByDedupKey = database.prepare('SELECT * FROM jobs WHERE dedup_key = ?');
    // A JSON array bound as one parameter: one statement serves any list of states.
    this.#selectByStates = database.prepare(
      `SELECT * FROM jobs WHERE state IN (SELECT value FROM json_each(?))
       ORDER BY created_at, rowid`,
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
    this.#prune = database.prepare(
      `DELETE FROM jobs WHERE state IN (SELECT value FROM json_each(?)) AND updated_at < ?`,
    );
    this.#delete = database.prepare('DELETE FROM jobs WHERE id = ?');
    this.#insertOrFindExisting = database.transaction((job: Job) => {
      if (this.#insert.run(jobToRow(job)).changes > 0) {
        return { job: this.#mustGet(job.id), inserted: true };
      }
      // Only a taken dedup key is ignored by the conflict clause (a taken id still throws), so
      // the existing job is there to return.
      const existing = this.#selectByDedupKey.get(job.dedupKey ?? '');
      if (existing === undefined) throw new Error(`Job ${job.id} was neither inserted nor found`);
      return { job: rowToJob(existing), inserted: false };
    });
  }

  insert(job: Job): { readonly job: Job; readonly inserted: boolean } {
    return this.#insertOrFindExisting(job);
  }

  get(id: string): Job | undefined {
    const row = this.#selectById.get(id);
    return row === undefined ? undefined : rowToJob(row);
  }

  getByDedupKey(dedupKey: string): Job | undefined {
    const row = this.#selectByDedupKey.get(dedupKey);
    return row === undefined ? undefined : rowToJob(row);
  }

  update(id: string, patch: JobPatch, now: number): Job | undefined {
    return this.#applyPatch(id, undefined, patch, now);
  }

  transition(
    id: string,
    from: readonly JobState[],
    patch: JobPatch & { state: JobState },
    now: number,
  ): Job | undefined {
    return this.#applyPatch(id, from, patch, now);
  }

  listByState(states: readonly JobState[]): Job[] {
    if (states.length === 0) return [];
    return this.#selectByStates.all(JSON.stringify(states)).map(rowToJob);
  }

  reservedImages(scope: QuotaScope): number {
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

  topUsers(
    day: string,
    serverId: string | undefined,
    limit: number,
  ): { requesterId: string; images: number }[] {
    // SQLite reads a negative LIMIT as "no limit"; here it means nobody.
    const rows = Math.max(0, Math.floor(limit));
    if (rows === 0) return [];
    const found =
      serverId === undefined
        ? this.#topUsersAll.all(day, rows)
        : this.#topUsersByServer.all(day, serverId, rows);
    return found.map((row) => ({ requesterId: row.requesterId, images: row.images }));
  }

  prune(before: number): number {
    return this.#prune.run(JSON.stringify(FINAL_STATES), before).changes;
  }

  delete(id: string): boolean {
    return this.#delete.run(id).changes > 0;
  }

  close(): void {
    this.#database.close();
    this.#release();
  }

  /**
   * One conditional UPDATE, then a read of the row, in one transaction: with `from`, the state
   * check and the write cannot be separated by another writer, so of two racing transitions only
   * the first one matches.
   */
  #applyPatch(
    id: string,
    from: readonly JobState[] | undefined,
    patch: JobPatch,
    now: number,
  ): Job | undefined {
    const columns: string[] = [];
    const values: SqlValue[] = [];
    for (const field of PATCH_FIELDS) {
      if (!Object.hasOwn(patch, field)) continue;
      const value = patch[field];
      const spec = PATCH_COLUMNS[field];
      if (value === undefined) {
        // A NOT NULL column cannot be cleared; the types forbid it, so treat it as not patched.
        if (!spec.nullable) continue;
        columns.push(spec.column);
        values.push(null);
        continue;
      }
      columns.push(spec.column);
      values.push((spec.encode as (value: unknown) => SqlValue)(value));
    }
    const statement = this.#updateStatement(columns, from !== undefined);
    const run = this.#database.transaction((): Job | undefined => {
      const parameters: SqlValue[] = [...values, now, id];
      if (from !== undefined) parameters.push(JSON.stringify(from));
      if (statement.run(...parameters).changes === 0) return undefined;
      return this.#mustGet(id);
    });
    if (patch.state !== 'creating') return run();
    // Synced before the create is sent (a synced commit syncs the whole WAL before it too).
    this.#database.pragma('synchronous = FULL');
    try {
      return run();
    } finally {
      this.#database.pragma('synchronous = NORMAL');
    }
  }

  #updateStatement(columns: readonly string[], guarded: boolean): Statement<SqlValue[]> {
    const key = `${guarded ? 'guarded' : 'plain'}:${columns.join(',')}`;
    let statement = this.#updates.get(key);
    if (statement === undefined) {
      const assignments = [...columns, 'updated_at'].map((column) => `${column} = ?`).join(', ');
      const guard = guarded ? ' AND state IN (SELECT value FROM json_each(?))' : '';
      statement = this.#database.prepare<SqlValue[]>(
        `UPDATE jobs SET ${assignments} WHERE id = ?${guard}`,
      );
      this.#updates.set(key, statement);
    }
    return statement;
  }

  #mustGet(id: string): Job {
    const job = this.get(id);
    if (job === undefined) throw new Error(`Job ${id} vanished inside a transaction`);
    return job;
  }
}

interface TopUserRow {
  readonly requesterId: string;
  readonly images: number;
}

function jobToRow(job: Job): Record<keyof JobRow, SqlValue> {
  return {
    id: job.id,
    platform: job.platform,
    dedup_key: job.dedupKey ?? null,
    requester_id: job.requesterId,
    server_id: job.serverId ?? null,
    channel_id: job.channelId,
    locale: job.locale,
    requester_is_admin: encodeBoolean(job.requesterIsAdmin),
    action: job.action,
    prompt: job.prompt,
    options: encodeJson(job.options) ?? '{}',
    inputs: encodeJson(job.inputs) ?? '[]',
    destination: encodeJson(job.destination),
    parent_job_id: job.parentJobId ?? null,
    state: job.state,
    created_at: job.createdAt,
    updated_at: job.updatedAt,
    started_at: job.startedAt ?? null,
    finished_at: job.finishedAt ?? null,
    task_id: job.taskId ?? null,
    trace_id: job.traceId ?? null,
    callback_token: job.callbackToken,
    reserved_images: job.reservedImages,
    quota_day: job.quotaDay,
    result: encodeJson(job.result),
    error: encodeJson(job.error),
    delivery: encodeJson(job.delivery),
    delivery_attempts: job.deliveryAttempts,
    timeout_notified: encodeBoolean(job.timeoutNotified),
  };
}

function rowToJob(row: JobRow): Job {
  const decoder = new RowDecoder(row.id);
  return {
    id: row.id,
    platform: row.platform,
    dedupKey: row.dedup_key ?? undefined,
    requesterId: row.requester_id,
    serverId: row.server_id ?? undefined,
    channelId: row.channel_id,
    locale: row.locale,
    requesterIsAdmin: row.requester_is_admin !== 0,
    action: decoder.action(row.action),
    prompt: row.prompt,
    options: decoder.json('options', row.options, jobOptionsSchema),
    inputs: decoder.json('inputs', row.inputs, inputsSchema),
    destination: decoder.optionalJson('destination', row.destination, z.unknown()),
    parentJobId: row.parent_job_id ?? undefined,
    state: decoder.state(row.state),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at ?? undefined,
    finishedAt: row.finished_at ?? undefined,
    taskId: row.task_id ?? undefined,
    traceId: row.trace_id ?? undefined,
    callbackToken: row.callback_token,
    reservedImages: row.reserved_images,
    quotaDay: row.quota_day,
    result: decoder.optionalJson('result', row.result, jobResultSchema),
    error: decoder.optionalJson('error', row.error, jobErrorSchema),
    delivery: decoder.optionalJson('delivery', row.delivery, z.unknown()),
    deliveryAttempts: row.delivery_attempts,
    timeoutNotified: row.timeout_notified !== 0,
  };
}

/** `undefined` is stored as NULL, so that it stays distinct from a JSON `null`. */
function encodeJson(value: unknown): string | null {
  // JSON.stringify returns undefined for undefined, functions and symbols.
  const text: string | undefined = JSON.stringify(value);
  return text ?? null;
}

function encodeBoolean(value: boolean): number {
  return value ? 1 : 0;
}

/*
 * The JSON columns are read back through schemas: the file may have been edited by hand or written
 * by another version, and a wrong shape should fail here, naming the job and column, rather than
 * deep inside the engine.
 */

const jobOptionsSchema: z.ZodType<JobOptions> = z.object({
  model: z.string(),
  aspectRatio: z.enum(ASPECT_RATIOS).optional(),
  resolution: z.enum(RESOLUTIONS).optional(),
  count: z.number().int().optional(),
});

const inputsSchema: z.ZodType<readonly InputReference[]> = z.array(
  z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('url'), url: z.string() }),
    z.object({ kind: z.literal('platform'), ref: z.string(), name: z.string().optional() }),
  ]),
);

const jobResultSchema: z.ZodType<JobResult> = z.object({
  images: z.array(z.object({ url: z.string() })),
  traceId: z.string().optional(),
});

const jobErrorSchema: z.ZodType<JobError> = z.object({
  code: z.enum(ERROR_CODES),
  params: z.record(z.string(), z.union([z.string(), z.number(), z.array(z.string())])),
  traceId: z.string().optional(),
});

const actionSchema: z.ZodType<ImageAction> = z.enum(['generate', 'edit']);

class RowDecoder {
  readonly #jobId: string;

  constructor(jobId: string) {
    this.#jobId = jobId;
  }

  json<T>(column: string, text: string, schema: z.ZodType<T>): T {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw this.#corrupt(column, 'is not valid JSON', error);
    }
    const checked = schema.safeParse(parsed);
    if (!checked.success) {
      throw this.#corrupt(column, `has the wrong shape: ${z.prettifyError(checked.error)}`);
    }
    return checked.data;
  }

  optionalJson<T>(column: string, text: string | null, schema: z.ZodType<T>): T | undefined {
    return text === null ? undefined : this.json(column, text, schema);
  }

  state(value: string): JobState {
    const state = JOB_STATES.find((known) => known === value);
    if (state === undefined) throw this.#corrupt('state', `holds an unknown state "${value}"`);
    return state;
  }

  action(value: string): ImageAction {
    const checked = actionSchema.safeParse(value);
    if (!checked.success) throw this.#corrupt('action', `holds an unknown action "${value}"`);
    return checked.data;
  }

  #corrupt(column: string, problem: string, cause?: unknown): Error {
    return new Error(
      `Job store: job ${this.#jobId}, column ${column} ${problem}`,
      cause === undefined ? undefined : { cause },
    );
  }
}
