import type { NanoBananaClient } from '../api/client.js';
import { MAX_RETRY_AFTER_MS } from '../api/retry.js';
import { invalidInput, type NanoBananaError, toNanoBananaError } from '../errors.js';
import { WorkLimiter } from '../images/fit.js';
import {
  downloadWithRetry,
  type ImageFile,
  type InputImage,
  type PreparedInputImage,
} from '../images/index.js';
import type { Logger } from '../logger.js';
import type { ImageRequest } from '../request.js';
import type { TaskFollower, TaskResult } from '../task-follower.js';
import type { PlatformAdapter, ResultImageFile } from './adapter.js';
import { type EngineContext, failJob, imagesMade, toJobError, type Work } from './context.js';
import { isFinal, type Job, type JobError } from './job.js';

/** Jobs fetching and sending inline input images at once (see `#run`). */
const INLINE_INPUT_JOBS = 2;
/**
 * The inline (`data:` URL) input images of one job together, in bytes before base64: each file may
 * be 10 MB, and a request many times that is refused or slow upstream and heavy here.
 */
export const MAX_INLINE_INPUT_BYTES = 30_000_000;

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

  constructor(context: EngineContext, options: RunnerOptions) {
    this.#context = context;
    this.#options = options;
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
        await this.#deliver(job, job.result.images, work);
        return;
      }
      await this.#followAndDeliver(job, work, resumedRequestSize(job));
    });
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
        // The store itself failed: the job keeps this process's lease until it stops or dies,
        // when another process takes it over.
        logger.error({ jobId: job.id, err: error }, 'Could not record a job failure');
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
      imageUrls = await this.#prepareInputs(queued, signal);
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

  async #prepareInputs(job: Job, signal: AbortSignal): Promise<string[]> {
    const adapter = this.#context.adapters.get(job.platform);
    const prepared: { url: string; bytes: number; name: string }[] = [];
    let total = 0;
    for (const [index, input] of job.inputs.entries()) {
      const image: InputImage =
        input.kind === 'url'
          ? { kind: 'url', url: input.url }
          : await (adapter as PlatformAdapter).fetchInput(job, input, signal);
      const { url, bytes } = await this.#options.prepareInput(image, signal);
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
    await this.#deliver(delivering, result.images, work);
  }

  async #deliver(job: Job, images: readonly { url: string }[], work: Work): Promise<void> {
    const { store, clock, owner, limits } = this.#context;
    const { signal } = work.controller;
    const adapter = this.#context.adapters.get(job.platform);
    if (adapter === undefined) return;
    work.phase = 'delivering';
    const log = this.#context.logger.child({ jobId: job.id, taskId: job.taskId });
    const started = clock.now();
    const files = await this.#downloadResults(job, images, signal, log);
    if (files === undefined) return;
    let attempts = job.deliveryAttempts;
    for (;;) {
      attempts++;
      try {
        const delivery = await adapter.deliver(job, files, signal);
        const done = await store.transition(
          job.id,
          ['delivering'],
          {
            state: 'done',
            finishedAt: clock.now(),
            delivery,
            deliveryAttempts: attempts,
            reservedImages: imagesMade(job, files.length),
          },
          clock.now(),
          owner,
        );
        if (done !== undefined) {
          log.info({ images: files.length, attempts }, 'Job delivered');
          this.#options.emitDelivered(done, clock.now() - started);
          this.#context.finished(done);
        }
        return;
      } catch (error) {
        const failure = toNanoBananaError(error);
        await store.update(job.id, { deliveryAttempts: attempts }, clock.now());
        if (signal.aborted) return;
        if (failure.code === 'undeliverable') {
          await this.#undelivered(job, failure, files.length, attempts);
          return;
        }
        if (!failure.retryable || attempts >= limits.deliveryAttempts) {
          log.error({ err: failure, attempts }, 'Delivery failed');
          const code =
            failure.code === 'upstream_error' || failure.code === 'network'
              ? 'delivery_failed'
              : failure.code;
          await this.#fail(job, { code, params: failure.params, traceId: job.traceId });
          return;
        }
        const delay = Math.min(
          failure.retryAfterMs ?? Math.min(1000 * 2 ** (attempts - 1), 30_000),
          MAX_RETRY_AFTER_MS,
        );
        log.warn({ code: failure.code, attempts, delayMs: delay }, 'Delivery failed; retrying');
        try {
          await clock.sleep(delay, signal);
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
        ...(await downloadWithRetry(() => this.#options.download(image.url, signal), {
          clock: this.#context.clock,
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
      await this.#fail(job, toJobError(failure));
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
  async #undelivered(
    job: Job,
    failure: NanoBananaError,
    images: number,
    attempts: number,
  ): Promise<void> {
    const { store, clock, owner } = this.#context;
    const ended = await store.transition(
      job.id,
      ['delivering'],
      {
        state: 'undelivered',
        finishedAt: clock.now(),
        error: toJobError(failure),
        deliveryAttempts: attempts,
        reservedImages: imagesMade(job, images),
      },
      clock.now(),
      owner,
    );
    if (ended === undefined) return;
    this.#context.logger.warn(
      {
        jobId: job.id,
        taskId: job.taskId,
        requesterId: job.requesterId,
        reason: failure.params.reason,
        resultUrls: (ended.result?.images ?? []).map((image) => image.url),
      },
      'Job undelivered: nowhere to post its images; its result URLs are kept until it is pruned',
    );
    this.#context.finished(ended);
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
