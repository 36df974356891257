import { MAX_RETRY_AFTER_MS } from '../api/retry.js';
import { type NanoBananaError, toNanoBananaError } from '../errors.js';
import { downloadWithRetry, type ImageFile } from '../images/index.js';
import type { Logger } from '../logger.js';
import type { DeliveryCheckpoint, ResultImageFile } from './adapter.js';
import { type EngineContext, failJob, imagesMade, toJobError, type Work } from './context.js';
import type { Job, JobError } from './job.js';

/**
 * The end of a job's turn: its result images downloaded (retried: they are paid for) and handed
 * to its adapter, with attempts; `done`, `undelivered` or failed. Every state change is guarded
 * by this process's lease, as in the runner.
 */
export class Delivery {
  readonly #context: EngineContext;
  readonly #download: (url: string, signal: AbortSignal) => Promise<ImageFile>;
  readonly #emitDelivered: (job: Job, durationMs: number) => void;

  constructor(
    context: EngineContext,
    download: (url: string, signal: AbortSignal) => Promise<ImageFile>,
    emitDelivered: (job: Job, durationMs: number) => void,
  ) {
    this.#context = context;
    this.#download = download;
    this.#emitDelivered = emitDelivered;
  }

  /** Downloads a job's result images and hands them to its adapter, with attempts. */
  async deliver(job: Job, images: readonly { url: string }[], work: Work): Promise<void> {
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
    // What the adapter saved so far: the next attempt starts from it, as a takeover would.
    let current = job;
    const checkpoint: DeliveryCheckpoint = {
      save: async (delivery) => {
        const saved = await store.transition(
          job.id,
          ['delivering'],
          { state: 'delivering', delivery },
          clock.now(),
          owner,
        );
        if (saved === undefined) throw new JobNoLongerHeld(job.id);
        current = saved;
      },
    };
    for (;;) {
      attempts++;
      try {
        const delivery = await adapter.deliver(current, files, signal, checkpoint);
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
          this.#emitDelivered(done, clock.now() - started);
          this.#context.finished(done);
        }
        return;
      } catch (error) {
        if (noLongerHeld(error)) {
          log.warn('The job was taken over while it was being delivered; leaving it');
          return;
        }
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
        ...(await downloadWithRetry(() => this.#download(image.url, signal), {
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

  async #fail(job: Job, error: JobError): Promise<void> {
    await failJob(this.#context, job, error, true, this.#context.owner);
  }
}

/**
 * A checkpoint found the job no longer leased here (another process took it over after this one
 * stalled past its lease): this process stops posting and leaves the job to its new owner.
 */
class JobNoLongerHeld extends Error {
  constructor(jobId: string) {
    super(`Job ${jobId} is no longer held by this process`);
    this.name = 'JobNoLongerHeld';
  }
}

/** Whether a checkpoint's refusal is behind an error, however the adapter wrapped it. */
function noLongerHeld(error: unknown): boolean {
  for (let cause = error, depth = 0; cause !== undefined && depth < 5; depth++) {
    if (cause instanceof JobNoLongerHeld) return true;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return false;
}
