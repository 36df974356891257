import {
  appliedDefaultsNote,
  type DeliveryCheckpoint,
  type FittedImage,
  fitImage,
  type InputImage,
  type InputReference,
  type Job,
  missingImages,
  NanoBananaError,
  type PlatformAdapter,
  type ProgressEvent,
  type ResultImageFile,
  translate,
} from '../core/index.js';
import { resultMessage } from './blocks.js';
import { describeJobError } from './describe.js';
import {
  type DeliveryProgress,
  type DeliveryRecord,
  readDeliveryProgress,
  readDestination,
} from './destination.js';
import { type EarlierResult, findEarlierResult, resultFileName } from './earlier-result.js';
import { downloadSlackFile } from './files.js';
import { resultExtras } from './image-actions.js';
import { markUsable } from './inputs.js';
import { postInThread } from './replies.js';
import { type SlackRuntime, threadKey } from './runtime.js';
import { finalStatus, scheduleStatus } from './status.js';
import { slackText } from './texts.js';
import { toDeliveryError } from './web-api-errors.js';

/**
 * Slack takes files up to 1 GB; results are PNGs of a few MB to a few tens of MB, so they nearly
 * always go as they are. The limit only keeps an odd giant from being uploaded.
 */
const MAX_UPLOAD_BYTES = 50_000_000;
/** Slack's limit for a file's alt text. */
const MAX_ALT_TEXT = 1_000;

const FORMATS: Readonly<Record<string, { extension: string; name: string }>> = {
  'image/png': { extension: 'png', name: 'PNG' },
  'image/jpeg': { extension: 'jpg', name: 'JPEG' },
  'image/webp': { extension: 'webp', name: 'WebP' },
  'image/gif': { extension: 'gif', name: 'GIF' },
};

/** How the engine reaches Slack: input files, progress on the status message, the results. */
export class SlackPlatform implements PlatformAdapter {
  readonly platform = 'slack';
  readonly #runtime: SlackRuntime;

  constructor(runtime: SlackRuntime) {
    this.#runtime = runtime;
  }

