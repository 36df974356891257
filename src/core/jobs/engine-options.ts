import type { NanoBananaClient } from '../api/client.js';
import type { Clock } from '../clock.js';
import type { NanoBananaError } from '../errors.js';
import type { ImageFile, InputImage, PreparedInputImage } from '../images/index.js';
import type { Logger } from '../logger.js';
import type { RequestLimits } from '../request.js';
import type { TaskFollower } from '../task-follower.js';
import type { Job, NewJob } from './job.js';
import type { EngineLimits } from './limits.js';
import type { AccessPolicy, QuotaLimits } from './policy.js';
import type { JobStore } from './store.js';

/** What a `JobEngine` is made of, what it reports, and what it tells its listeners. */

export interface JobEngineOptions {
  readonly store: JobStore;
  readonly client: Pick<NanoBananaClient, 'create'>;
  readonly follower: Pick<TaskFollower, 'follow' | 'nudge'>;
  readonly requestLimits: RequestLimits;
  readonly access: AccessPolicy;
  readonly quotas: QuotaLimits;
  readonly limits?: Partial<EngineLimits>;
  /** When set, tasks carry `callback_url` = this + `/callbacks/nano-banana/<job>/<token>`. */
  readonly publicUrl?: string | undefined;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Downloads a result image; injected by tests and benchmarks. */
  readonly download?: (url: string, signal: AbortSignal) => Promise<ImageFile>;
  /**
   * Origins the default download fetches results from as they are (the API's own: its mock
   * serves them on loopback); results elsewhere (the API's CDN) come from public addresses only.
   */
  readonly resultOrigins?: readonly string[];
  readonly prepareInput?: (image: InputImage, signal: AbortSignal) => Promise<PreparedInputImage>;
  /** How often the store is asked for work without being told of any; default 1 s. */
  readonly pollEveryMs?: number;
  /** How long a claimed job stays this engine's without a renewal; default 30 s. */
  readonly leaseMs?: number;
  /**
   * Take over every leased job at start, expired or not, as left over from before a restart.
   * Default: when the store is SQLite (its file lock keeps other processes out) and no other engine
   * of this process was started over the same store object.
   */
  readonly takeOverAllAtStart?: boolean;
}

export interface EngineStats {
  /** Jobs waiting in line, fleet-wide (as last read). */
  readonly queued: number;
  /** Jobs this process runs within the slots. */
  readonly inFlight: number;
  readonly paused: boolean;
  readonly accepting: boolean;
  /** Jobs holding a slot, fleet-wide (as last read). */
  readonly fleetRunning: number;
}

export interface EngineEvents {
  /** A new job was stored and queued (through this process): the moderation log's first line. */
  accepted: [job: Job];
  /**
   * A request was refused by an admission check (blocked words, access, quota...), in `check` or
   * `submit`: nothing was stored. The moderation log records the blocked-word refusals.
   */
  refused: [request: NewJob, error: NanoBananaError];
  /** A job reached a final state (through this process). */
  finished: [job: Job];
  /**
   * This process claimed a job, `waitMs` after it became eligible (its insert's commit, or its
   * return to the line after a refused create): the claim latency `/metrics` reports. Told once
   * that time is known, which may be a little after the claim (see `Scheduler.noteEligible`).
   */
  claimed: [job: Job, waitMs: number];
  /** A create was sent and answered (or failed), with its latency. */
  created: [durationMs: number, ok: boolean];
  /** Images were handed to an adapter, with the time it took. */
  delivered: [job: Job, durationMs: number];
}
