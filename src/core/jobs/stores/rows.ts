import { z } from 'zod';
import { ERROR_CODES, NanoBananaError } from '../../errors.js';
import { ASPECT_RATIOS, RESOLUTIONS } from '../../models.js';
import type { ImageAction } from '../../request.js';
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
} from '../job.js';
import type { Admission, AuditLine } from '../store.js';

/**
 * What the SQLite and PostgreSQL stores share: how a job is written to a row and read back, and
 * the scheduling rules that are easier to state once than to keep equal in two dialects. The
 * column names are identical in both schemas, and the JSON columns are TEXT in both (a JSONB
 * column would hand back a parsed value, and a stored JSON string could no longer be told from
 * text), so one encoder and one decoder serve both.
 */

/** An integer as a driver may return it: pg gives BIGINT as a string unless told otherwise. */
export type DatabaseInteger = number | string | bigint;
/** A flag: 0/1 in SQLite's INTEGER, true/false if a store uses a BOOLEAN column. */
export type DatabaseBoolean = number | boolean;

/** A job row as either driver returns it (`SELECT *`); extra columns are ignored. */
export interface JobRow {
  readonly id: string;
  readonly platform: string;
  readonly dedup_key: string | null;
  readonly requester_id: string;
  readonly server_id: string | null;
  readonly channel_id: string;
  readonly locale: string;
  readonly requester_is_admin: DatabaseBoolean;
  readonly action: string;
  readonly prompt: string;
  readonly options: string;
  readonly inputs: string;
  readonly destination: string | null;
  readonly parent_job_id: string | null;
  readonly state: string;
  readonly created_at: DatabaseInteger;
  readonly updated_at: DatabaseInteger;
  readonly started_at: DatabaseInteger | null;
  readonly finished_at: DatabaseInteger | null;
  readonly task_id: string | null;
  readonly trace_id: string | null;
  readonly callback_token: string;
  readonly reserved_images: DatabaseInteger;
  readonly quota_day: string;
  readonly result: string | null;
  readonly error: string | null;
  readonly delivery: string | null;
  readonly delivery_attempts: DatabaseInteger;
  readonly timeout_notified: DatabaseBoolean;
  /** The process working on the job, while leased (schema version 2). */
  readonly lease_owner?: string | null;
  readonly lease_until?: DatabaseInteger | null;
  /** Order of (re)queueing, from a store-wide counter (schema version 2). */
  readonly queue_seq?: DatabaseInteger;
}

export type SqlValue = string | number | null;

/**
 * The columns a new job is written with, in this order. `queue_seq` is given by the store (its
 * counter) and the lease columns start empty, so they are not part of it.
 */