  async fetchInput(
    _job: Job,
    input: Extract<InputReference, { kind: 'platform' }>,
    signal: AbortSignal,
  ): Promise<InputImage> {
    const name = input.name ?? 'image';
    const bytes = await downloadSlackFile(input.ref, name, {
      token: this.#runtime.settings.botToken,
      fileOrigins: this.#runtime.settings.fileOrigins,
      signal,
    });
    // An image now known good: later replies in its thread may edit it.
    markUsable(this.#runtime, input);
    return { kind: 'bytes', bytes, name };
  }

  async notify(job: Job, event: ProgressEvent): Promise<void> {
    const runtime = this.#runtime;
    // The request's own "in line" status first (see AcceptanceGate).
    await runtime.acceptances.passed(job.dedupKey);
    const destination = readDestination(job.destination);
    if (destination === undefined) {
      runtime.logger.warn({ jobId: job.id }, 'A Slack job has no status message to update');
      return;
    }
    switch (event.kind) {
      case 'queued':
      case 'paused':
      case 'started':
      case 'running':
        scheduleStatus(runtime, job, destination, event);
        return;
      case 'timeout':
        scheduleStatus(runtime, job, destination, event);
        await postInThread(
          runtime,
          destination.channel,
          destination.threadTs,
          `<@${job.requesterId}> ${translate(job.locale, 'job.timeout_notice')}`,
        );
        return;
      case 'failed':
        await finalStatus(runtime, job, destination, event);
        await postInThread(
          runtime,
          destination.channel,
          destination.threadTs,
          slackText(job.locale, 'failed.text', {
            user: job.requesterId,
            error: describeJobError(event.error, job.locale),
          }),
        );
        return;
      case 'cancelled':
        await finalStatus(runtime, job, destination, event);
        return;
    }
  }

  /**
   * Uploads the images into the job's thread (the prompt as alt text), then the buttons, then
   * marks the status message done. Only the upload can fail the delivery: once the images are
   * in Slack, a missing button is not worth uploading them twice.
   *
   * Slack has no idempotency key, so each step is saved in the job before and after it is taken
   * (`checkpoint`): a process that takes the job over after a death, or a later attempt here, finds
   * the mark and looks in the thread for what already reached Slack before posting it again.
   */
  async deliver(
    job: Job,
    images: readonly ResultImageFile[],
    _signal?: AbortSignal,
    checkpoint?: DeliveryCheckpoint,
  ): Promise<DeliveryRecord> {
    const runtime = this.#runtime;
    const destination = readDestination(job.destination);
    if (destination === undefined) {
      throw new NanoBananaError('delivery_failed', 'A Slack job has no destination');
    }
    const { channel, threadTs } = destination;
    const fitted: FittedImage[] = [];
    for (const image of images) fitted.push(await fitImage(image, MAX_UPLOAD_BYTES));

    const saved = readDeliveryProgress(job.delivery);
    // Only after a start was saved can anything be in the thread already: the usual delivery
    // reads nothing.
    const earlier: EarlierResult =
      saved === undefined
        ? {}
        : await findEarlierResult(runtime, job.id, channel, threadTs, saved.startedAt);
    const startedAt = saved?.startedAt ?? Date.now();
    let files = saved?.files ?? earlier.files;
    if (files !== undefined) {
      runtime.logger.info({ jobId: job.id }, 'The result was uploaded before; not again');
    }
    if (files === undefined) {
      await checkpoint?.save({ startedAt } satisfies DeliveryProgress);
      try {
        const uploaded = await runtime.client.filesUploadV2({
          channel_id: channel,
          thread_ts: threadTs,
          file_uploads: fitted.map((result, index) => ({
            file: result.image.bytes,
            filename: resultFileName(job.id, index, FORMATS[result.image.mime]?.extension ?? 'png'),
            alt_text: job.prompt.slice(0, MAX_ALT_TEXT),
          })),
        });
        files = uploaded.files
          .flatMap((completion) => completion.files ?? [])
          .map((file) => ({
            id: file.id ?? '',
            url: file.url_private ?? '',
            name: file.name ?? '',
          }));
      } catch (error) {
        throw toDeliveryError(error, 'Uploading the images');
      }
      await checkpoint?.save({ startedAt, files } satisfies DeliveryProgress);
    }
    runtime.threads.add(threadKey(channel, threadTs));

    let buttonsTs = earlier.buttonsTs;
    if (buttonsTs === undefined) {
      const extras = await resultExtras(runtime, job, images, MAX_UPLOAD_BYTES);
      const message = resultMessage(
        job.id,
        job.locale,
        job.requesterId,
        [...extras.notes, ...notes(job, fitted)],
        extras.controls,
      );
      try {
        const posted = await runtime.client.chat.postMessage({
          channel,
          thread_ts: threadTs,
          text: message.text,
          blocks: message.blocks,
        });
        buttonsTs = posted.ts;
      } catch (error) {
        runtime.logger.warn({ err: error, jobId: job.id }, 'Could not post the result buttons');
      }
    }
    await finalStatus(runtime, job, destination, {
      kind: 'done',
      elapsedMs: Date.now() - (job.startedAt ?? job.createdAt),
    });
    return { files, ...(buttonsTs === undefined ? {} : { buttonsTs }) };
  }
}

/** What the user should know about the images: a smaller format, fewer than asked, missing. */
function notes(job: Job, fitted: readonly FittedImage[]): string[] {
  const result: string[] = [];
  // Where the settings the member did not type came from (preferences, the workspace's settings).
  const defaults = appliedDefaultsNote(job.locale, job.options.appliedDefaults, 'workspace');
  if (defaults !== undefined) result.push(defaults);
  const converted = fitted.find((image) => image.change === 'converted');
  if (converted !== undefined) {
    const format = FORMATS[converted.image.mime]?.name;
    result.push(
      translate(job.locale, 'job.result_converted', format === undefined ? {} : { format }),
    );
  }
  if (fitted.some((image) => image.change === 'scaled')) {
    result.push(translate(job.locale, 'job.result_scaled'));
  }
  const requested = job.options.count ?? 1;
  const missing = missingImages(job, fitted.length);
  // What the model returned, downloaded or not: the missing ones get their own note.
  const returned = fitted.length + missing;
  if (returned < requested) {
    result.push(translate(job.locale, 'job.fewer_images', { delivered: returned, requested }));
  }
  if (missing > 0) result.push(translate(job.locale, 'job.images_missing', { missing }));
  return result;
}
