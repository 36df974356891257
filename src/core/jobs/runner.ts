import type { NanoBananaClient } from '../api/client.js';
import { MAX_RETRY_AFTER_MS } from '../api/retry.js';
import { type NanoBananaError, toNanoBananaError } from '../errors.js';
import { WorkLimiter } from '../images/fit.js';
import type { ImageFile, InputImage, PreparedInputImage } from '../images/index.js';
import type { ImageRequest } from '../request.js';
import type { TaskFollower, TaskResult } from '../task-follower.js';
import { type EngineContext, failJob, toJobError, type Work } from './context.js';
import { Delivery } from './delivery.js';
import { prepareInputs } from './inputs.js';
import { isFinal, type Job, type JobError } from './job.js';

/** Jobs fetching and sending inline input images at once (see `#run`). */
const INLINE_INPUT_JOBS = 2;

export interface RunnerOptions {
  readonly client: Pick<NanoBananaClient, 'create'>;
  readonly follower: Pick<TaskFollower, 'follow' | 'nudge'>;
  readonly download: (url: string, signal: AbortSignal) => Promise<ImageFile>;
  readonly prepareInput: (image: InputImage, signal: AbortSignal) => Promise<PreparedInputImage>;
  readonly callbackUrl: (job: Job) => string | undefined;
  /** Creates are held fleet-wide until then (`used_up`: `notice`, the waiting users are told). */
  readonly pauseCreates: (until: number, notice: boolean) => Promise<void>;
  readonly emitCreated: (durationMs: number, ok: boolean) => void;
  readonly emitDelivered: (job: Job, durationMs: number) => void;
}

/**
 * A claimed job's turn in this process: fetch its inputs, create the task, follow it, download
 * and deliver its images. Every state change is guarded by this process's lease (`owner`): a job
 * another process took over after this one lost its lease is left to that process.
 */
export class Runner {
  readonly #context: EngineContext;
  readonly #options: RunnerOptions;
  readonly #inlineInputWork = new WorkLimiter(INLINE_INPUT_JOBS);
  readonly #delivery: Delivery;
  /** Jobs whose work ended on a store failure while leased here: retried on the next poll. */
  readonly #stranded = new Set<string>();

  constructor(context: EngineContext, options: RunnerOptions) {
    this.#context = context;
    this.#options = options;
    this.#delivery = new Delivery(context, options.download, options.emitDelivered);
  }

  /** Runs a claimed `queued` job from its start. */
  run(job: Job): void {
    this.#occupy(job, 'preparing', (work) => this.#run(job, work));
  }

