import type { Job, JobPatch, JobState, QuotaScope } from './job.js';

/**
 * Where jobs live, for one process (SQLite, the embedded default) or a fleet of processes over one
 * PostgreSQL database. Every call is asynchronous and every guarantee below holds across processes:
 * one contract test suite runs against both implementations (test/store-contract.ts).
 *
 * Times are Unix milliseconds given by the caller (the engine's clock), never read by the store,
 * so that tests drive them.
 */
export interface JobStore {
  /** `sqlite` or `postgres`: for logs, `/readyz` and metrics. */
  readonly kind: StoreKind;

  // --- Jobs -------------------------------------------------------------------------------------

  /**
   * Stores a new job, atomically with its admission checks: when `admission` is given, the daily
   * quotas and the user's unfinished-job cap are checked and the job inserted in one transaction
   * serialised against every other admission in the fleet, so 20 processes racing for a user's
   * last image grant it once. A taken dedup key returns the existing job (`inserted: false`)
   * before any check. A refused admission stores nothing.
   */
  insert(job: Job, admission?: Admission): Promise<InsertOutcome>;
  get(id: string): Promise<Job | undefined>;
  /** The job a platform event already made, if any. */
  getByDedupKey(dedupKey: string): Promise<Job | undefined>;
  /** Applies a patch (and `updatedAt`), returning the updated job; undefined if the job is gone. */
  update(id: string, patch: JobPatch, now: number): Promise<Job | undefined>;
  /**
   * Applies the patch only if the job is in one of `from` (and, with `owner`, still leased by that
   * owner): the guard against two paths or two processes acting on one job. Returns the updated
   * job, or undefined. A transition to a final state, or back to `queued`, also clears the lease.
   * A transition to `creating` is durable before it returns (it precedes a paid create).
   */
  transition(
    id: string,
    from: readonly JobState[],
    patch: JobPatch & { state: JobState },
    now: number,
    owner?: string,
  ): Promise<Job | undefined>;
  /**
   * Sets `timeoutNotified` if it was not set and the job is not final: true for the one caller
   * (in the whole fleet) that gets to tell the user.
   */
  markTimeoutNotified(id: string, now: number): Promise<Job | undefined>;
  /** Jobs in these states, oldest first (by creation). */
  listByState(states: readonly JobState[]): Promise<Job[]>;
  /** Unfinished jobs created at or before `createdBefore` (deadline sweeps), oldest first. */
  listUnfinishedCreatedBefore(createdBefore: number, limit: number): Promise<Job[]>;
  /** Images reserved on that day by the scope (a user, a server, or everyone). */
  reservedImages(scope: QuotaScope): Promise<number>;
  /** The users who reserved most images that day, for moderators and operator admins. */
  topUsers(
    day: string,
    serverId: string | undefined,
    limit: number,
  ): Promise<{ requesterId: string; images: number }[]>;
  /** Unfinished jobs (waiting or in flight) of one user, fleet-wide. */
  unfinishedJobs(requesterId: string): Promise<number>;
  /**
   * Deletes final jobs last updated before `before`, and named leases that expired before it;
   * returns how many jobs.
   */
  prune(before: number): Promise<number>;
  /** Deletes one job and everything kept of it. */
  delete(id: string): Promise<boolean>;

  /**
   * Stores several jobs atomically under ONE admission covering them all (`admission.images` is
   * their total, and the unfinished-job cap must leave room for every one): all are stored or
   * none (a batch from one command). If any job's dedup key is taken, nothing is inserted and the
   * jobs that exist are returned (`inserted: false`). Jobs are queued in the order given.
   */
  insertMany(jobs: readonly Job[], admission?: Admission): Promise<InsertOutcome[]>;

  // --- Scheduling: one fair queue for the fleet ---------------------------------------------------

