import type { Job, NewJob } from './job.js';
import type { QuotaLimits } from './policy.js';

/**
 * What a chat adapter may ask of the core: the narrow port between Discord or Slack and the job
 * engine. Every call may reach the store (a PostgreSQL round trip in a fleet), so each is async;
 * nothing here exposes scheduling, leases or the store itself.
 */
export interface JobPort {
  /**
   * Runs every check `submit` runs (input, access, blocked words, quota, unfinished cap) without
   * storing anything: adapters answer refusals at once, before they acknowledge the platform.
   * Rejects with the refusal (a NanoBananaError).
   */
  check(request: NewJob): Promise<void>;
  /**
   * Checks a request and, when it passes, stores it as a job and queues it (atomically with its
   * quota reservation). Rejects with the refusal: nothing is stored or sent then.
   */
  submit(request: NewJob): Promise<Submitted>;
  /**
   * `check` for a batch (`{a, b}` groups, `--repeat`): the same checks on each request, and the
   * quotas and the unfinished cap for all of them together. Rejects with the refusal.
   */
  checkBatch(requests: readonly NewJob[]): Promise<void>;
  /**
   * Stores a batch all or nothing, with one admission for the total: when the quota (or the
   * unfinished cap) cannot cover every job, none is stored or sent. The requests share one user
   * and one server; answers in the same order. A batch whose first dedup key already made a job
   * answers with the jobs it made (`created: false`).
   */
  submitBatch(requests: readonly NewJob[]): Promise<Submitted[]>;
  /** Cancels a waiting job. Only its requester (or an operator admin) may. */
  cancel(jobId: string, userId: string): Promise<CancelOutcome>;
  getJob(jobId: string): Promise<Job | undefined>;
  /** A user's most recent jobs on a platform, newest first (for `/history`). */
  recentJobs(requesterId: string, platform: string, limit: number): Promise<Job[]>;
  /**
   * What a user has left today, per scope (undefined = unlimited), and the day's top users. With
   * the platform, the server's own daily limit (its settings) counts too.
   */
  usage(requesterId: string, serverId: string | undefined, platform?: string): Promise<Usage>;
  /** Whether the user is an operator admin (`NANO_BANANA_ADMIN_IDS`). */
  isAdmin(userId: string): boolean;
  /**
   * Whether a user may delete a job's result: its requester, a moderator (the adapter knows who
   * moderates where it is), or an operator admin.
   */
  mayDelete(job: Job, userId: string, moderator: boolean): boolean;
  /** Forgets what the store keeps of a result (after the adapter removed its messages). */
  forgetResult(jobId: string): Promise<void>;
  /** Records where an adapter put a job's messages (progress message id, thread...). */
  updateDestination(jobId: string, destination: unknown): Promise<Job | undefined>;
  /**
   * Whether a job accepted now would probably wait for a slot (paused, a line, every slot taken),
   * fleet-wide: Discord then checks the bot may post on its own once the interaction expires.
   */
  likelyToWait(): Promise<boolean>;
}

export interface Submitted {
  readonly job: Job;
  /** False when the same platform event already made this job. */
  readonly created: boolean;
  /** 1 = next; undefined once it has started. */
  readonly position: number | undefined;
}

export type CancelOutcome = 'cancelled' | 'not_found' | 'not_yours' | 'too_late';

export interface Usage {
  readonly user: number | undefined;
  readonly server: number | undefined;
  readonly total: number | undefined;
  /** Images the user reserved this ISO week (UTC, since Monday), today included. */
  readonly week: number;
  readonly limits: QuotaLimits;
  readonly topUsers: readonly { readonly requesterId: string; readonly images: number }[];
}
