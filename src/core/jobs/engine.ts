import { randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type Clock, systemClock } from '../clock.js';
import { NanoBananaError as Failure, isNanoBananaError } from '../errors.js';
import { downloadImage, prepareInputImage } from '../images/index.js';
import { type Logger, silentLogger } from '../logger.js';
import { SettingsBook } from '../preferences/settings-book.js';
import type { TaskFollower } from '../task-follower.js';
import type { PlatformAdapter } from './adapter.js';
import { Admissions, newJob } from './admission.js';
import { type EngineContext, failJob, publishCancel, type Work } from './context.js';
import { Deadlines } from './deadlines.js';
import type { EngineEvents, EngineStats, JobEngineOptions } from './engine-options.js';
import type { Job, NewJob } from './job.js';
import { DEFAULT_ENGINE_LIMITS, type EngineLimits } from './limits.js';
import type { CancelOutcome, JobPort, Submitted, Usage } from './port.js';
import { Progress } from './progress.js';
import { Runner } from './runner.js';
import { Scheduler } from './scheduler.js';
import type { JobStore, StoreCounts, StoreEvent } from './store.js';

export type { EngineEvents, EngineStats, JobEngineOptions } from './engine-options.js';
export { MAX_INLINE_INPUT_BYTES } from './inputs.js';
export { DEFAULT_ENGINE_LIMITS, type EngineLimits } from './limits.js';
export type { Submitted } from './port.js';

export const CALLBACK_PATH_PREFIX = '/callbacks/nano-banana/';

/** The engines started over each store object in this process (see `#alone`). */
const enginesByStore = new WeakMap<JobStore, Set<string>>();

/** How long a stop waits for a claim under way before giving up the leases. */
const CLAIM_WAIT_AT_STOP_MS = 1000;

/** How long the prune lock holds if its holder dies mid-prune. */
const PRUNE_LOCK_MS = 10 * 60_000;

/**
 * The job engine: takes requests, stores them before anyone is told they were accepted, runs them
 * fairly within the fleet's limits, follows their tasks, and delivers through the adapters. It
 * knows nothing of Discord or Slack. Everything another process (or the next start) needs is in
 * the store; what this one keeps is a cache of it. The parts: `admission`, `scheduler`,
 * `runner`, `deadlines`, `progress`.
 */
export class JobEngine extends EventEmitter<EngineEvents> implements JobPort {
  /** Servers' settings and members' preferences, kept in the store. */
  readonly settings: SettingsBook;
  readonly #store: JobStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #limits: EngineLimits;
  readonly #follower: Pick<TaskFollower, 'follow' | 'nudge'>;
  readonly #publicUrl: string | undefined;
  readonly #owner = `${process.pid}-${randomBytes(6).toString('base64url')}`;
  readonly #adapters = new Map<string, PlatformAdapter>();
  readonly #work = new Map<string, Work>();
  readonly #admissions: Admissions;
  readonly #progress: Progress;
  readonly #deadlines: Deadlines;
  readonly #runner: Runner;
  readonly #scheduler: Scheduler;
  readonly #pollEveryMs: number;
  readonly #takeOverAllAtStart: boolean | undefined;
  readonly #context: EngineContext;
  #started = false;
  /**
   * Whether this engine has the store to itself: the embedded store's file lock guarantees its
   * process is alone, and no other engine of this process was started over the same store (tests
   * run two engines over one store as two processes). Then whatever is leased at start is left
   * over from before a restart, and it is taken over at once.
   */
  #alone = false;
  #accepting = true;
  #stopping = false;
  #unsubscribe: (() => void) | undefined;
  #timers: NodeJS.Timeout[] = [];