export const JOB_COLUMNS = [
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

export type JobColumn = (typeof JOB_COLUMNS)[number];

/** How each patchable field is written; the key set is checked against `JobPatch` by the type. */
export const PATCH_COLUMNS: {
  readonly [Field in keyof JobPatch]-?: {
    readonly column: JobColumn;
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

/**
 * The columns a patch writes and their values, in a stable order (so that a store can cache one
 * statement per column set). `updated_at` and the lease columns are the store's to add.
 */
export function patchToColumns(patch: JobPatch): { columns: JobColumn[]; values: SqlValue[] } {
  const columns: JobColumn[] = [];
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
  return { columns, values };
}

export function jobToRow(job: Job): Record<JobColumn, SqlValue> {
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

/**
 * Reads a row back, checking every column a hand edit or another version could have broken, and
 * naming the job and column when one is wrong. The lease appears on the job only while it is set,
 * so a job read from a store without leases equals the one inserted.
 */
export function rowToJob(row: JobRow): Job {
  const decoder = new RowDecoder(row.id);
  const job: Job = {
    id: row.id,
    platform: row.platform,
    dedupKey: row.dedup_key ?? undefined,
    requesterId: row.requester_id,
    serverId: row.server_id ?? undefined,
    channelId: row.channel_id,
    locale: row.locale,
    requesterIsAdmin: decodeBoolean(row.requester_is_admin),
    action: decoder.action(row.action),
    prompt: row.prompt,
    options: decoder.json('options', row.options, jobOptionsSchema),
    inputs: decoder.json('inputs', row.inputs, inputsSchema),
    destination: decoder.optionalJson('destination', row.destination, z.unknown()),
    parentJobId: row.parent_job_id ?? undefined,
    state: decoder.state(row.state),
    createdAt: decoder.integer('created_at', row.created_at),
    updatedAt: decoder.integer('updated_at', row.updated_at),
    startedAt: decoder.optionalInteger('started_at', row.started_at),
    finishedAt: decoder.optionalInteger('finished_at', row.finished_at),
    taskId: row.task_id ?? undefined,
    traceId: row.trace_id ?? undefined,
    callbackToken: row.callback_token,
    reservedImages: decoder.integer('reserved_images', row.reserved_images),
    quotaDay: row.quota_day,
    result: decoder.optionalJson('result', row.result, jobResultSchema),
    error: decoder.optionalJson('error', row.error, jobErrorSchema),
    delivery: decoder.optionalJson('delivery', row.delivery, z.unknown()),
    deliveryAttempts: decoder.integer('delivery_attempts', row.delivery_attempts),
    timeoutNotified: decodeBoolean(row.timeout_notified),
  };
  if (row.lease_owner === undefined || row.lease_owner === null) return job;
  return {
    ...job,
    leaseOwner: row.lease_owner,
    leaseUntil: decoder.optionalInteger('lease_until', row.lease_until ?? null),
  };
}

/** `undefined` is stored as NULL, so that it stays distinct from a JSON `null`. */
export function encodeJson(value: unknown): string | null {
  // JSON.stringify returns undefined for undefined, functions and symbols.
  const text: string | undefined = JSON.stringify(value);
  return text ?? null;
}

export function encodeBoolean(value: boolean): number {
  return value ? 1 : 0;
}

function decodeBoolean(value: DatabaseBoolean): boolean {
  return value === true || (typeof value === 'number' && value !== 0);
}

/*
 * The JSON columns are read back through schemas: the file may have been edited by hand or written
 * by another version, and a wrong shape should fail here, naming the job and column, rather than
 * deep inside the engine.
 */

export const jobOptionsSchema: z.ZodType<JobOptions> = z.object({
  model: z.string(),
  aspectRatio: z.enum(ASPECT_RATIOS).optional(),
  resolution: z.enum(RESOLUTIONS).optional(),
  count: z.number().int().optional(),
  // Added with preferences (no migration: the column is JSON). A malformed list is dropped rather
  // than making the whole job unreadable: it only feeds a note on the result.
  appliedDefaults: z
    .array(
      z.object({
        setting: z.enum(['model', 'aspectRatio', 'resolution', 'suffix']),
        source: z.enum(['preferences', 'server']),
      }),
    )
    .optional()
    .catch(undefined),
});

export const inputsSchema: z.ZodType<readonly InputReference[]> = z.array(
  z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('url'), url: z.string() }),
    z.object({ kind: z.literal('platform'), ref: z.string(), name: z.string().optional() }),
  ]),
);

export const jobResultSchema: z.ZodType<JobResult> = z.object({
  images: z.array(z.object({ url: z.string() })),
  traceId: z.string().optional(),
});

export const jobErrorSchema: z.ZodType<JobError> = z.object({
  code: z.enum(ERROR_CODES),
  params: z.record(z.string(), z.union([z.string(), z.number(), z.array(z.string())])),
  traceId: z.string().optional(),
});

const actionSchema: z.ZodType<ImageAction> = z.enum(['generate', 'edit']);

/** A row that cannot be read: the message names the job and the column. */
export class CorruptJobRowError extends Error {
  override readonly name = 'CorruptJobRowError';
  readonly jobId: string;
  readonly column: string;

