import type { ErrorCode, ErrorParams } from '../errors.js';
import type { AspectRatio, Resolution } from '../models.js';
import type { AppliedDefault, RequestedOptions } from '../preferences/resolve.js';
import type { ImageAction } from '../request.js';

/**
 * A job: one user request, from the moment it is accepted until its images are delivered or its
 * failure explained. Everything the engine needs to resume it after a restart is here, and nothing
 * of any chat platform: the adapter's own data travels in `destination` and `inputs`, opaque to the
 * core.
 */

export const JOB_STATES = [
  'queued',
  'creating',
  'running',
  'delivering',
  'done',
  'failed',
  'cancelled',
  /** Made and paid for, but every way of posting it was refused: its result URLs are kept. */
  'undelivered',
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const FINAL_STATES: readonly JobState[] = ['done', 'failed', 'cancelled', 'undelivered'];

export function isFinal(state: JobState): boolean {
  return FINAL_STATES.includes(state);
}

/**
 * An input image, by reference: a public URL, or a file the adapter can fetch when the job's turn
 * comes (a Slack file id, say). Bytes are never stored.
 */
export type InputReference =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'platform'; readonly ref: string; readonly name?: string | undefined };

export interface JobOptions {
  readonly model: string;
  readonly aspectRatio?: AspectRatio | undefined;
  readonly resolution?: Resolution | undefined;
  readonly count?: number | undefined;
  /**
   * The settings the request left unsaid that a member's preferences or the server's settings
   * filled in (the result says so). Absent on jobs stored before preferences existed.
   */
  readonly appliedDefaults?: readonly AppliedDefault[] | undefined;
}

/** An error as stored and shown: the code and parameters the catalogue renders. */
export interface JobError {
  readonly code: ErrorCode;
  readonly params: ErrorParams;
  readonly traceId?: string | undefined;
}

export interface JobResult {
  readonly images: readonly { readonly url: string }[];
  readonly traceId?: string | undefined;
}

export interface Job {
  readonly id: string;
  /** `discord`, `slack`, `cli`...: which adapter delivers it. */
  readonly platform: string;
  /** The same platform event never makes two jobs. */
  readonly dedupKey: string | undefined;
  readonly requesterId: string;
  /** Discord guild or Slack workspace; undefined in a DM without one. */
  readonly serverId: string | undefined;
  readonly channelId: string;
  readonly locale: string;
  /** The requester was an operator admin when asking (quota-exempt). */
  readonly requesterIsAdmin: boolean;
  readonly action: ImageAction;
  readonly prompt: string;
  readonly options: JobOptions;
  readonly inputs: readonly InputReference[];
  /** Adapter-owned: interaction token and expiry, thread, progress message ids... */
  readonly destination: unknown;
  /** The job this one re-rolls or edits, if any. */
  readonly parentJobId: string | undefined;
  readonly state: JobState;
  /** Unix milliseconds. */
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly startedAt: number | undefined;
  readonly finishedAt: number | undefined;
  readonly taskId: string | undefined;
  readonly traceId: string | undefined;
  /** Unguessable; protects this job's callback route. */
  readonly callbackToken: string;
  /** Images held against the daily quotas (0 once released). */
  readonly reservedImages: number;
  /** The UTC day (`2026-11-24`) the reservation counts against. */
  readonly quotaDay: string;
  readonly result: JobResult | undefined;
  readonly error: JobError | undefined;
  /** Adapter-owned record of what was delivered (message ids...), for deletes and follow-ups. */
  readonly delivery: unknown;
  readonly deliveryAttempts: number;
  /** The user was already told the job timed out (its images may still come). */
  readonly timeoutNotified: boolean;
  /** The process working on it (see `JobStore.claimNext`), while leased. */
  readonly leaseOwner?: string | undefined;
  /** Until when the lease holds unless renewed (Unix milliseconds). */
  readonly leaseUntil?: number | undefined;
}

/**
 * What an adapter gives to create a job; the engine fills in the rest. There is no admin flag:
 * the engine itself knows the operator admins by their ids, and nothing else skips a quota.
 */
export interface NewJob {
  readonly platform: string;
  readonly dedupKey?: string | undefined;
  readonly requesterId: string;
  readonly serverId?: string | undefined;
  readonly channelId: string;
  /**
   * The channel a thread belongs to, when the request came from a thread that is a channel of
   * its own (Discord): a server's channel list admits the threads of a listed channel.
   */
  readonly parentChannelId?: string | undefined;
  readonly locale: string;
  readonly action: ImageAction;
  readonly prompt: string;
  /**
   * What the request said (command options, then flags typed in the prompt); what it leaves out is
   * resolved at admission: preferences, then the server's settings, then the operator's defaults.
   */
  readonly options: RequestedOptions;
  /** A style the member named (`--style cinematic`): its stored text is added to the prompt. */
  readonly style?: string | undefined;
  /**
   * The prompt was copied from an earlier job (a re-roll, a variation, an upscale): it already
   * holds the style and suffix it was made with, so admission does not add them a second time.
   */
  readonly promptIsFinal?: boolean | undefined;
  readonly inputs: readonly InputReference[];
  readonly destination: unknown;
  readonly parentJobId?: string | undefined;
}

/** Fields that change over a job's life. */
export type JobPatch = Partial<
  Pick<
    Job,
    | 'state'
    | 'startedAt'
    | 'finishedAt'
    | 'taskId'
    | 'traceId'
    | 'reservedImages'
    | 'result'
    | 'error'
    | 'delivery'
    | 'deliveryAttempts'
    | 'timeoutNotified'
    | 'destination'
  >
>;

export interface QuotaScope {
  readonly day: string;
  readonly requesterId?: string;
  readonly serverId?: string;
  /** Only jobs without a server: direct messages, which share a daily bucket of their own. */
  readonly directMessages?: boolean;
}