  constructor(options: JobEngineOptions) {
    super();
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#limits = { ...DEFAULT_ENGINE_LIMITS, ...options.limits };
    this.#follower = options.follower;
    this.#publicUrl = options.publicUrl?.replace(/\/+$/, '');
    this.#pollEveryMs = options.pollEveryMs ?? 1000;
    this.#takeOverAllAtStart = options.takeOverAllAtStart;
    this.settings = new SettingsBook({
      store: this.#store,
      clock: this.#clock,
      catalog: options.requestLimits.catalog,
    });
    const context: EngineContext = {
      store: this.#store,
      clock: this.#clock,
      logger: this.#logger,
      limits: this.#limits,
      owner: this.#owner,
      adapters: this.#adapters,
      work: this.#work,
      notify: (job, event) => this.#progress.notify(job, event),
      finished: (job) => this.#finished(job),
      wake: () => this.#wake(),
    };
    this.#context = context;
    this.#admissions = new Admissions({
      store: this.#store,
      clock: this.#clock,
      requestLimits: options.requestLimits,
      access: options.access,
      quotas: options.quotas,
      maxQueuedPerUser: this.#limits.maxQueuedPerUser,
      settings: this.settings,
    });
    this.#progress = new Progress(context);
    this.#deadlines = new Deadlines(context);
    this.#runner = new Runner(context, {
      client: options.client,
      follower: options.follower,
      download:
        options.download ??
        ((url, signal) =>
          downloadImage(url, {
            maxBytes: this.#limits.maxResultBytes,
            timeoutMs: 120_000,
            signal,
            trustedOrigins: options.resultOrigins,
          })),
      prepareInput:
        options.prepareInput ?? ((image, signal) => prepareInputImage(image, { signal })),
      callbackUrl: (job) => this.callbackUrl(job),
      pauseCreates: (until, notice) => this.#pauseCreates(until, notice),
      emitCreated: (durationMs, ok) => this.emit('created', durationMs, ok),
      emitDelivered: (job, durationMs) => this.emit('delivered', job, durationMs),
    });
    this.#scheduler = new Scheduler(
      context,
      {
        claimed: (job) => {
          // Claimed as the engine stops: left for the leases' release (see `stop`).
          if (this.#stopping) return;
          this.#deadlines.watch(job);
          this.#runner.run(job);
        },
        measured: (job, waitMs) => this.emit('claimed', job, waitMs),
        tookOver: (jobs) => this.#tookOver(jobs),
        lineMoved: () => void this.#progress.reportPositions(),
      },
      {
        pollEveryMs: this.#pollEveryMs,
        leaseMs: options.leaseMs ?? 30_000,
        takeOverAllAtStart: () => this.#alone,
      },
    );
  }

  /** This engine's lease owner in the store (for logs and tests). */
  get owner(): string {
    return this.#owner;
  }

  /** Adapters register before `start()`: a process claims only the jobs it can deliver. */
  registerAdapter(adapter: PlatformAdapter): void {
    this.#adapters.set(adapter.platform, adapter);
    if (this.#started) {
      void this.#scheduler.takeOver(false);
      this.#scheduler.request();
    }
  }

  /**
   * Prunes, settles what an earlier run (or a dead process) left, then runs jobs as they come:
   * resolves once the jobs left over are settled (an interrupted create is failed by then).
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#alone =
      this.#takeOverAllAtStart ??
      (this.#store.kind === 'sqlite' && (enginesByStore.get(this.#store)?.size ?? 0) === 0);
    const engines = enginesByStore.get(this.#store) ?? new Set<string>();
    engines.add(this.#owner);
    enginesByStore.set(this.#store, engines);
    this.#unsubscribe = this.#store.subscribe((event) => this.#onStoreEvent(event));
    await this.prune();
    if (this.#alone) await this.#adoptWaiting();
    await this.#scheduler.start();
    const every = (ms: number, work: () => Promise<unknown>) => {
      const timer = setInterval(() => void work(), ms);
      timer.unref();
      this.#timers.push(timer);
    };
    every(this.#limits.progressEveryMs, () => this.#progress.reportRunning());
    every(this.#limits.pruneEveryMs, () => this.prune());
    every(this.#pollEveryMs, () => this.#deadlines.sweep());
    every(this.#pollEveryMs, () => this.#runner.retryStranded());
  }

  /** Last known: this process's jobs, the fleet's line as the scheduler last read it. */
  get stats(): EngineStats {
    let inFlight = 0;
    for (const work of this.#work.values()) if (!work.late) inFlight++;
    const counts = this.#scheduler.counts;
    return {
      queued: counts.queued,
      inFlight,
      paused: this.#scheduler.pausedUntil > this.#clock.now(),
      accepting: this.#accepting,
      fleetRunning: counts.running,
    };
  }

  /** The fleet's counts, read now. */
  fleetCounts(): Promise<StoreCounts> {
    return this.#store.counts();
  }

  getJob(jobId: string): Promise<Job | undefined> {
    return this.#store.get(jobId);
  }

  isAdmin(userId: string): boolean {
    return this.#admissions.isAdmin(userId);
  }

  async check(request: NewJob): Promise<void> {
    if (!this.#accepting) throw new Failure('unavailable', 'The engine is stopping');
    // An event already turned into a job (redelivered after a restart, say) is not refused now:
    // `submit` answers with that job.
    if (request.dedupKey !== undefined) {
      if ((await this.#store.getByDedupKey(request.dedupKey)) !== undefined) return;
    }
    await this.#refusalsTold(request, () => this.#admissions.check(request));
  }

  submit(request: NewJob): Promise<Submitted> {
    return this.#refusalsTold(request, () => this.#submit(request));
  }

  async #submit(request: NewJob): Promise<Submitted> {
    if (!this.#accepting) throw new Failure('unavailable', 'The engine is stopping');
    // The same platform event twice (a retried delivery, a message seen as mention and message)
    // answers with the job it already made, before any check could refuse it.
    const existing =
      request.dedupKey === undefined
        ? undefined
        : await this.#store.getByDedupKey(request.dedupKey);
    if (existing !== undefined) return this.#alreadyMade(existing);
    // The member's preferences and the server's settings, read once for this request.
    const settings = await this.#admissions.settingsFor(request);
    const admitted = this.#admissions.admit(request, settings);
    const job = newJob(request, admitted, this.#clock.now());
    // Quotas and the unfinished cap are checked atomically with the insert, fleet-wide.
    const { job: stored, inserted } = await this.#store.insert(job, admitted.admission);
    if (!inserted) return this.#alreadyMade(stored);
    // Claimable from now: its claim's wait counts from here, in whichever process claims it, and
    // the other processes hear of it at once (this one claims once the caller has answered).
    const eligibleAt = this.#clock.now();
    this.#scheduler.noteEligible(stored.id, eligibleAt);
    this.#publishQueue({ kind: 'queue', jobId: stored.id, eligibleAt });
    this.#logger.info(
      { jobId: stored.id, platform: stored.platform, action: stored.action },
      'Job accepted',
    );
    this.#deadlines.watch(stored);
    this.emit('accepted', stored);
    const position = await this.#positionOf(stored.id);
    this.#progress.track(stored.id, position);
    // Let the caller tell the user "accepted" first; the line moves right after.
    setImmediate(() => {
      if (!this.#stopping) this.#scheduler.request();
    });
    return { job: stored, created: true, position };
  }

  async checkBatch(requests: readonly NewJob[]): Promise<void> {
    if (!this.#accepting) throw new Failure('unavailable', 'The engine is stopping');
    const first = requests[0];
    if (first === undefined) return;
    // Already made (a redelivered event): `submitBatch` answers with those jobs.
    if (first.dedupKey !== undefined) {
      if ((await this.#store.getByDedupKey(first.dedupKey)) !== undefined) return;
    }
    await this.#batchRefusalsTold(requests, () => this.#admissions.checkBatch(requests));
  }

  submitBatch(requests: readonly NewJob[]): Promise<Submitted[]> {
    if (requests.length <= 1) {
      return Promise.all(requests.map((request) => this.submit(request)));
    }
    return this.#batchRefusalsTold(requests, () => this.#submitBatch(requests));
  }

  async #submitBatch(requests: readonly NewJob[]): Promise<Submitted[]> {
    if (!this.#accepting) throw new Failure('unavailable', 'The engine is stopping');
    const first = requests[0];
    // The member's preferences and the server's settings, read once for the batch (one member,
    // one server), so that every job gets the same defaults, suffix and styles.
    const settings = first === undefined ? undefined : await this.#admissions.settingsFor(first);
    const { admitted, admission } = this.#admissions.admitBatch(requests, settings);
    const now = this.#clock.now();
    const jobs = requests.map((request, index) => {
      const each = admitted[index];
      if (each === undefined) throw new Error('A request of the batch was not admitted');
      return newJob(request, each, now);
    });
    // All or none, the quotas and the cap checked for the total, atomically, fleet-wide.
    const outcomes = await this.#store.insertMany(jobs, admission);
    if (outcomes.some((outcome) => !outcome.inserted)) {
      return Promise.all(outcomes.map((outcome) => this.#alreadyMade(outcome.job)));
    }
    const eligibleAt = this.#clock.now();
    for (const { job } of outcomes) {
      this.#scheduler.noteEligible(job.id, eligibleAt);
      this.#publishQueue({ kind: 'queue', jobId: job.id, eligibleAt });
      this.#deadlines.watch(job);
      this.emit('accepted', job);
    }
    this.#logger.info(
      {
        jobIds: outcomes.map((outcome) => outcome.job.id),
        platform: requests[0]?.platform,
        jobs: outcomes.length,
      },
      'Batch accepted',
    );
    // Each job's place counted by the store, as for one job: never the whole line read here.
    const positions = await Promise.all(outcomes.map(({ job }) => this.#positionOf(job.id)));
    const submitted = outcomes.map(({ job }, index) => {
      const position = positions[index];
      this.#progress.track(job.id, position);
      return { job, created: true, position };
    });
    setImmediate(() => {
      if (!this.#stopping) this.#scheduler.request();
    });
    return submitted;
  }

  recentJobs(requesterId: string, platform: string, limit: number): Promise<Job[]> {
    return this.#store.recentJobs(requesterId, platform, limit);
  }

  async cancel(jobId: string, userId: string): Promise<CancelOutcome> {
    const job = await this.#store.get(jobId);
    if (job === undefined) return 'not_found';
    if (job.requesterId !== userId && !this.isAdmin(userId)) return 'not_yours';
    const now = this.#clock.now();
    const cancelled = await this.#store.transition(
      jobId,
      ['queued'],
      { state: 'cancelled', finishedAt: now, reservedImages: 0 },
      now,
    );
    if (cancelled === undefined) return 'too_late';
    // A job whose turn came is `queued` until its create is sent, while it fetches and prepares its
    // inputs (a large download, say): that work stops now, wherever it runs, and its slot is freed.
    this.#work.get(jobId)?.controller.abort();
    await publishCancel(this.#context, jobId);
    this.#finished(cancelled);
    void this.#progress.notify(cancelled, { kind: 'cancelled' });
    this.#wake();
    return 'cancelled';
  }

  usage(requesterId: string, serverId: string | undefined, platform?: string): Promise<Usage> {
    return this.#admissions.usage(requesterId, serverId, platform);
  }

  /**
   * Whether a user may delete a job's result: its requester, a moderator (the adapter knows who
   * moderates where it is: Manage Messages on Discord, a workspace admin on Slack), or an
   * operator admin. Deleting spends nothing, so moderators may.
   */
  mayDelete(job: Job, userId: string, moderator: boolean): boolean {
    return job.requesterId === userId || moderator || this.isAdmin(userId);
  }

  async forgetResult(jobId: string): Promise<void> {
    await this.#store.update(jobId, { result: undefined, delivery: undefined }, this.#clock.now());
  }

  updateDestination(jobId: string, destination: unknown): Promise<Job | undefined> {
    return this.#store.update(jobId, { destination }, this.#clock.now());
  }

  async likelyToWait(): Promise<boolean> {
    const [counts, pausedUntil] = await Promise.all([
      this.#store.counts(),
      this.#store.pausedUntil(),
    ]);
    return (
      pausedUntil > this.#clock.now() ||
      counts.queued > 0 ||
      counts.running >= this.#limits.maxConcurrentJobs
    );
  }

  /** The callback URL of a job, when the service has a public URL. */
  callbackUrl(job: Job): string | undefined {
    if (this.#publicUrl === undefined) return undefined;
    return `${this.#publicUrl}${CALLBACK_PATH_PREFIX}${job.id}/${job.callbackToken}`;
  }

  /**
   * A callback arrived. It is only a hint: when the token matches a running job, its task is asked
   * for at once through the tasks endpoint, whose answer decides — by this process when it follows
   * the task, else by the owner, woken through the store. Anything else changes nothing.
   */
  async handleCallback(jobId: string, token: string): Promise<boolean> {
    const job = await this.#store.get(jobId);
    if (job === undefined || !sameSecret(job.callbackToken, token)) return false;
    if (job.taskId === undefined || job.state !== 'running') return true;
    if (this.#work.has(jobId)) {
      this.#follower.nudge(job.taskId);
    } else {
      try {
        await this.#store.publish({ kind: 'callback', jobId });
      } catch (error) {
        // The owner's follower asks on its next round anyway.
        this.#logger.warn({ jobId, err: error }, 'Could not pass a callback on to the fleet');
      }
    }
    return true;
  }

  /** Deletes final jobs older than the retention period, one process of the fleet at a time. */
  async prune(): Promise<number> {
    const now = this.#clock.now();
    try {
      if (!(await this.#store.acquireLock('prune', this.#owner, now, now + PRUNE_LOCK_MS))) {
        return 0;
      }
      try {
        const removed = await this.#store.prune(now - this.#limits.retentionMs);
        if (removed > 0) this.#logger.info({ removed }, 'Old jobs pruned');
        return removed;
      } finally {
        await this.#store.releaseLock('prune', this.#owner);
      }
    } catch (error) {
      this.#logger.warn({ err: error }, 'Could not prune old jobs');
      return 0;
    }
  }

  /**
   * Stops taking requests, lets deliveries under way finish for up to `graceMs`, then gives up
   * this process's leases so that another process (or the next start) takes its jobs at once.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.#accepting = false;
    if (this.#stopping) return;
    this.#stopping = true;
    this.#unsubscribe?.();
    enginesByStore.get(this.#store)?.delete(this.#owner);
    const claimsEnded = this.#scheduler.stop();
    this.#deadlines.stop();
    for (const timer of this.#timers) clearInterval(timer);
    const all = [...this.#work.values()];
    const waiting = Promise.allSettled(all.map((work) => work.done));
    const timer = setTimeout(() => {
      for (const work of all) work.controller.abort();
    }, graceMs);
    // Jobs only following their task, or preparing their inputs, have nothing to finish: stop them
    // at once (whoever takes them over goes on).
    for (const work of all) {
      if (work.phase === 'following' || work.phase === 'preparing') work.controller.abort();
    }
    await waiting;
    clearTimeout(timer);
    // A claim under way ends before the leases are given up, or its job would stay leased here
    // until the lease expires; a store that does not answer is not waited on for long.
    let giveUp: NodeJS.Timeout | undefined;
    await Promise.race([
      claimsEnded,
      new Promise((resolve) => {
        giveUp = setTimeout(resolve, CLAIM_WAIT_AT_STOP_MS);
      }),
    ]);
    clearTimeout(giveUp);
    try {
      await this.#store.releaseLeases(this.#owner, this.#clock.now());
    } catch (error) {
      this.#logger.warn({ err: error }, 'Could not give up the leases: they expire on their own');
    }
  }

  /** Runs an admission, telling the listeners of a refusal (`refused`) before it is rethrown. */
  async #refusalsTold<T>(request: NewJob, admission: () => Promise<T>): Promise<T> {
    try {
      return await admission();
    } catch (error) {
      if (isNanoBananaError(error)) this.emit('refused', request, error);
      throw error;
    }
  }

  /**
   * `#refusalsTold` for a batch: the refusal is told with the request it is about (the prompt
   * holding a blocked word, say), else with the batch's first.
   */
  async #batchRefusalsTold<T>(
    requests: readonly NewJob[],
    admission: () => Promise<T>,
  ): Promise<T> {
    try {
      return await admission();
    } catch (error) {
      if (isNanoBananaError(error)) {
        const first = requests[0];
        const settings =
          first === undefined
            ? undefined
            : await this.#admissions.settingsFor(first).catch(() => undefined);
        const refused = requests.find((request) => {
          try {
            this.#admissions.admit(request, settings);
            return false;
          } catch {
            return true;
          }
        });
        const told = refused ?? requests[0];
        if (told !== undefined) this.emit('refused', told, error);
      }
      throw error;
    }
  }

  async #alreadyMade(job: Job): Promise<Submitted> {
    return { job, created: false, position: await this.#positionOf(job.id) };
  }

  async #positionOf(jobId: string): Promise<number | undefined> {
    return this.#store.queuePosition(jobId);
  }

  /** Alone over the store, this engine tells and times every job waiting at start. */
  async #adoptWaiting(): Promise<void> {
    try {
      for (const job of await this.#store.listByState(['queued'])) {
        if (!this.#adapters.has(job.platform)) continue;
        this.#deadlines.watch(job);
        this.#progress.track(job.id, undefined);
      }
    } catch (error) {
      this.#logger.warn({ err: error }, 'Could not read the waiting jobs');
    }
  }

  async #tookOver(jobs: readonly Job[]): Promise<void> {
    for (const job of jobs) {
      // Taken as the engine stops: left for the leases' release (see `stop`).
      if (this.#stopping) return;
      // Already in hand here (a renewal that came late): nothing was lost.
      if (this.#work.has(job.id)) continue;
      if (job.state === 'creating') {
        // The create may or may not have reached the service: sending it again could make a
        // second paid task. End it plainly; the user can try again.
        await failJob(this.#context, job, { code: 'interrupted', params: {} }, true, this.#owner);
        continue;
      }
      if (job.state === 'running' || job.state === 'delivering') {
        this.#deadlines.watch(job);
        this.#runner.continue(job);
      }
    }
  }

  async #pauseCreates(until: number, notice: boolean): Promise<void> {
    const alreadyPaused = this.#scheduler.pausedUntil > this.#clock.now();
    await this.#scheduler.pause(until);
    if (!notice || alreadyPaused) return;
    this.#logger.error(
      { pauseMs: this.#limits.usedUpPauseMs },
      'The AceData Cloud balance is used up: new images are paused. Top up the account; waiting requests resume on their own.',
    );
    await this.#progress.tellPaused();
  }

  #onStoreEvent(event: StoreEvent): void {
    switch (event.kind) {
      case 'queue':
        if (event.jobId !== undefined && event.eligibleAt !== undefined) {
          this.#scheduler.noteEligible(event.jobId, event.eligibleAt);
        }
        this.#scheduler.request();
        break;
      case 'callback': {
        const taskId = this.#work.get(event.jobId)?.taskId;
        if (taskId !== undefined) this.#follower.nudge(taskId);
        break;
      }
      case 'cancel':
        this.#work.get(event.jobId)?.controller.abort();
        break;
      case 'pause':
        this.#scheduler.notePause(event.until);
        break;
    }
  }

  /** A slot may be free or a job waiting: a claim here, and a word to the rest of the fleet. */
  #wake(): void {
    if (this.#stopping) return;
    this.#scheduler.request();
    this.#publishQueue({ kind: 'queue' });
  }

  #publishQueue(event: StoreEvent & { kind: 'queue' }): void {
    this.#store.publish(event).catch((error: unknown) => {
      this.#logger.warn({ err: error }, 'Could not tell the fleet the line moved');
    });
  }

  #finished(job: Job): void {
    this.#progress.forget(job.id);
    this.#deadlines.forget(job.id);
    this.emit('finished', job);
  }
}

function sameSecret(expected: string, given: string): boolean {
  const left = Buffer.from(expected);
  const right = Buffer.from(given);
  return left.length === right.length && timingSafeEqual(left, right);
}