  constructor(jobId: string, column: string, problem: string, cause?: unknown) {
    super(
      `Job store: job ${jobId}, column ${column} ${problem}`,
      cause === undefined ? undefined : { cause },
    );
    this.jobId = jobId;
    this.column = column;
  }
}

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
      throw new CorruptJobRowError(this.#jobId, column, 'is not valid JSON', error);
    }
    const checked = schema.safeParse(parsed);
    if (!checked.success) {
      throw new CorruptJobRowError(
        this.#jobId,
        column,
        `has the wrong shape: ${z.prettifyError(checked.error)}`,
      );
    }
    return checked.data;
  }

  optionalJson<T>(column: string, text: string | null, schema: z.ZodType<T>): T | undefined {
    return text === null ? undefined : this.json(column, text, schema);
  }

  integer(column: string, value: DatabaseInteger): number {
    const number = typeof value === 'number' ? value : Number(value);
    if (!Number.isSafeInteger(number)) {
      throw new CorruptJobRowError(this.#jobId, column, `holds a non-integer "${String(value)}"`);
    }
    return number;
  }

  optionalInteger(column: string, value: DatabaseInteger | null): number | undefined {
    return value === null ? undefined : this.integer(column, value);
  }

  state(value: string): JobState {
    const state = JOB_STATES.find((known) => known === value);
    if (state === undefined) {
      throw new CorruptJobRowError(this.#jobId, 'state', `holds an unknown state "${value}"`);
    }
    return state;
  }

  action(value: string): ImageAction {
    const checked = actionSchema.safeParse(value);
    if (!checked.success) {
      throw new CorruptJobRowError(this.#jobId, 'action', `holds an unknown action "${value}"`);
    }
    return checked.data;
  }
}

// --- Rules both stores apply ------------------------------------------------------------------------
/*
 * Where store.ts leaves a choice, both stores make the same one (test/store-contract.ts checks
 * each):
 * - A lease is live while `lease_until >= now`; a named lock likewise while `until >= now`.
 * - Waiting (claimable): `queued` with no lease or an expired one. Its place in line is
 *   `queue_seq`, drawn from the store-wide counter at insert and at every move back to `queued`
 *   (`update` or `transition`), which also clears the lease, as any move to a final state does.
 * - Claiming draws the next counter value into the user's `queue_users.served_seq`.
 * - Occupying a slot: see `occupyingSql`. A job past `queued` holds its slot leased or not.
 * - Takeover (`takeOverExpired`): jobs past `queued` whose lease expired, or that nobody leases
 *   (released at a clean stop, or written before leases existed), oldest created first, up to the
 *   limit; every expired claim on a `queued` job is cleared, whatever the platform or the limit,
 *   and its `queue_seq` kept.
 * - `transition(..., owner)` matches while `lease_owner = owner`, expired or not: nobody else has
 *   taken the job over, so the owner may still act on it. `renewLeases` likewise renews an
 *   expired lease still in the owner's name.
 * - `counts` has no time: a `queued` job counts as running while any claim is on it.
 * - `publish` never calls a listener inside the publisher's call; a listener unsubscribed before
 *   delivery is not called; one that throws does not stop the others.
 * - Admission: see `checkAdmission`; a taken dedup key is looked up before it.
 */

/**
 * The final states as an SQL list, `('done', 'failed', ...)`: written into statements rather
 * than bound, since they are constants.
 */
export const FINAL_STATES_SQL = `(${FINAL_STATES.map((state) => `'${state}'`).join(', ')})`;

/** States of a job whose task exists and that a timeout notice lets run outside the limits. */
export const LATE_STATES: readonly JobState[] = ['running', 'delivering'];
const LATE_STATES_SQL = `(${LATE_STATES.map((state) => `'${state}'`).join(', ')})`;

/** A job told it timed out whose task exists: followed outside the concurrency limits. */
export const LATE_SQL = `(timeout_notified <> 0 AND state IN ${LATE_STATES_SQL})`;

/** States of a job whose work is in flight (created, or being created), leased or not. */
export const IN_FLIGHT_STATES: readonly JobState[] = ['creating', 'running', 'delivering'];
const IN_FLIGHT_STATES_SQL = `(${IN_FLIGHT_STATES.map((state) => `'${state}'`).join(', ')})`;

/**
 * A job occupying a slot (see `JobStore.claimNext`), given the SQL for "now" (a placeholder): an
 * unfinished job that is not late and is either past `queued` (its work is in flight, leased or
 * not: a dead process's task still runs at the API) or `queued` under a live claim. A queued job
 * whose claim expired holds no slot: it may be claimed again. A lease is live until `lease_until`
 * included (`lease_until >= now`); expired once `lease_until < now`. Written as two disjoint
 * halves with positive state lists, so that each can use an index instead of a scan of every job.
 */
export function occupyingSql(now: string): string {
  return `((state IN ${IN_FLIGHT_STATES_SQL} AND NOT ${LATE_SQL})
    OR (state = 'queued' AND lease_owner IS NOT NULL AND lease_until >= ${now}))`;
}

/**
 * The same without a time (for `counts`, which has none): a queued job counts as occupying while
 * any claim is on it.
 */
export const OCCUPYING_ANY_TIME_SQL = `((state IN ${IN_FLIGHT_STATES_SQL} AND NOT ${LATE_SQL})
    OR (state = 'queued' AND lease_owner IS NOT NULL))`;

/**
 * The admission checks, in the contract's order, on the figures the store read inside its
 * transaction: `used[i]` is what `admission.quotas[i]` has reserved that day, `unfinished` the
 * user's unfinished jobs. Throws the refusal; returns when the job may be stored.
 */
export function checkAdmission(
  admission: Admission,
  used: readonly number[],
  unfinished: number,
  /** How many jobs the admission stores at once (a batch): the cap must leave room for all. */
  jobs = 1,
): void {
  admission.quotas.forEach(({ scope, limit }, index) => {
    if (limit <= 0) return;
    const remaining = Math.max(0, limit - (used[index] ?? 0));
    if (admission.images > remaining) {
      throw new NanoBananaError('quota_exceeded', `Daily ${scope} quota reached`, {
        params: { scope, limit, remaining },
      });
    }
  });
  const max = admission.maxUnfinished;
  if (max !== undefined && unfinished + jobs > max) {
    throw new NanoBananaError('too_many_queued', 'The user has too many unfinished jobs', {
      params: { max },
    });
  }
}

/** A waiting job as `queuePositions` needs it. */
export interface WaitingJob {
  readonly id: string;
  readonly requesterId: string;
  readonly queueSeq: number;
  /** When the user was last served (`queue_users.served_seq`), 0 if never. */
  readonly servedSeq: number;
}

/**
 * A user's turn key: the later of when they were last served and when their oldest waiting job
 * was (re)queued. Both come from one counter, so no two users share a key.
 */
export function turnKey(servedSeq: number, oldestQueueSeq: number): number {
  return Math.max(servedSeq, oldestQueueSeq);
}

/**
 * One waiting job's place in line, the same as `queuePositionsOf` gives it, as one query over
 * the waiting jobs' counts per user: with the job the `rank`-th of its user's waiting jobs, every
 * user's first `rank - 1` jobs come before it, then the `rank`-th jobs of the users whose turn
 * comes first. `greatest`/`least` are the dialect's two-argument max/min (SQLite's MAX/MIN);
 * `parameter` is the job id's placeholder. No row when the job is not waiting.
 */
export function queuePositionSql(dialect: {
  readonly greatest: string;
  readonly least: string;
  readonly parameter: string;
}): string {
  const { greatest, least, parameter } = dialect;
  return `WITH waiting AS (
      SELECT id, requester_id, queue_seq FROM jobs
      WHERE state = 'queued' AND lease_owner IS NULL
    ),
    target AS (
      SELECT requester_id, queue_seq FROM waiting WHERE id = ${parameter}
    ),
    lines AS (
      SELECT waiting.requester_id, COUNT(*) AS jobs,
        ${greatest}(COALESCE(MAX(queue_users.served_seq), 0), MIN(waiting.queue_seq)) AS turn
      FROM waiting LEFT JOIN queue_users ON queue_users.requester_id = waiting.requester_id
      GROUP BY waiting.requester_id
    ),
    mine AS (
      SELECT lines.requester_id, lines.turn,
        (SELECT COUNT(*) FROM waiting
          WHERE waiting.requester_id = target.requester_id
            AND waiting.queue_seq <= target.queue_seq) AS rank
      FROM target JOIN lines ON lines.requester_id = target.requester_id
    )
    SELECT 1 + SUM(${least}(lines.jobs, mine.rank - 1))
      + SUM(CASE WHEN lines.requester_id <> mine.requester_id AND lines.jobs >= mine.rank
          AND lines.turn < mine.turn THEN 1 ELSE 0 END) AS position
    FROM mine CROSS JOIN lines
    GROUP BY mine.requester_id`;
}

/**
 * Places in line (1 = next) in the order turns would be taken if every user could start: each
 * user's oldest job in turn-key order, then each user's second, and so on.
 */
export function queuePositionsOf(waiting: readonly WaitingJob[]): Map<string, number> {
  const byUser = new Map<string, WaitingJob[]>();
  for (const job of waiting) {
    const list = byUser.get(job.requesterId);
    if (list === undefined) byUser.set(job.requesterId, [job]);
    else list.push(job);
  }
  const lines = [...byUser.values()].map((jobs) => {
    jobs.sort((first, second) => first.queueSeq - second.queueSeq);
    const oldest = jobs[0];
    const key = oldest === undefined ? 0 : turnKey(oldest.servedSeq, oldest.queueSeq);
    return { key, requesterId: oldest?.requesterId ?? '', jobs };
  });
  lines.sort(
    (first, second) =>
      first.key - second.key || first.requesterId.localeCompare(second.requesterId),
  );
  const positions = new Map<string, number>();
  const longest = Math.max(0, ...lines.map((line) => line.jobs.length));
  for (let round = 0; round < longest; round++) {
    for (const line of lines) {
      const job = line.jobs[round];
      if (job !== undefined) positions.set(job.id, positions.size + 1);
    }
  }
  return positions;
}

/** A moderation log line as both stores read it. */
export interface AuditRow {
  readonly id: number | string;
  readonly platform: string;
  readonly channel_id: string;
  readonly text: string;
  readonly created_at: number | string;
}

/** A stored line as the store hands it out (PostgreSQL's BIGINTs arrive as strings). */
export function auditLineOf(row: AuditRow): AuditLine {
  return {
    id: Number(row.id),
    platform: row.platform,
    channelId: row.channel_id,
    text: row.text,
    createdAt: Number(row.created_at),
  };
}
