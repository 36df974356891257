import { type APIMessage, DiscordAPIError, MessageFlags, type RawFile, Routes } from 'discord.js';
import {
  describeError,
  fitImage,
  type InputImage,
  type InputReference,
  type Job,
  type JobError,
  type Locale,
  NanoBananaError,
  type PlatformAdapter,
  type ProgressEvent,
  type ResultImageFile,
  resolveLocale,
  translate,
} from '../core/index.js';
import { type Delivery, type Destination, readDestination, tokenUsable } from './destination.js';
import { readReference, resolveInput } from './images.js';
import type { DiscordRuntime } from './runtime.js';
import { discordText, elapsedText } from './texts.js';
import {
  altText,
  failureBody,
  type MessageBody,
  mention,
  progressBody,
  queuedBody,
  resultContent,
  resultRow,
  truncate,
} from './views.js';

/** Discord: at most 10 files and 25 MiB per message; keep room for the JSON part. */
const MAX_FILES_PER_MESSAGE = 10;
const MAX_MESSAGE_BYTES = 25 * 1024 * 1024 - 256 * 1024;

/** Discord's error codes this adapter acts on. */
const MISSING_PERMISSIONS = 50013;
const ARCHIVED_THREAD = 50083;
const INVALID_WEBHOOK_TOKEN = 50027;
const UNKNOWN_WEBHOOK = 10015;
const UNKNOWN_INTERACTION = 10062;

/** How the engine reaches Discord: progress edits, results, failures, and fetching inputs. */
export function createDiscordPlatform(runtime: DiscordRuntime): PlatformAdapter {
  return {
    platform: 'discord',
    fetchInput: (job, input, signal) => fetchInput(runtime, job, input, signal),
    notify: (job, event) => notify(runtime, job, event),
    deliver: (job, images) => deliver(runtime, job, images),
  };
}

async function fetchInput(
  runtime: DiscordRuntime,
  _job: Job,
  input: Extract<InputReference, { kind: 'platform' }>,
  signal: AbortSignal,
): Promise<InputImage> {
  return resolveInput(
    runtime.rest,
    readReference(input.ref),
    signal,
    runtime.now(),
    runtime.settings.imageOrigins,
  );
}

async function notify(runtime: DiscordRuntime, job: Job, event: ProgressEvent): Promise<void> {
  const locale = resolveLocale(job.locale);
  // Read when the edit runs: the message id may have been stored since the event was sent.
  const current = () =>
    readDestination(runtime.engine.getJob(job.id)?.destination ?? job.destination);
  const edit = (body: MessageBody) => () =>
    editProgress(runtime, current(), body).catch((error: unknown) => {
      runtime.logger.warn(
        { jobId: job.id, event: event.kind, code: discordCode(error) },
        'Progress edit failed',
      );
    });
  if (event.kind === 'failed') {
    await runtime.throttle.final(job.id, () => reportFailure(runtime, job, current(), event.error));
    return;
  }
  if (event.kind === 'cancelled') {
    await runtime.throttle.final(
      job.id,
      edit(progressBody(locale, translate(locale, 'job.cancelled'))),
    );
    return;
  }
  runtime.throttle.schedule(job.id, edit(progressOf(job, locale, event)));
}

/** The progress message for an event that is not the last word. */
function progressOf(
  job: Job,
  locale: Locale,
  event: Exclude<ProgressEvent, { kind: 'failed' | 'cancelled' }>,
): MessageBody {
  switch (event.kind) {
    case 'queued':
      return queuedBody(job, locale, event.position);
    case 'paused':
      return progressBody(locale, translate(locale, 'job.paused'), { job });
    case 'started':
      return progressBody(locale, discordText(locale, 'progress.started'));
    case 'running':
      return progressBody(
        locale,
        discordText(locale, 'progress.running', { elapsed: elapsedText(locale, event.elapsedMs) }),
      );
    case 'timeout':
      return progressBody(locale, translate(locale, 'job.timeout_notice'));
  }
}