  /** Carries on with a `running` or `delivering` job taken over (after a restart, or a death). */
  continue(job: Job): void {
    const phase = job.state === 'delivering' ? 'delivering' : 'following';
    this.#occupy(job, phase, async (work) => {
      work.taskId = job.taskId;
      // Told it timed out before: it follows its task outside the slots, as it did then.
      work.late = job.state === 'running' && job.timeoutNotified;
      if (job.state === 'delivering' && job.result !== undefined) {
        await this.#delivery.deliver(job, job.result.images, work);
        return;
      }
      await this.#followAndDeliver(job, work, resumedRequestSize(job));
    });
  }

  /**
   * Picks up the jobs left leased here by a store failure, as a takeover would: a waiting one
   * back in line, a `creating` one failed `interrupted` (its create may have been sent), a running
   * or delivering one carried on.
   */
  async retryStranded(): Promise<void> {
    const { store, clock, owner, logger, work } = this.#context;
    for (const jobId of [...this.#stranded]) {
      if (work.has(jobId)) continue;
      try {
        const job = await store.get(jobId);
        this.#stranded.delete(jobId);
        if (job === undefined || isFinal(job.state) || job.leaseOwner !== owner) continue;
        if (job.state === 'queued') {
          await store.transition(jobId, ['queued'], { state: 'queued' }, clock.now(), owner);
          this.#context.wake();
        } else if (job.state === 'creating') {
          await failJob(this.#context, job, { code: 'interrupted', params: {} }, true, owner);
        } else {
          this.continue(job);
        }
      } catch (error) {
        this.#stranded.add(jobId);
        logger.warn({ jobId, err: error }, 'Could not pick up a job after a store failure');
      }
    }
  }

  #occupy(job: Job, phase: Work['phase'], run: (work: Work) => Promise<void>): void {
    const { work: allWork, logger } = this.#context;
    if (allWork.has(job.id)) return;
    const work: Work = {
      controller: new AbortController(),
      phase,
      taskId: undefined,
      late: false,
      done: Promise.resolve(),
    };
    allWork.set(job.id, work);
    work.done = run(work)
      .catch(async (error: unknown) => {
        logger.error({ jobId: job.id, err: error }, 'Job failed unexpectedly');
        if (work.controller.signal.aborted) return;
        const owner = this.#context.owner;
        await failJob(this.#context, job, toJobError(toNanoBananaError(error)), true, owner);
      })
      .catch((error: unknown) => {
        // The store itself failed: the job is still leased here, and nobody works on it. The
        // next poll picks it up again (see `retryStranded`).
        logger.error({ jobId: job.id, err: error }, 'Could not record a job failure');
        this.#stranded.add(job.id);
      })
      .finally(() => {
        allWork.delete(job.id);
        // Its slot is free (or it waits in line again): the next job may start.
        this.#context.wake();
      });
  }

  /** One job's turn: fetch its inputs, create the task, follow it, deliver. */
  async #run(queued: Job, work: Work): Promise<void> {
    const { signal } = work.controller;
    await this.#context.notify(queued, { kind: 'started' });
    let created: { job: Job; requestBytes: number } | undefined;
    if (queued.inputs.some((input) => input.kind === 'platform')) {
      // A platform's files go to the API inline, as data: URLs of up to 13 MB each, held several
      // times over while they are downloaded, encoded and sent: a burst of edits takes its turn
      // here, a few at a time. Nothing that big is kept once the task exists.
      try {
        created = await this.#inlineInputWork.run(() => this.#create(queued, work), signal);
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
    } else {
      created = await this.#create(queued, work);
    }
    if (created === undefined) return;
    // The timeout came while the create was under way: now that the task exists, the job leaves
    // its slot (the store counts it outside the limits) as it would have a moment later.
    if (created.job.timeoutNotified) {
      work.late = true;
      this.#context.wake();
    }
    await this.#followAndDeliver(created.job, work, created.requestBytes);
  }

  /** Fetches a job's inputs and creates its task; the running job, or undefined when it ended. */
  async #create(queued: Job, work: Work): Promise<{ job: Job; requestBytes: number } | undefined> {
    const { store, clock, owner } = this.#context;
    const { signal } = work.controller;
    const log = this.#context.logger.child({ jobId: queued.id });
    let imageUrls: string[];
    try {
      imageUrls = await prepareInputs(
        queued,
        this.#context.adapters.get(queued.platform),
        this.#options.prepareInput,
        signal,
      );
    } catch (error) {
      if (signal.aborted) return;
      await this.#fail(queued, toJobError(toNanoBananaError(error)));
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
    // Durable before the create is sent: a process that finds a job here cannot know whether a
    // paid task exists, and must not send it again. The lease guard: only the claimer creates.
    const creating = await store.transition(
      queued.id,
      ['queued'],
      { state: 'creating', startedAt: clock.now() },
      clock.now(),
      owner,
    );
    if (creating === undefined || signal.aborted) return undefined;
    work.phase = 'creating';
    const callbackUrl = this.#options.callbackUrl(creating);
    const sentAt = clock.now();
    let taskId: string;
    let traceId: string | undefined;
    try {
      const created = await this.#options.client.create(request, {
        async: true,
        callbackUrl,
        signal,
      });
      taskId = created.taskId;
      traceId = created.traceId;
      this.#options.emitCreated(clock.now() - sentAt, true);
    } catch (error) {
      // Stopped mid-create (end of the shutdown grace): the job stays `creating`, and whoever
      // takes it over settles it as any interrupted create, since it may have reached the API.
      if (signal.aborted) return undefined;
      this.#options.emitCreated(clock.now() - sentAt, false);
      await this.#onCreateFailed(creating, toNanoBananaError(error));
      return undefined;
    }
    const running = await store.transition(
      creating.id,
      ['creating'],
      { state: 'running', taskId, traceId },
      clock.now(),
      owner,
    );
    log.info({ taskId, traceId }, 'Task created');
    if (running === undefined) return undefined;
    work.taskId = taskId;
    work.phase = 'following';
    return { job: running, requestBytes: requestSize(request) };
  }

  async #onCreateFailed(job: Job, error: NanoBananaError): Promise<void> {
    const { store, clock, owner, logger, limits } = this.#context;
    if (error.code === 'balance_used_up') {
      await this.#options.pauseCreates(clock.now() + limits.usedUpPauseMs, true);
      await this.#fail(job, toJobError(error));
      return;
    }
    if (error.retryable) {
      // Surely refused (429) or never sent (connection refused): nothing was created, nothing
      // billed. Back in line, and the fleet waits a little: the API asked us to slow down.
      logger.warn(
        { jobId: job.id, code: error.code },
        'Create refused; the job waits for another turn',
      );
      await this.#options.pauseCreates(
        clock.now() + Math.min(Math.max(error.retryAfterMs ?? 5000, 250), MAX_RETRY_AFTER_MS),
        false,
      );
      await store.transition(job.id, ['creating'], { state: 'queued' }, clock.now(), owner);
      return;
    }
    await this.#fail(job, toJobError(error));
  }

  async #followAndDeliver(job: Job, work: Work, requestBytes: number | undefined): Promise<void> {
    const { store, clock, owner } = this.#context;
    const { signal } = work.controller;
    if (job.taskId === undefined) return;
    let result: TaskResult;
    try {
      result = await this.#options.follower.follow(job.taskId, { signal, requestBytes });
    } catch (error) {
      if (signal.aborted) return;
      const failure = toNanoBananaError(error);
      if (failure.code === 'cancelled') return;
      await this.#fail((await store.get(job.id)) ?? job, toJobError(failure));
      return;
    }
    const current = await store.get(job.id);
    if (current === undefined || isFinal(current.state)) return;
    const delivering = await store.transition(
      job.id,
      ['running'],
      {
        state: 'delivering',
        result: { images: result.images, traceId: result.traceId },
        traceId: result.traceId ?? current.traceId,
      },
      clock.now(),
      owner,
    );
    if (delivering === undefined) return;
    await this.#delivery.deliver(delivering, result.images, work);
  }

  /** The job's own work failed: ended while this process still holds it, and the user told. */
  async #fail(job: Job, error: JobError): Promise<void> {
    await failJob(this.#context, job, error, true, this.#context.owner);
  }
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