  /**
   * Claims the next job to run, atomically for the whole fleet, or undefined when none may start:
   * - a job may be claimed when it is `queued`, has no live lease, and its platform is one of
   *   `platforms` (a process claims only what it can deliver);
   * - a job *occupies a slot* while it is leased and unfinished, except a job told it timed out
   *   whose task exists (`timeoutNotified` and `running`/`delivering`): it is followed outside the
   *   limits. Nothing is claimed while `maxConcurrent` slots are occupied fleet-wide, nor for a user
   *   with `maxPerUser` occupied;
   * - users are served round-robin: each user has a turn key, the later of when they were last
   *   served and when their oldest waiting job was (re)queued; the eligible user with the smallest
   *   key is served, their oldest waiting job claimed, and their key moved to the back.
   * The claimed job stays `queued`, leased by `owner` until `leaseUntil`.
   */
  claimNext(claim: ClaimRequest): Promise<Job | undefined>;
  /** Extends the leases of the owner's unfinished jobs; returns how many it still holds. */
  renewLeases(owner: string, leaseUntil: number, now: number): Promise<number>;
  /**
   * Takes over unfinished jobs whose lease expired before `now` (their process died), leasing them
   * to `owner` until `leaseUntil`, at most `limit`; with `allOwners`, every leased job regardless of
   * expiry (the embedded store's single process, at start). Expired `queued` jobs are not returned:
   * their lease is cleared and they wait in line again, keeping their place.
   */
  takeOverExpired(request: TakeOverRequest): Promise<Job[]>;
  /** Gives up the owner's leases (a clean stop): other processes may take the jobs at once. */
  releaseLeases(owner: string, now: number): Promise<number>;
  /**
   * Every waiting (unclaimed `queued`) job's place in line, 1 = next, in the order turns would be
   * taken if every user could start: each user's oldest job in turn-key order, then each user's
   * second, and so on. Fleet-wide.
   */
  queuePositions(): Promise<Map<string, number>>;
  /**
   * One waiting job's place in line, as `queuePositions` would give it, counted by the database
   * (an answer per submit without reading the whole line); undefined if it is not waiting.
   */
  queuePosition(jobId: string): Promise<number | undefined>;
  /** Fleet-wide counts for metrics and `/readyz`. */
  counts(): Promise<StoreCounts>;

  // --- Shared state ---------------------------------------------------------------------------------

  /**
   * Holds a named lease (a singleton's turn: pruning, command registration, a Discord shard, an
   * identify bucket) when it is free, expired, or already the owner's; true if now held until
   * `until`.
   */
  acquireLock(name: string, owner: string, now: number, until: number): Promise<boolean>;
  /** Releases a named lease if the owner holds it. */
  releaseLock(name: string, owner: string): Promise<void>;
  /** Who holds a named lease now, if anyone (expired leases are free). */
  lockHolder(name: string, now: number): Promise<string | undefined>;
  /**
   * How many live (unexpired) named leases start with `prefix`: e.g. the processes that each
   * hold `discord-process:<owner>`, to share a budget among them.
   */
  countLocks(prefix: string, now: number): Promise<number>;
  /** New creates are paused fleet-wide until then (the balance was used up): keeps the later. */
  pauseCreatesUntil(until: number): Promise<number>;
  /** Until when creates are paused (0 or a past time when they are not). */
  pausedUntil(): Promise<number>;

  /**
   * Tells every process (this one included) of a change: PostgreSQL's NOTIFY, an in-process event
   * for SQLite. Delivery is best-effort: listeners also poll.
   */
  publish(event: StoreEvent): Promise<void>;
  /** Listens to published events; returns the unsubscribe. */
  subscribe(listener: (event: StoreEvent) => void): () => void;

  // --- Settings, history, the moderation log ---------------------------------------------------