/** The failure in the user's language, where the job's progress was (or as a new message). */
async function reportFailure(
  runtime: DiscordRuntime,
  job: Job,
  destination: Destination,
  error: JobError,
) {
  const locale = resolveLocale(job.locale);
  const text = failureText(locale, error);
  const body = failureBody(job, locale, text, error);
  const shown = await editProgress(runtime, destination, body).catch(() => false);
  if (shown) return;
  const ephemeral = destination.kind === 'interaction' && destination.ephemeral;
  if (!ephemeral) {
    const replyTo =
      destination.kind === 'message' ? destination.sourceMessageId : destination.messageId;
    const posted = await runtime.rest
      .post(Routes.channelMessages(destination.channelId), {
        body: {
          ...body,
          ...(replyTo
            ? { message_reference: { message_id: replyTo, fail_if_not_exists: false } }
            : {}),
        },
      })
      .then(
        () => true,
        () => false,
      );
    if (posted) return;
  }
  // Nowhere to say it where it happened (missing permissions, an archived thread): say it in a DM
  // rather than stay silent.
  const channel = (await runtime.rest.post(Routes.userChannels(), {
    body: { recipient_id: job.requesterId },
  })) as { id: string };
  await runtime.rest.post(Routes.channelMessages(channel.id), {
    body: { content: body.content ?? text },
  });
}

export function failureText(locale: ReturnType<typeof resolveLocale>, error: JobError): string {
  if (error.code === 'delivery_failed' && error.params.reason === 'missing_permissions') {
    return discordText(locale, 'permission.missing', {
      permission: String(error.params.permission ?? 'Send Messages, Attach Files'),
    });
  }
  if (error.code === 'delivery_failed' && error.params.reason === 'archived_thread') {
    return discordText(locale, 'permission.archived');
  }
  return describeError(
    new NanoBananaError(error.code, error.code, { params: error.params, traceId: error.traceId }),
    locale,
  );
}

/**
 * Edits the job's own message (the interaction reply while its token lasts, else the bot's progress
 * reply). Returns false when there is nothing it may edit any more.
 */
async function editProgress(
  runtime: DiscordRuntime,
  destination: Destination,
  body: MessageBody,
): Promise<boolean> {
  if (tokenUsable(destination, runtime.now())) {
    try {
      await runtime.rest.patch(
        Routes.webhookMessage(destination.applicationId, destination.token),
        { body, auth: false },
      );
      return true;
    } catch (error) {
      if (!isExpiredToken(error)) throw error;
    }
  }
  const messageId =
    destination.kind === 'message'
      ? destination.progressMessageId
      : destination.ephemeral
        ? undefined
        : destination.messageId;
  if (messageId === undefined) return false;
  await runtime.rest.patch(Routes.channelMessage(destination.channelId, messageId), { body });
  return true;
}

interface FittedFile {
  readonly file: RawFile;
  readonly size: number;
  readonly description: string;
}

