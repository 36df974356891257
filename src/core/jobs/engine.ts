import { randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { NanoBananaClient } from '../api/client.js';
import { MAX_RETRY_AFTER_MS } from '../api/retry.js';
import { type Clock, systemClock } from '../clock.js';
import {
  NanoBananaError as Failure,
  invalidInput,
  type NanoBananaError,
  toNanoBananaError,
} from '../errors.js';
import { WorkLimiter } from '../images/fit.js';
import {
  downloadImage,
  downloadWithRetry,
  type ImageFile,
  type InputImage,
  type PreparedInputImage,
  prepareInputImage,
} from '../images/index.js';
import { type Logger, silentLogger } from '../logger.js';
import { type ImageRequest, type RequestLimits, validateRequest } from '../request.js';
import type { TaskFollower, TaskResult } from '../task-follower.js';
import type { PlatformAdapter, ProgressEvent, ResultImageFile } from './adapter.js';
import { FairQueue } from './fair-queue.js';
import {
  isFinal,
  type Job,
  type JobError,
  type JobPatch,
  type JobState,
  type JobStore,
  type NewJob,
} from './job.js';
import {
  type AccessPolicy,
  checkAccess,
  checkBlockedWords,
  checkQuota,
  type QuotaLimits,
  remainingQuota,
  utcDay,
} from './policy.js';

export interface EngineLimits {
  /** Jobs in flight at once (`NANO_BANANA_MAX_CONCURRENT_JOBS`, default 8). */
  readonly maxConcurrentJobs: number;
  /** Jobs in flight at once for one user (`NANO_BANANA_MAX_JOBS_PER_USER`, default 2). */
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
}

export interface Submitted {
  readonly job: Job;
  /** False when the same platform event already made this job. */
  readonly created: boolean;
  /** 1 = next; undefined once it has started. */
  readonly position: number | undefined;
}

export interface EngineStats {
  readonly queued: number;
  readonly inFlight: number;
  readonly paused: boolean;
  readonly accepting: boolean;
}

export interface EngineEvents {
  /** A job reached a final state. */
  finished: [job: Job];
  /** A create was sent and answered (or failed), with its latency. */
  created: [durationMs: number, ok: boolean];
  /** Images were handed to an adapter, with the time it took. */
  delivered: [job: Job, durationMs: number];
}

export const CALLBACK_PATH_PREFIX = '/callbacks/nano-banana/';

/** Jobs fetching and sending inline input images at once (see `#run`). */
const INLINE_INPUT_JOBS = 2;
/**
 * The inline (`data:` URL) input images of one job together, in bytes before base64: each file may
 * be 10 MB, and a request many times that is refused or slow upstream and heavy here.
 */
export const MAX_INLINE_INPUT_BYTES = 30_000_000;

/** In flight: the job's own abort (for shutdown) and what it is doing now. */
interface Running {
  readonly controller: AbortController;
  readonly userId: string;
  done: Promise<void>;
}

/**
 * The job engine: takes requests, stores them before anyone is told they were accepted, runs them
 * fairly within limits, follows their tasks, and delivers through the adapters. It knows nothing
 * of Discord or Slack. Everything a restart needs is in the store.
 */
export class JobEngine extends EventEmitter<EngineEvents> {
  readonly #store: JobStore;
  readonly #client: Pick<NanoBananaClient, 'create'>;
  readonly #follower: Pick<TaskFollower, 'follow' | 'nudge'>;
  readonly #requestLimits: RequestLimits;
  readonly #access: AccessPolicy;
  readonly #quotas: QuotaLimits;
  readonly #limits: EngineLimits;
  readonly #publicUrl: string | undefined;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #download: (url: string, signal: AbortSignal) => Promise<ImageFile>;
  readonly #prepareInput: (image: InputImage, signal: AbortSignal) => Promise<PreparedInputImage>;
  readonly #adapters = new Map<string, PlatformAdapter>();
  readonly #queue = new FairQueue();
  readonly #running = new Map<string, Running>();
  readonly #runningPerUser = new Map<string, number>();
  /** Jobs whose task is followed past the timeout, outside the concurrency slots. */
  readonly #lateFollows = new Map<string, Running>();
  readonly #lastPositions = new Map<string, number>();
  /** Each unfinished job's timeout timers, cleared when it ends. */
  readonly #timers = new Map<string, NodeJS.Timeout[]>();
  readonly #inlineInputWork = new WorkLimiter(INLINE_INPUT_JOBS);
  #pausedUntil = 0;
  #started = false;
  #accepting = true;
  #stopping = false;
  #progressTimer: NodeJS.Timeout | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #pauseTimer: NodeJS.Timeout | undefined;

  constructor(options: JobEngineOptions) {
    super();
    this.#store = options.store;
    this.#client = options.client;
    this.#follower = options.follower;
    this.#requestLimits = options.requestLimits;
    this.#access = options.access;
    this.#quotas = options.quotas;
    this.#limits = { ...DEFAULT_ENGINE_LIMITS, ...options.limits };
    this.#publicUrl = options.publicUrl?.replace(/\/+$/, '');
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#download =
      options.download ??
      ((url, signal) =>
        downloadImage(url, {
          maxBytes: this.#limits.maxResultBytes,
          timeoutMs: 120_000,
          signal,
          trustedOrigins: options.resultOrigins,
        }));
    this.#prepareInput =
      options.prepareInput ?? ((image, signal) => prepareInputImage(image, { signal }));
  }

  /** Adapters register before `start()`: resuming waits for whoever delivers each platform. */
  registerAdapter(adapter: PlatformAdapter): void {
    this.#adapters.set(adapter.platform, adapter);
    if (this.#started) this.#resume(adapter.platform);
  }

  /** Resumes every unfinished job of the registered platforms, then runs new ones as they come. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.prune();
    for (const platform of this.#adapters.keys()) this.#resume(platform);
    this.#progressTimer = setInterval(() => this.#reportProgress(), this.#limits.progressEveryMs);
    this.#progressTimer.unref();
    this.#pruneTimer = setInterval(() => this.prune(), this.#limits.pruneEveryMs);
    this.#pruneTimer.unref();
  }

  get stats(): EngineStats {
    return {
      queued: this.#queue.size,
      inFlight: this.#running.size,
      paused: this.#pausedUntil > this.#clock.now(),
      accepting: this.#accepting,
    };
  }

  getJob(jobId: string): Job | undefined {
    return this.#store.get(jobId);
  }

  /** Whether the user is an operator admin (`NANO_BANANA_ADMIN_IDS`). */
  isAdmin(userId: string): boolean {
    return this.#access.adminIds.has(userId);
  }

  /**
   * Checks a request and, when it passes, stores it as a job and queues it. Throws a NanoBananaError
   * for a refusal (bad input, not allowed, blocked word, quota): nothing is stored or sent then.
   */
  submit(request: NewJob): Submitted {
    if (!this.#accepting) throw new Failure('unavailable', 'The engine is stopping');
    // The same platform event twice (a retried delivery, a message seen as mention and message)
    // answers with the job it already made, before any check could refuse it.
    const existing =
      request.dedupKey === undefined ? undefined : this.#store.getByDedupKey(request.dedupKey);
    if (existing !== undefined) {
      return { job: existing, created: false, position: this.#queue.positions().get(existing.id) };
    }
    const { validated, images, day, isAdmin } = this.#admit(request);
    const now = this.#clock.now();
    const job: Job = {
      id: newId(),
      platform: request.platform,
      dedupKey: request.dedupKey,
      requesterId: request.requesterId,
      serverId: request.serverId,
      channelId: request.channelId,
      locale: request.locale,
      requesterIsAdmin: isAdmin,
      action: validated.action,
      prompt: validated.prompt,
      options: {
        model: validated.model,
        aspectRatio: validated.aspectRatio,
        resolution: validated.resolution,
        count: validated.count,
      },
      inputs: request.inputs,
      destination: request.destination,
      parentJobId: request.parentJobId,
      state: 'queued',
      createdAt: now,
      updatedAt: now,
      startedAt: undefined,
      finishedAt: undefined,
      taskId: undefined,
      traceId: undefined,
      callbackToken: randomBytes(24).toString('base64url'),
      reservedImages: isAdmin ? 0 : images,
      quotaDay: day,
      result: undefined,
      error: undefined,
      delivery: undefined,
      deliveryAttempts: 0,
      timeoutNotified: false,
    };
    const { job: stored, inserted } = this.#store.insert(job);
    if (!inserted)
      return { job: stored, created: false, position: this.#queue.positions().get(stored.id) };
    this.#logger.info(
      { jobId: stored.id, platform: stored.platform, action: stored.action },
      'Job accepted',
    );
    this.#enqueue(stored);
    const position = this.#queue.positions().get(stored.id);
    if (position !== undefined) this.#lastPositions.set(stored.id, position);
    // Let the caller tell the user "accepted" first; the queue moves right after.
    queueMicrotask(() => this.#pump());
    return { job: stored, created: true, position };
  }

  /**
   * Runs every check `submit` runs (input, access, blocked words, quota) without storing anything:
   * adapters answer refusals at once, before they acknowledge the platform. Throws the refusal.
   */
  check(request: NewJob): void {
    if (!this.#accepting) throw new Failure('unavailable', 'The engine is stopping');
    // An event already turned into a job (redelivered after a restart, say) is not refused now:
    // `submit` answers with that job.
    if (request.dedupKey !== undefined && this.#store.getByDedupKey(request.dedupKey) !== undefined)
      return;
    this.#admit(request);
  }

  #admit(request: NewJob) {
    checkAccess(this.#access, { serverId: request.serverId, channelId: request.channelId });
    const validated = this.#validate(request);
    checkBlockedWords(this.#access, validated.prompt);
    const images = validated.count ?? 1;
    const day = utcDay(this.#clock.now());
    // Only the operator admins skip the daily quotas. A platform's own admins (a Discord
    // server's Administrator, a Slack workspace admin) get no exemption: anyone can create a
    // server and invite the bot, and the credits are the operator's.
    const isAdmin = this.isAdmin(request.requesterId);
    this.#checkQueued(request.requesterId);
    if (!isAdmin) {
      checkQuota(this.#store, this.#quotas, {
        day,
        requesterId: request.requesterId,
        serverId: request.serverId,
        images,
      });
    }
    return { validated, images, day, isAdmin };
  }

  /** Refuses a user's job past `maxQueuedPerUser` unfinished ones (operator admins excepted). */
  #checkQueued(userId: string): void {
    if (this.isAdmin(userId)) return;
    let unfinished = this.#queue.waitingFor(userId);
    // A job the API turned away is back in line while its turn still holds its slot: once.
    for (const [jobId, running] of this.#running) {
      if (running.userId === userId && !this.#queue.has(jobId)) unfinished += 1;
    }
    if (unfinished >= this.#limits.maxQueuedPerUser) {
      throw new Failure('too_many_queued', 'The user has too many unfinished jobs', {
        params: { max: this.#limits.maxQueuedPerUser },
      });
    }
  }

  /** Cancels a waiting job. Only its requester (or an operator admin) may. */
  cancel(jobId: string, userId: string): 'cancelled' | 'not_found' | 'not_yours' | 'too_late' {
    const job = this.#store.get(jobId);
    if (job === undefined) return 'not_found';
    if (job.requesterId !== userId && !this.isAdmin(userId)) return 'not_yours';
    const cancelled = this.#store.transition(
      jobId,
      ['queued'],
      { state: 'cancelled', finishedAt: this.#clock.now(), reservedImages: 0 },
      this.#clock.now(),
    );
    if (cancelled === undefined) return 'too_late';
    // A job whose turn came is `queued` until its create is sent, while it fetches and prepares its
    // inputs (a large download, say): that work stops now, and its slot is freed.
    this.#running.get(jobId)?.controller.abort();
    this.#queue.remove(jobId);
    this.#lastPositions.delete(jobId);
    this.#finished(cancelled);
    void this.#notify(cancelled, { kind: 'cancelled' });
    this.#reportPositions();
    return 'cancelled';
  }

  /** What a user has left today, per scope (undefined = unlimited). */
  usage(requesterId: string, serverId: string | undefined) {
    const day = utcDay(this.#clock.now());
    const remaining = this.isAdmin(requesterId)
      ? { user: undefined, server: undefined, total: undefined }
      : remainingQuota(this.#store, this.#quotas, { day, requesterId, serverId });
    return {
      ...remaining,
      limits: this.#quotas,
      topUsers: this.#store.topUsers(day, serverId, 5),
    };
  }

  /**
   * Whether a user may delete a job's result: its requester, a moderator (the adapter knows who
   * moderates where it is: Manage Messages on Discord, a workspace admin on Slack), or an
   * operator admin. Deleting spends nothing, so moderators may.
   */
  mayDelete(job: Job, userId: string, moderator: boolean): boolean {
    return job.requesterId === userId || moderator || this.isAdmin(userId);
  }

  /** Forgets what the store keeps of a result (after the adapter removed its messages). */
  forgetResult(jobId: string): void {
    this.#store.update(jobId, { result: undefined, delivery: undefined }, this.#clock.now());
  }

  /** Records where an adapter put a job's messages (progress message id, thread...). */
  updateDestination(jobId: string, destination: unknown): Job | undefined {
    return this.#store.update(jobId, { destination }, this.#clock.now());
  }

  /** The callback URL of a job, when the service has a public URL. */
  callbackUrl(job: Job): string | undefined {
    if (this.#publicUrl === undefined) return undefined;
    return `${this.#publicUrl}${CALLBACK_PATH_PREFIX}${job.id}/${job.callbackToken}`;
  }

  /**
   * A callback arrived. It is only a hint: when the token matches a running job, the task is asked
   * for at once through the tasks endpoint, whose answer decides. Anything else changes nothing.
   */
  handleCallback(jobId: string, token: string): boolean {
    const job = this.#store.get(jobId);
    if (job === undefined || !sameSecret(job.callbackToken, token)) return false;
    if (job.taskId !== undefined && job.state === 'running') this.#follower.nudge(job.taskId);
    return true;
  }

  /** Deletes final jobs older than the retention period. */
  prune(): number {
    const removed = this.#store.prune(this.#clock.now() - this.#limits.retentionMs);
    if (removed > 0) this.#logger.info({ removed }, 'Old jobs pruned');
    return removed;
  }

  /**
   * Stops taking requests, lets deliveries under way finish for up to `graceMs`, and leaves every
   * other job in the store for the next start.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.#accepting = false;
    this.#stopping = true;
    clearInterval(this.#progressTimer);
    clearInterval(this.#pruneTimer);
    clearTimeout(this.#pauseTimer);
    for (const timers of this.#timers.values()) for (const timer of timers) clearTimeout(timer);
    this.#timers.clear();
    const all = [...this.#running.values(), ...this.#lateFollows.values()];
    const waiting = Promise.allSettled(all.map((running) => running.done));
    const timer = setTimeout(() => {
      for (const running of all) running.controller.abort();
    }, graceMs);
    // Jobs only following their task have nothing to finish: stop them at once.
    for (const [jobId, running] of [...this.#running, ...this.#lateFollows]) {
      const state = this.#store.get(jobId)?.state;
      if (state === 'running' || state === 'queued') running.controller.abort();
    }
    await waiting;
    clearTimeout(timer);
  }

  #validate(request: NewJob): ImageRequest {
    // Platform inputs are fetched later; a placeholder stands for each in the checks that count them.
    const imageUrls = request.inputs.map((input) =>
      input.kind === 'url' ? input.url : 'data:image/png;base64,',
    );
    return validateRequest(
      {
        action: request.action,
        prompt: request.prompt,
        model: request.options.model,
        aspectRatio: request.options.aspectRatio,
        resolution: request.options.resolution,
        count: request.options.count,
        imageUrls,
      },
      this.#requestLimits,
    );
  }

  #resume(platform: string): void {
    const jobs = this.#store
      .listByState(['queued', 'creating', 'running', 'delivering'])
      .filter((job) => job.platform === platform);
    for (const job of jobs) {
      if (this.#running.has(job.id) || this.#queue.has(job.id) || this.#lateFollows.has(job.id))
        continue;
      switch (job.state) {
        case 'queued':
          this.#enqueue(job);
          break;
        case 'creating':
          // The create may or may not have reached the service: sending it again could make a
          // second paid task. End it plainly; the user can try again.
          this.#fail(job, { code: 'interrupted', params: {} }, true);
          break;
        case 'running':
        case 'delivering':
          this.#scheduleTimeout(job);
          this.#occupy(job, (signal) => this.#continue(job, signal));
          // Told it timed out before the restart: it follows its task outside the slots, as it
          // did then, rather than block everyone until the give-up.
          if (job.state === 'running' && job.timeoutNotified) this.#followLate(job.id);
          break;
        default:
          break;
      }
    }
    this.#pump();
  }

  #enqueue(job: Job): void {
    this.#queue.push(job.id, job.requesterId);
    this.#scheduleTimeout(job);
  }

  /** Starts waiting jobs while there is room, round-robin across users. */
  #pump(): void {
    if (this.#stopping || !this.#started) return;
    if (this.#pausedUntil > this.#clock.now()) return;
    while (this.#running.size < this.#limits.maxConcurrentJobs) {
      const jobId = this.#queue.take(
        (userId) => (this.#runningPerUser.get(userId) ?? 0) < this.#limits.maxJobsPerUser,
      );
      if (jobId === undefined) break;
      this.#lastPositions.delete(jobId);
      const job = this.#store.get(jobId);
      if (job === undefined || job.state !== 'queued') continue;
      if (!this.#adapters.has(job.platform)) {
        this.#queue.push(job.id, job.requesterId);
        break;
      }
      this.#occupy(job, (signal) => this.#run(job, signal));
    }
    this.#reportPositions();
  }

  #occupy(job: Job, work: (signal: AbortSignal) => Promise<void>): void {
    if (this.#running.has(job.id)) return;
    const controller = new AbortController();
    const running: Running = { controller, userId: job.requesterId, done: Promise.resolve() };
    this.#running.set(job.id, running);
    this.#runningPerUser.set(job.requesterId, (this.#runningPerUser.get(job.requesterId) ?? 0) + 1);
    running.done = work(controller.signal)
      .catch((error: unknown) => {
        this.#logger.error({ jobId: job.id, err: error }, 'Job failed unexpectedly');
        const current = this.#store.get(job.id);
        if (current !== undefined && !isFinal(current.state) && !controller.signal.aborted) {
          this.#fail(current, toJobError(toNanoBananaError(error)), true);
        }
      })
      .finally(() => this.#release(job.id, job.requesterId));
  }

  #release(jobId: string, userId: string): void {
    if (!this.#running.delete(jobId)) return;
    const count = (this.#runningPerUser.get(userId) ?? 1) - 1;
    if (count <= 0) this.#runningPerUser.delete(userId);
    else this.#runningPerUser.set(userId, count);
    this.#pump();
  }

  /** One job's turn: fetch its inputs, create the task, follow it, deliver. */
  async #run(queued: Job, signal: AbortSignal): Promise<void> {
    await this.#notify(queued, { kind: 'started' });
    let created: { job: Job; requestBytes: number } | undefined;
    if (queued.inputs.some((input) => input.kind === 'platform')) {
      // A platform's files go to the API inline, as data: URLs of up to 13 MB each, held several
      // times over while they are downloaded, encoded and sent: a burst of edits takes its turn
      // here, a few at a time. Nothing that big is kept once the task exists.
      try {
        created = await this.#inlineInputWork.run(() => this.#create(queued, signal), signal);
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
    } else {
      created = await this.#create(queued, signal);
    }
    if (created === undefined) return;
    // The timeout came while the create was under way: now that the task exists, the job leaves
    // its slot as it would have had the timeout come a moment later.
    if (created.job.timeoutNotified && this.#followLate(created.job.id)) this.#pump();
    await this.#followAndDeliver(created.job, signal, created.requestBytes);
  }

  /** Fetches a job's inputs and creates its task; the running job, or undefined when it ended. */
  async #create(
    queued: Job,
    signal: AbortSignal,
  ): Promise<{ job: Job; requestBytes: number } | undefined> {
    const log = this.#logger.child({ jobId: queued.id });
    let imageUrls: string[];
    try {
      imageUrls = await this.#prepareInputs(queued, signal);
    } catch (error) {
      if (signal.aborted) return;
      this.#fail(queued, toJobError(toNanoBananaError(error)), true);
      return undefined;
    }
    const request: ImageRequest = {
      action: queued.action,
      prompt: queued.prompt,
      model: queued.options.model,
      imageUrls,
      ...(queued.options.aspectRatio ? { aspectRatio: queued.options.aspectRatio } : {}),
      ...(queued.options.resolution ? { resolution: queued.options.resolution } : {}),
      ...(queued.options.count !== undefined ? { count: queued.options.count } : {}),
    };
    // Written before the create is sent: a restart that finds a job here cannot know whether a
    // paid task exists, and must not send it again.
    const creating = this.#store.transition(
      queued.id,
      ['queued'],
      { state: 'creating', startedAt: this.#clock.now() },
      this.#clock.now(),
    );
    if (creating === undefined) return undefined;
    const callbackUrl = this.callbackUrl(creating);
    const sentAt = this.#clock.now();
    let taskId: string;
    let traceId: string | undefined;
    try {
      const created = await this.#client.create(request, { async: true, callbackUrl, signal });
      taskId = created.taskId;
      traceId = created.traceId;
      this.emit('created', this.#clock.now() - sentAt, true);
    } catch (error) {
      // Stopped mid-create (end of the shutdown grace): the job stays `creating`, and the next
      // start settles it as any interrupted create, since it may have reached the API.
      if (signal.aborted) return undefined;
      this.emit('created', this.#clock.now() - sentAt, false);
      this.#onCreateFailed(creating, toNanoBananaError(error));
      return undefined;
    }
    const running = this.#store.transition(
      creating.id,
      ['creating'],
      { state: 'running', taskId, traceId },
      this.#clock.now(),
    );
    log.info({ taskId, traceId }, 'Task created');
    if (running === undefined) return undefined;
    return { job: running, requestBytes: requestSize(request) };
  }

  async #prepareInputs(job: Job, signal: AbortSignal): Promise<string[]> {
    const adapter = this.#adapters.get(job.platform);
    const prepared: { url: string; bytes: number; name: string }[] = [];
    let total = 0;
    for (const [index, input] of job.inputs.entries()) {
      const image: InputImage =
        input.kind === 'url'
          ? { kind: 'url', url: input.url }
          : await (adapter as PlatformAdapter).fetchInput(job, input, signal);
      const { url, bytes } = await this.#prepareInput(image, signal);
      const name = input.kind === 'platform' ? input.name : undefined;
      total += bytes;
      // Past the limit only the sizes matter (to name what to leave out): the data is let go.
      prepared.push({
        url: total > MAX_INLINE_INPUT_BYTES ? '' : url,
        bytes,
        name: name ?? `#${index + 1}`,
      });
    }
    checkInlineTotal(prepared);
    return prepared.map((input) => input.url);
  }

  #onCreateFailed(job: Job, error: NanoBananaError): void {
    const log = this.#logger.child({ jobId: job.id });
    if (error.code === 'balance_used_up') {
      this.#pauseCreates();
      this.#fail(job, toJobError(error), true);
      return;
    }
    if (error.retryable) {
      // Surely refused (429) or never sent (connection refused): nothing was created, nothing
      // billed. Back in line, and everyone waits a little: the API asked us to slow down.
      log.warn({ code: error.code }, 'Create refused; the job waits for another turn');
      const requeued = this.#store.transition(
        job.id,
        ['creating'],
        { state: 'queued' },
        this.#clock.now(),
      );
      if (requeued !== undefined) this.#queue.push(requeued.id, requeued.requesterId);
      this.#pauseCreatesFor(
        Math.min(Math.max(error.retryAfterMs ?? 5000, 250), MAX_RETRY_AFTER_MS),
      );
      return;
    }
    this.#fail(job, toJobError(error), true);
  }

  /** Follows a running job's task (again, after a restart) and delivers its images. */
  async #continue(job: Job, signal: AbortSignal): Promise<void> {
    if (job.state === 'delivering' && job.result !== undefined) {
      await this.#deliver(job, job.result.images, signal);
      return;
    }
    await this.#followAndDeliver(job, signal, resumedRequestSize(job));
  }

  async #followAndDeliver(
    job: Job,
    signal: AbortSignal,
    requestBytes: number | undefined,
  ): Promise<void> {
    if (job.taskId === undefined) return;
    let result: TaskResult;
    try {
      result = await this.#follower.follow(job.taskId, { signal, requestBytes });
    } catch (error) {
      if (signal.aborted) return;
      const failure = toNanoBananaError(error);
      if (failure.code === 'cancelled') return;
      this.#fail(this.#store.get(job.id) ?? job, toJobError(failure), true);
      return;
    }
    const current = this.#store.get(job.id);
    if (current === undefined || isFinal(current.state)) return;
    const delivering = this.#store.transition(
      job.id,
      ['running'],
      {
        state: 'delivering',
        result: { images: result.images, traceId: result.traceId },
        traceId: result.traceId ?? current.traceId,
      },
      this.#clock.now(),
    );
    if (delivering === undefined) return;
    await this.#deliver(delivering, result.images, signal);
  }

  async #deliver(job: Job, images: readonly { url: string }[], signal: AbortSignal): Promise<void> {
    const adapter = this.#adapters.get(job.platform);
    if (adapter === undefined) return;
    const log = this.#logger.child({ jobId: job.id, taskId: job.taskId });
    const started = this.#clock.now();
    const files = await this.#downloadResults(job, images, signal, log);
    if (files === undefined) return;
    let attempts = job.deliveryAttempts;
    for (;;) {
      attempts++;
      try {
        const delivery = await adapter.deliver(job, files, signal);
        const done = this.#store.transition(
          job.id,
          ['delivering'],
          {
            state: 'done',
            finishedAt: this.#clock.now(),
            delivery,
            deliveryAttempts: attempts,
            reservedImages: imagesMade(job, files.length),
          },
          this.#clock.now(),
        );
        if (done !== undefined) {
          log.info({ images: files.length, attempts }, 'Job delivered');
          this.emit('delivered', done, this.#clock.now() - started);
          this.#finished(done);
        }
        return;
      } catch (error) {
        const failure = toNanoBananaError(error);
        this.#store.update(job.id, { deliveryAttempts: attempts }, this.#clock.now());
        if (signal.aborted) return;
        if (failure.code === 'undeliverable') {
          this.#undelivered(job, failure, files.length, attempts);
          return;
        }
        if (!failure.retryable || attempts >= this.#limits.deliveryAttempts) {
          log.error({ err: failure, attempts }, 'Delivery failed');
          const code =
            failure.code === 'upstream_error' || failure.code === 'network'
              ? 'delivery_failed'
              : failure.code;
          this.#fail(job, { code, params: failure.params, traceId: job.traceId }, true);
          return;
        }
        const delay = Math.min(
          failure.retryAfterMs ?? Math.min(1000 * 2 ** (attempts - 1), 30_000),
          MAX_RETRY_AFTER_MS,
        );
        log.warn({ code: failure.code, attempts, delayMs: delay }, 'Delivery failed; retrying');
        try {
          await this.#clock.sleep(delay, signal);
        } catch {
          return;
        }
      }
    }
  }

  /**
   * Downloads every result image, each retried on transient failures for a while (see
   * `downloadWithRetry`): the images are paid for. One that still fails is left out and the others
   * are delivered, with a note saying how many are missing. Undefined when none came (the job has
   * failed then) or the job was stopped.
   */
  async #downloadResults(
    job: Job,
    images: readonly { url: string }[],
    signal: AbortSignal,
    log: Logger,
  ): Promise<ResultImageFile[] | undefined> {
    const outcomes = await Promise.allSettled(
      images.map(async (image, index) => ({
        ...(await downloadWithRetry(() => this.#download(image.url, signal), {
          clock: this.#clock,
          signal,
          onRetry: (failure, attempt, delayMs) =>
            log.warn(
              { code: failure.code, status: failure.status, index, attempt, delayMs },
              'Result download failed; retrying',
            ),
        })),
        index,
        sourceUrl: image.url,
      })),
    );
    if (signal.aborted) return undefined;
    const files: ResultImageFile[] = [];
    let failure: NanoBananaError | undefined;
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') files.push(outcome.value);
      else failure ??= toNanoBananaError(outcome.reason);
    }
    if (failure === undefined) return files;
    if (files.length === 0) {
      this.#fail(job, toJobError(failure), true);
      return undefined;
    }
    log.warn(
      {
        missing: images.length - files.length,
        images: images.length,
        code: failure.code,
        status: failure.status,
      },
      'Some result images could not be downloaded; delivering the others',
    );
    return files;
  }

  /**
   * The adapter found nowhere to post a made (and paid) result. Nobody can be told, so the job ends
   * `undelivered` with its result URLs kept until the retention period prunes it, and the operator
   * is warned with what is needed to hand the images over. The images count against the quotas,
   * as delivered ones do: they were made.
   */
  #undelivered(job: Job, failure: NanoBananaError, images: number, attempts: number): void {
    const ended = this.#store.transition(
      job.id,
      ['delivering'],
      {
        state: 'undelivered',
        finishedAt: this.#clock.now(),
        error: toJobError(failure),
        deliveryAttempts: attempts,
        reservedImages: imagesMade(job, images),
      },
      this.#clock.now(),
    );
    if (ended === undefined) return;
    this.#logger.warn(
      {
        jobId: job.id,
        taskId: job.taskId,
        requesterId: job.requesterId,
        reason: failure.params.reason,
        resultUrls: (ended.result?.images ?? []).map((image) => image.url),
      },
      'Job undelivered: nowhere to post its images; its result URLs are kept until it is pruned',
    );
    this.#finished(ended);
  }

  /** Ends a job as failed, releasing its reserved images, and tells the user. */
  #fail(job: Job, error: JobError, notify: boolean): void {
    const failed = this.#store.transition(
      job.id,
      ['queued', 'creating', 'running', 'delivering'],
      { state: 'failed', finishedAt: this.#clock.now(), error, reservedImages: 0 },
      this.#clock.now(),
    );
    if (failed === undefined) return;
    this.#queue.remove(job.id);
    this.#logger.info({ jobId: job.id, code: error.code, traceId: error.traceId }, 'Job failed');
    this.#finished(failed);
    if (notify) void this.#notify(failed, { kind: 'failed', error });
  }

  #finished(job: Job): void {
    this.#lastPositions.delete(job.id);
    for (const timer of this.#timers.get(job.id) ?? []) clearTimeout(timer);
    this.#timers.delete(job.id);
    this.emit('finished', job);
  }

  /**
   * Past the job timeout the user is told `timeout`. A waiting job ends there; a running one keeps
   * being followed, since its images are already paid for, and is delivered if they come.
   */
  #scheduleTimeout(job: Job): void {
    const now = this.#clock.now();
    const notifyAt = job.createdAt + this.#limits.jobTimeoutMs;
    const giveUpAt = job.createdAt + this.#limits.giveUpAfterMs;
    if (this.#timers.has(job.id)) return;
    const timers: NodeJS.Timeout[] = [];
    this.#timers.set(job.id, timers);
    const schedule = (at: number, action: () => void) => {
      const timer = setTimeout(action, Math.max(0, at - now));
      timer.unref();
      timers.push(timer);
    };
    if (!job.timeoutNotified) schedule(notifyAt, () => this.#onTimeout(job.id));
    schedule(giveUpAt, () => this.#onGiveUp(job.id));
  }

  #onTimeout(jobId: string): void {
    const job = this.#store.get(jobId);
    if (job === undefined || isFinal(job.state) || job.timeoutNotified) return;
    const error: JobError = { code: 'timeout', params: {}, traceId: job.traceId };
    if (job.state === 'queued') {
      this.#fail(job, error, true);
      return;
    }
    const updated = this.#store.update(jobId, { timeoutNotified: true }, this.#clock.now());
    if (updated === undefined) return;
    void this.#notify(updated, { kind: 'timeout', error });
    // A job still `creating` moves once its task exists (see `#run`).
    if (updated.state === 'running' && this.#followLate(jobId)) this.#pump();
  }

  /**
   * Past its timeout a running job only follows its task: its slot goes to someone else and the
   * task is still followed, outside the limits. The caller moves the line. False if not running.
   */
  #followLate(jobId: string): boolean {
    const running = this.#running.get(jobId);
    if (running === undefined) return false;
    this.#running.delete(jobId);
    this.#lateFollows.set(jobId, running);
    const count = (this.#runningPerUser.get(running.userId) ?? 1) - 1;
    if (count <= 0) this.#runningPerUser.delete(running.userId);
    else this.#runningPerUser.set(running.userId, count);
    void running.done.finally(() => this.#lateFollows.delete(jobId));
    return true;
  }

  #onGiveUp(jobId: string): void {
    const job = this.#store.get(jobId);
    if (job === undefined || isFinal(job.state)) return;
    (this.#running.get(jobId) ?? this.#lateFollows.get(jobId))?.controller.abort();
    this.#fail(job, { code: 'timeout', params: {}, traceId: job.traceId }, !job.timeoutNotified);
  }

  #pauseCreates(): void {
    const alreadyPaused = this.#pausedUntil > this.#clock.now();
    this.#pauseCreatesFor(this.#limits.usedUpPauseMs);
    if (alreadyPaused) return;
    this.#logger.error(
      { pauseMs: this.#limits.usedUpPauseMs },
      'The AceData Cloud balance is used up: new images are paused. Top up the account; waiting requests resume on their own.',
    );
    for (const jobId of this.#queue.positions().keys()) {
      const job = this.#store.get(jobId);
      if (job !== undefined) void this.#notify(job, { kind: 'paused', reason: 'balance_used_up' });
    }
  }

  #pauseCreatesFor(ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#clock.now() + ms);
    this.#wakeAfterPause();
  }

  /** Timers may fire a little early by the clock: check again rather than stall the queue. */
  #wakeAfterPause(): void {
    clearTimeout(this.#pauseTimer);
    if (this.#stopping) return;
    const left = this.#pausedUntil - this.#clock.now();
    if (left <= 0) {
      // Never synchronously: this may run inside a job's own turn, before it has given its slot back.
      this.#pauseTimer = setTimeout(() => this.#pump(), 0);
      return;
    }
    this.#pauseTimer = setTimeout(() => this.#wakeAfterPause(), left + 1);
    this.#pauseTimer.unref();
  }

  /**
   * Tells waiting jobs their new place in line when it is worth an edit (see `worthTelling`): each
   * report becomes an edit on the chat platform, and telling every waiting job at every start costs
   * edits quadratic in the length of the line, spending the rate limit that deliveries need.
   */
  #reportPositions(): void {
    for (const [jobId, position] of this.#queue.positions()) {
      if (!worthTelling(this.#lastPositions.get(jobId), position)) continue;
      this.#lastPositions.set(jobId, position);
      const job = this.#store.get(jobId);
      if (job !== undefined) void this.#notify(job, { kind: 'queued', position });
    }
  }

  #reportProgress(): void {
    const now = this.#clock.now();
    for (const jobId of this.#running.keys()) {
      const job = this.#store.get(jobId);
      if (job?.state === 'running' && job.startedAt !== undefined) {
        void this.#notify(job, { kind: 'running', elapsedMs: now - job.startedAt });
      }
    }
  }

  async #notify(job: Job, event: ProgressEvent): Promise<void> {
    const adapter = this.#adapters.get(job.platform);
    if (adapter === undefined) return;
    try {
      await adapter.notify(job, event);
    } catch (error) {
      this.#logger.warn(
        { jobId: job.id, event: event.kind, err: error },
        'Could not show progress',
      );
    }
  }
}

/** Places from here to the front are told at every step. */
const TELL_EVERY_PLACE_FROM = 5;

/**
 * Whether a waiting job's new place is worth telling: every change near the front, and further back
 * only once the place has halved (or doubled) since it was last told, so that a job far back gets a
 * few edits on its way to the front rather than one per job ahead of it.
 */
function worthTelling(told: number | undefined, position: number): boolean {
  if (told === undefined) return true;
  if (position === told) return false;
  if (position <= TELL_EVERY_PLACE_FROM) return true;
  return position * 2 <= told || position >= told * 2;
}

/**
 * The size of a task's create body without serialising it again (its image URLs make nearly all
 * of it): the follower sizes its retrievals by it, since the API sends the request back each time.
 */
function requestSize(request: ImageRequest): number {
  const urls = request.imageUrls.reduce((sum, url) => sum + url.length + 3, 0);
  return urls + JSON.stringify(request.prompt).length + 512;
}

/** What a resumed task's inline input is taken to weigh: its real size went with the process. */
const RESUMED_INLINE_INPUT_BYTES = 4 * 1024 * 1024;

/**
 * The create's size is not kept across a restart, but a platform input travelled inline (a data:
 * URL of up to 13 MB) and comes back with every look at the task: such a task is followed as a
 * heavy one again (small batches, less often) rather than fifty to a call every round.
 */
function resumedRequestSize(job: Job): number | undefined {
  const inline = job.inputs.filter((input) => input.kind === 'platform').length;
  return inline === 0 ? undefined : inline * RESUMED_INLINE_INPUT_BYTES;
}

/**
 * What a finished job keeps reserved of the day's quota: the images made, when fewer than asked
 * (only those count), and nothing for a job that reserved nothing (an operator admin's).
 */
function imagesMade(job: Job, images: number): number {
  if (job.reservedImages === 0) return 0;
  return Math.min(job.reservedImages, images, job.options.count ?? 1);
}

export function toJobError(error: NanoBananaError): JobError {
  return { code: error.code, params: error.params, traceId: error.traceId };
}

/** Short, unguessable, URL- and custom-id-safe job ids. */
function newId(): string {
  return randomBytes(12).toString('base64url');
}

function sameSecret(expected: string, given: string): boolean {
  const left = Buffer.from(expected);
  const right = Buffer.from(given);
  return left.length === right.length && timingSafeEqual(left, right);
}

export type { JobPatch, JobState };

/**
 * Refuses inline inputs over `MAX_INLINE_INPUT_BYTES` together, before anything is sent, naming
 * the files to leave out: the largest first, as few as bring the rest under the limit.
 */
function checkInlineTotal(inputs: readonly { bytes: number; name: string }[]): void {
  const total = inputs.reduce((sum, input) => sum + input.bytes, 0);
  if (total <= MAX_INLINE_INPUT_BYTES) return;
  const largestFirst = [...inputs].sort((first, second) => second.bytes - first.bytes);
  const names: string[] = [];
  let remaining = total;
  for (const input of largestFirst) {
    if (remaining <= MAX_INLINE_INPUT_BYTES) break;
    names.push(input.name);
    remaining -= input.bytes;
  }
  throw invalidInput('inputs_too_large', 'The inline input images are too large together', {
    names,
    total,
    max: MAX_INLINE_INPUT_BYTES,
    megabytes: MAX_INLINE_INPUT_BYTES / 1_000_000,
  });
}
