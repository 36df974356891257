export interface EngineLimits {
  /** Jobs in flight at once, fleet-wide (`NANO_BANANA_MAX_CONCURRENT_JOBS`, default 8). */
  readonly maxConcurrentJobs: number;
  /** Jobs in flight at once for one user, fleet-wide (`NANO_BANANA_MAX_JOBS_PER_USER`, default 2). */
  readonly maxJobsPerUser: number;
  /**
   * Unfinished jobs (waiting or in flight) one user may have; more are refused, so that a burst of
   * clicks cannot queue paid work without end (`NANO_BANANA_MAX_QUEUED_PER_USER`, default 10).
   */
  readonly maxQueuedPerUser: number;
  /** After this the user is told `timeout` (`NANO_BANANA_JOB_TIMEOUT`, default 15 minutes). */
  readonly jobTimeoutMs: number;
  /** A task still unfinished this long after the job began is given up; default 2 hours. */
  readonly giveUpAfterMs: number;
  /** Final jobs are deleted after this (`NANO_BANANA_RETENTION_DAYS`, default 30 days). */
  readonly retentionMs: number;
  /** How often jobs past the retention period are looked for, besides at start; default 6 hours. */
  readonly pruneEveryMs: number;
  /** New creates wait this long after the API says the balance is used up; default 10 minutes. */
  readonly usedUpPauseMs: number;
  /** Delivery attempts before giving up; default 4. */
  readonly deliveryAttempts: number;
  /** How often a running job reports its elapsed time; default 15 s. */
  readonly progressEveryMs: number;
  /** The largest result image downloaded; default 100 MiB. */
  readonly maxResultBytes: number;
}

export const DEFAULT_ENGINE_LIMITS = {
  maxConcurrentJobs: 8,
  maxJobsPerUser: 2,
  maxQueuedPerUser: 10,
  jobTimeoutMs: 15 * 60_000,
  giveUpAfterMs: 2 * 60 * 60_000,
  retentionMs: 30 * 24 * 60 * 60_000,
  pruneEveryMs: 6 * 60 * 60_000,
  usedUpPauseMs: 10 * 60_000,
  deliveryAttempts: 4,
  progressEveryMs: 15_000,
  maxResultBytes: 100 * 1024 * 1024,
} satisfies Required<EngineLimits>;