async function deliver(
  runtime: DiscordRuntime,
  job: Job,
  images: readonly ResultImageFile[],
): Promise<Delivery> {
  const locale = resolveLocale(job.locale);
  const destination = readDestination(job.destination);
  let converted = false;
  let scaled = false;
  const files: FittedFile[] = [];
  for (const image of images) {
    const fitted = await fitImage(image, destination.uploadLimit);
    converted ||= fitted.change === 'converted';
    scaled ||= fitted.change === 'scaled';
    const extension =
      fitted.image.mime === 'image/jpeg' ? 'jpg' : (fitted.image.mime.split('/')[1] ?? 'png');
    files.push({
      file: {
        name: `nano-banana-${job.id.slice(0, 8)}-${image.index + 1}.${extension}`,
        data: fitted.image.bytes,
        contentType: fitted.image.mime,
      },
      size: fitted.image.bytes.length,
      description: altText(job),
    });
  }
  const content = resultContent(job, locale, runtime.now(), {
    converted,
    scaled,
    delivered: images.length,
  });
  const chunks = chunkFiles(files);
  const posted: APIMessage[] = [];
  try {
    for (const [index, chunk] of chunks.entries()) {
      const body: MessageBody = {
        content:
          index === 0
            ? content
            : discordText(locale, 'result.more', {
                mention: mention(job),
                from: files.indexOf(chunk[0] as FittedFile) + 1,
                to: files.indexOf(chunk.at(-1) as FittedFile) + 1,
                total: files.length,
              }),
        components: index === chunks.length - 1 ? [resultRow(job, locale)] : [],
        attachments: chunk.map((entry, position) => ({
          id: position,
          filename: entry.file.name,
          description: entry.description,
        })),
        allowed_mentions: { users: [job.requesterId] },
      };
      const rawFiles = chunk.map((entry) => entry.file);
      posted.push(
        index === 0
          ? await postFirstAfterProgress(runtime, job, destination, body, rawFiles)
          : await postMore(runtime, destination, body, rawFiles, posted[0]),
      );
    }
  } catch (error) {
    runtime.logger.warn({ jobId: job.id, err: error }, 'Discord delivery failed');
    throw deliveryError(error);
  }
  runtime.throttle.forget(job.id);
  const first = posted[0];
  const threadId = first ? await openThread(runtime, job, destination, first, content) : undefined;
  return {
    messages: posted.map((message) => ({ channelId: message.channel_id, messageId: message.id })),
    images: posted.flatMap((message) =>
      (message.attachments ?? []).map((attachment) => ({
        url: attachment.url,
        name: attachment.filename,
        size: attachment.size,
      })),
    ),
    ...(threadId ? { threadId } : {}),
  };
}