  /**
   * A stored settings document (a server's settings, a member's preferences), as the JSON value
   * saved, or undefined. The core validates what it reads: the store only keeps it.
   */
  getSettings(scope: SettingsScope, key: string): Promise<unknown>;
  /** Replaces a settings document; `undefined` deletes it. */
  putSettings(scope: SettingsScope, key: string, value: unknown, now: number): Promise<void>;
  /** A user's most recent jobs on one platform, newest first, final or not. */
  recentJobs(requesterId: string, platform: string, limit: number): Promise<Job[]>;
  /** Images a user reserved on quota days `fromDay` to `toDay` inclusive (`YYYY-MM-DD`). */
  reservedImagesBetween(requesterId: string, fromDay: string, toDay: string): Promise<number>;
  /**
   * The moderation log's outbox: any process appends lines as jobs are accepted or end, and one
   * process at a time (under a named lock) posts them, so that a busy log never holds a job and
   * a restart loses no line.
   */
  appendAuditLines(lines: readonly NewAuditLine[], now: number): Promise<void>;
  /** The oldest lines not yet posted, oldest first, at most `limit`. */
  pendingAuditLines(limit: number): Promise<AuditLine[]>;
  /** Forgets lines once posted (or given up on). */
  deleteAuditLines(ids: readonly number[]): Promise<void>;

  /** True while the store answers (for `/readyz`). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export type StoreKind = 'sqlite' | 'postgres';

/** Whose settings a document holds: a server's (Discord guild, Slack workspace) or a member's. */
export type SettingsScope = 'server' | 'user';

/** A line for a moderation log channel, already written in its final text. */
export interface NewAuditLine {
  readonly platform: string;
  readonly channelId: string;
  readonly text: string;
}

export interface AuditLine extends NewAuditLine {
  /** Increasing in the order lines were appended. */
  readonly id: number;
  readonly createdAt: number;
}

export interface InsertOutcome {
  readonly job: Job;
  readonly inserted: boolean;
}

/** What an insert is admitted against; a refusal throws a NanoBananaError and stores nothing. */
export interface Admission {
  readonly day: string;
  /** Images this job reserves (0 for an operator admin's). */
  readonly images: number;
  /** Daily limits: `quota_exceeded` with `{ scope, limit, remaining }`; 0 or less = unlimited. */
  readonly quotas: readonly {
    readonly scope: QuotaScopeName;
    readonly limit: number;
    readonly of: QuotaScope;
  }[];
  /** The user's unfinished jobs cap: `too_many_queued` with `{ max }`; undefined = no cap. */
  readonly maxUnfinished?: number | undefined;
}

export type QuotaScopeName = 'user' | 'server' | 'dm' | 'total';

export interface ClaimRequest {
  readonly owner: string;
  readonly platforms: readonly string[];
  readonly maxConcurrent: number;
  readonly maxPerUser: number;
  readonly now: number;
  readonly leaseUntil: number;
}

export interface TakeOverRequest {
  readonly owner: string;
  readonly now: number;
  readonly leaseUntil: number;
  readonly platforms: readonly string[];
  readonly limit: number;
  readonly allOwners?: boolean;
}

export interface StoreCounts {
  /** Unclaimed `queued` jobs. */
  readonly queued: number;
  /** Jobs occupying a slot (see `claimNext`). */
  readonly running: number;
  /** Jobs followed past their timeout, outside the limits. */
  readonly late: number;
}

/** What processes tell each other through the store. */
export type StoreEvent =
  /**
   * A job became claimable, or a slot was freed: worth a claim attempt. With `jobId`, that job was
   * just stored, claimable since `eligibleAt` (its insert's commit): claim latency counts from it.
   */
  | {
      readonly kind: 'queue';
      readonly jobId?: string | undefined;
      readonly eligibleAt?: number | undefined;
    }
  /** A callback for a job arrived at some process: its owner asks the API now. */
  | { readonly kind: 'callback'; readonly jobId: string }
  /** A job was cancelled or deleted: its owner stops any work on it. */
  | { readonly kind: 'cancel'; readonly jobId: string }
  /** Creates are paused fleet-wide until then. */
  | { readonly kind: 'pause'; readonly until: number };