/** Groups files into messages of at most 10 files and 25 MiB. */
export function chunkFiles<T extends { size: number }>(files: readonly T[]): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const file of files) {
    if (
      current.length > 0 &&
      (current.length >= MAX_FILES_PER_MESSAGE || bytes + file.size > MAX_MESSAGE_BYTES)
    ) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(file);
    bytes += file.size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * The first message of a result usually replaces the progress message, so it goes through the
 * throttle as its final edit: after any progress edit under way, and with the waiting one dropped.
 * Posted beside the throttle, a progress edit falling due while the upload waits its turn would
 * land after it and overwrite the result with "Working on it…".
 */
async function postFirstAfterProgress(
  runtime: DiscordRuntime,
  job: Job,
  destination: Destination,
  body: MessageBody,
  files: RawFile[],
): Promise<APIMessage> {
  let posted: APIMessage | undefined;
  await runtime.throttle.final(job.id, async () => {
    posted = await postFirst(runtime, job, destination, body, files);
  });
  if (posted === undefined) throw new Error('The result message was not posted');
  return posted;
}

/**
 * The first message of a result: the interaction reply while its token lasts, else the bot's
 * progress reply, else a new channel message that mentions the user (or a DM for a private one).
 */
async function postFirst(
  runtime: DiscordRuntime,
  job: Job,
  destination: Destination,
  body: MessageBody,
  files: RawFile[],
): Promise<APIMessage> {
  const { rest } = runtime;
  if (tokenUsable(destination, runtime.now())) {
    try {
      return (await rest.patch(
        Routes.webhookMessage(destination.applicationId, destination.token),
        { body, files, auth: false },
      )) as APIMessage;
    } catch (error) {
      if (!isExpiredToken(error)) throw error;
    }
  }
  if (destination.kind === 'message' && destination.progressMessageId !== undefined) {
    return (await rest.patch(
      Routes.channelMessage(destination.channelId, destination.progressMessageId),
      { body, files },
    )) as APIMessage;
  }
  const locale = resolveLocale(job.locale);
  const late = {
    ...body,
    content: truncate(
      `${translate(locale, 'job.expired_token_notice', { mention: mention(job) })}\n${body.content ?? ''}`,
      2000,
    ),
  };
  if (destination.kind === 'interaction' && destination.ephemeral) {
    const channel = (await rest.post(Routes.userChannels(), {
      body: { recipient_id: job.requesterId },
    })) as { id: string };
    return (await rest.post(Routes.channelMessages(channel.id), {
      body: late,
      files,
    })) as APIMessage;
  }
  const replyTo =
    destination.kind === 'interaction' ? destination.messageId : destination.sourceMessageId;
  return (await rest.post(Routes.channelMessages(destination.channelId), {
    body: {
      ...late,
      ...(replyTo ? { message_reference: { message_id: replyTo, fail_if_not_exists: false } } : {}),
    },
    files,
  })) as APIMessage;
}

async function postMore(
  runtime: DiscordRuntime,
  destination: Destination,
  body: MessageBody,
  files: RawFile[],
  first: APIMessage | undefined,
): Promise<APIMessage> {
  if (tokenUsable(destination, runtime.now())) {
    return (await runtime.rest.post(Routes.webhook(destination.applicationId, destination.token), {
      body: { ...body, ...(destination.ephemeral ? { flags: MessageFlags.Ephemeral } : {}) },
      files,
      auth: false,
      query: new URLSearchParams({ wait: 'true' }),
    })) as APIMessage;
  }
  const channelId = first?.channel_id ?? destination.channelId;
  return (await runtime.rest.post(Routes.channelMessages(channelId), {
    body: {
      ...body,
      ...(first ? { message_reference: { message_id: first.id, fail_if_not_exists: false } } : {}),
    },
    files,
  })) as APIMessage;
}

/** In a text channel, a thread on the result keeps follow-up edits together. */
async function openThread(
  runtime: DiscordRuntime,
  job: Job,
  destination: Destination,
  message: APIMessage,
  content: string,
): Promise<string | undefined> {
  const ephemeral = destination.kind === 'interaction' && destination.ephemeral;
  if (
    !runtime.settings.resultThreads ||
    ephemeral ||
    destination.channelKind !== 'text' ||
    destination.guildId === undefined
  ) {
    return undefined;
  }
  try {
    const thread = (await runtime.rest.post(Routes.threads(message.channel_id, message.id), {
      body: {
        name: truncate(job.prompt.replace(/\s+/g, ' ').trim(), 90) || 'Nano Banana',
        auto_archive_duration: 1440,
      },
    })) as { id: string };
    return thread.id;
  } catch (error) {
    runtime.logger.warn(
      { jobId: job.id, code: discordCode(error) },
      'Could not open a result thread',
    );
    if (discordCode(error) === MISSING_PERMISSIONS) {
      const locale = resolveLocale(job.locale);
      const note = `${content}\n${discordText(locale, 'result.no_thread')}`;
      await runtime.rest
        .patch(Routes.channelMessage(message.channel_id, message.id), {
          body: { content: truncate(note, 2000) },
        })
        .catch(() => undefined);
    }
    return undefined;
  }
}

export function discordCode(error: unknown): number | undefined {
  return error instanceof DiscordAPIError && typeof error.code === 'number'
    ? error.code
    : undefined;
}

function isExpiredToken(error: unknown): boolean {
  const code = discordCode(error);
  return code === INVALID_WEBHOOK_TOKEN || code === UNKNOWN_WEBHOOK || code === UNKNOWN_INTERACTION;
}

/** Missing permissions and archived threads are explained; a Discord outage is retried. */
export function deliveryError(error: unknown): NanoBananaError {
  if (error instanceof NanoBananaError) return error;
  const code = discordCode(error);
  if (code === MISSING_PERMISSIONS) {
    return new NanoBananaError('delivery_failed', 'Missing permissions', {
      params: {
        reason: 'missing_permissions',
        permission: 'Send Messages / Attach Files / Send Messages in Threads',
      },
      cause: error,
    });
  }
  if (code === ARCHIVED_THREAD) {
    return new NanoBananaError('delivery_failed', 'Archived thread', {
      params: { reason: 'archived_thread' },
      cause: error,
    });
  }
  const status = error instanceof DiscordAPIError ? error.status : undefined;
  const retryable = status === undefined || status >= 500 || status === 429;
  return new NanoBananaError(
    'delivery_failed',
    `Discord refused the delivery (${status ?? 'network'})`,
    {
      params: { reason: 'discord_error' },
      retryable,
      cause: error,
    },
  );
}
