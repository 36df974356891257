import { type APIMessage, MessageFlags, type RawFile, Routes } from 'discord.js';
import {
  type DeliveryCheckpoint,
  displayPrompt,
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
import { describeFailure } from './describe.js';
import {
  type Delivery,
  type Destination,
  type PartialDelivery,
  readDestination,
  readPartialDelivery,
  tokenUsable,
  webhookMessageOf,
} from './destination.js';
import {
  deliveryError,
  discordCode,
  isExpiredToken,
  isMissingPermission,
  type Setback,
  setbackOf,
  statusOf,
  undeliverable,
} from './discord-errors.js';
import { resultExtras } from './image-actions.js';
import { readReference, resolveInput } from './images.js';
import type { DiscordRuntime } from './runtime.js';
import { serverWantsThreads } from './server-settings.js';
import { discordText, elapsedText } from './texts.js';
import {
  altText,
  failureBody,
  type MessageBody,
  mention,
  progressBody,
  queuedBody,
  resultContent,
  resultRows,
  truncate,
} from './views.js';

// Re-exported from their former home, so that code written against it still compiles.
export { deliveryError, discordCode } from './discord-errors.js';

/** Discord: at most 10 files and 25 MiB per message; keep room for the JSON part. */
const MAX_FILES_PER_MESSAGE = 10;
const MAX_MESSAGE_BYTES = 25 * 1024 * 1024 - 256 * 1024;

/** How the engine reaches Discord: progress edits, results, failures, and fetching inputs. */
export function createDiscordPlatform(runtime: DiscordRuntime): PlatformAdapter {
  return {
    platform: 'discord',
    fetchInput: (job, input, signal) => fetchInput(runtime, job, input, signal),
    notify: (job, event) => notify(runtime, job, event),
    deliver: (job, images, _signal, checkpoint) => deliver(runtime, job, images, checkpoint),
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
  // The request's own "in line" message first (see AcceptanceGate).
  await runtime.acceptances.passed(job.dedupKey);
  const locale = resolveLocale(job.locale);
  // Read when the edit runs: the message id may have been stored since the event was sent.
  const current = async () =>
    readDestination((await runtime.jobs.getJob(job.id))?.destination ?? job.destination);
  const edit = (body: MessageBody) => async () => {
    try {
      await editProgress(runtime, await current(), body);
    } catch (error) {
      runtime.logger.warn(
        { jobId: job.id, event: event.kind, code: discordCode(error) },
        'Progress edit failed',
      );
    }
  };
  if (event.kind === 'failed') {
    await runtime.throttle.final(job.id, async () =>
      reportFailure(runtime, job, await current(), event.error),
    );
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
  // Not a permission: Discord answered with an error no other way of posting avoids.
  if (error.code === 'delivery_failed' && error.params.reason === 'discord_error') {
    return discordText(locale, 'delivery.discord_error');
  }
  // The sentence may quote what the user typed (a file name, a model): escaped, as everywhere.
  return describeFailure(
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
      await runtime.webhooks.patch(
        Routes.webhookMessage(
          destination.applicationId,
          destination.token,
          webhookMessageOf(destination),
        ),
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
  checkpoint?: DeliveryCheckpoint,
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
  const extras = await resultExtras(runtime, job, images, destination);
  const content = resultContent(job, locale, runtime.now(), {
    converted,
    scaled,
    delivered: images.length,
    fromParent: extras.fromParent,
    upscaleNote: extras.upscaleNote,
  });
  const chunks = chunkFiles(files);
  // Parts an earlier attempt posted (see `PartialDelivery`); the first is posted again, as an
  // edit of the same message or a post under an enforced nonce: it makes no second message.
  const parts: PartialDelivery['parts'] = { ...readPartialDelivery(job.delivery)?.parts };
  const posted: PostedPart[] = [];
  let first: Posted | undefined;
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
        components: index === chunks.length - 1 ? resultRows(job, locale, extras.controls) : [],
        attachments: chunk.map((entry, position) => ({
          id: position,
          filename: entry.file.name,
          description: entry.description,
        })),
        allowed_mentions: { users: [job.requesterId] },
      };
      const rawFiles = chunk.map((entry) => entry.file);
      if (first === undefined) {
        first = await postFirstAfterProgress(runtime, job, destination, body, rawFiles);
        posted.push(partOf(first.message));
        continue;
      }
      const earlier = parts[String(index)];
      if (earlier !== undefined) {
        posted.push(earlier);
        continue;
      }
      const part = partOf(await postMore(runtime, job, destination, body, rawFiles, first, index));
      posted.push(part);
      // A later part may fail yet: this one is saved, not to be posted again (a webhook
      // follow-up takes no nonce).
      if (index < chunks.length - 1) {
        parts[String(index)] = part;
        await checkpoint?.save({ parts } satisfies PartialDelivery);
      }
    }
  } catch (error) {
    runtime.logger.warn(
      { jobId: job.id, code: discordCode(error), status: statusOf(error) },
      'Discord delivery failed',
    );
    throw deliveryError(error);
  }
  runtime.throttle.forget(job.id);
  // A thread belongs beside the result in the channel asked in, not in a DM.
  const threadId =
    first !== undefined && first.route !== 'dm'
      ? await openThread(runtime, job, destination, first.message, content)
      : undefined;
  return {
    messages: posted.map(({ channelId, messageId }) => ({ channelId, messageId })),
    images: posted.flatMap((part) => part.images),
    ...(threadId ? { threadId } : {}),
  };
}

type PostedPart = PartialDelivery['parts'][string];

function partOf(message: APIMessage): PostedPart {
  return {
    channelId: message.channel_id,
    messageId: message.id,
    images: (message.attachments ?? []).map((attachment) => ({
      url: attachment.url,
      name: attachment.filename,
      size: attachment.size,
    })),
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
): Promise<Posted> {
  let posted: Posted | undefined;
  await runtime.throttle.final(job.id, async () => {
    posted = await postFirst(runtime, job, destination, body, files);
  });
  if (posted === undefined) throw new Error('The result message was not posted');
  return posted;
}

/** Where the first message of a result went; the rest follow it there. */
type Route = 'webhook' | 'channel' | 'dm';

interface Posted {
  readonly message: APIMessage;
  readonly route: Route;
}

/**
 * The first message of a result, falling back in order: the interaction reply while its token
 * lasts (or the bot's progress reply to a message), then a new message in the channel that replies
 * to the request and mentions the requester, then a DM to the requester with the files. A private
 * request skips the channel. Each step that Discord refuses for a reason another step avoids (a
 * deleted message, a dead webhook, a refused channel: see `setbackOf`) passes to the next, and the
 * text says what happened; any other error is thrown for the engine to retry. When the DM is
 * refused too, `undeliverable`.
 */
async function postFirst(
  runtime: DiscordRuntime,
  job: Job,
  destination: Destination,
  body: MessageBody,
  files: RawFile[],
): Promise<Posted> {
  const { rest } = runtime;
  const locale = resolveLocale(job.locale);
  const setbacks: Setback[] = [];
  const tryStep = async (step: () => Promise<unknown>): Promise<APIMessage | undefined> => {
    try {
      return (await step()) as APIMessage;
    } catch (error) {
      const setback = setbackOf(error);
      if (setback === undefined) throw error;
      runtime.logger.warn(
        { jobId: job.id, code: discordCode(error), setback },
        'A way of posting the result was refused; trying the next',
      );
      setbacks.push(setback);
      return undefined;
    }
  };

  if (tokenUsable(destination, runtime.now())) {
    const { applicationId, token } = destination;
    const message = await tryStep(() =>
      runtime.webhooks.patch(
        Routes.webhookMessage(applicationId, token, webhookMessageOf(destination)),
        {
          body,
          files,
          auth: false,
        },
      ),
    );
    if (message) return { message, route: 'webhook' };
  } else if (destination.kind === 'message' && destination.progressMessageId !== undefined) {
    const { channelId, progressMessageId } = destination;
    const message = await tryStep(() =>
      rest.patch(Routes.channelMessage(channelId, progressMessageId), { body, files }),
    );
    if (message) return { message, route: 'channel' };
  }

  const ephemeral = destination.kind === 'interaction' && destination.ephemeral;
  // Editing our own message was refused for want of permissions: a new message would be too.
  const channelRefused = setbacks.some(
    (setback) => setback !== 'message_deleted' && setback !== 'reply_unavailable',
  );
  if (!ephemeral && !channelRefused) {
    const replyTo =
      destination.kind === 'interaction' ? destination.messageId : destination.sourceMessageId;
    const notice =
      setbacks.at(-1) === 'message_deleted'
        ? discordText(locale, 'fallback.message_deleted', { mention: mention(job) })
        : setbacks.at(-1) === 'reply_unavailable'
          ? discordText(locale, 'fallback.reply_unavailable', { mention: mention(job) })
          : translate(locale, 'job.expired_token_notice', { mention: mention(job) });
    const message = await tryStep(() =>
      rest.post(Routes.channelMessages(destination.channelId), {
        body: {
          ...withNotice(body, notice),
          ...(replyTo
            ? { message_reference: { message_id: replyTo, fail_if_not_exists: false } }
            : {}),
          ...onceOnly(job, 0),
        },
        files,
      }),
    );
    if (message) return { message, route: 'channel' };
  }

  const notice = dmNotice(locale, destination, setbacks.at(-1));
  try {
    const channel = (await rest.post(Routes.userChannels(), {
      body: { recipient_id: job.requesterId },
    })) as { id: string };
    const message = (await rest.post(Routes.channelMessages(channel.id), {
      body: { ...withNotice(body, notice), ...onceOnly(job, 0) },
      files,
    })) as APIMessage;
    return { message, route: 'dm' };
  } catch (error) {
    const setback = setbackOf(error);
    if (setback === undefined) throw error;
    throw undeliverable([...setbacks, setback], error);
  }
}

/** The DM's first line: why the images came here rather than where they were asked for. */
function dmNotice(locale: Locale, destination: Destination, setback: Setback | undefined): string {
  const channel = destination.channelId;
  switch (setback) {
    case 'channel_refused':
      return discordText(locale, 'fallback.dm.channel_refused', { channel });
    case 'archived_thread':
      return discordText(locale, 'fallback.dm.archived_thread', { channel });
    case 'channel_gone':
      return discordText(locale, 'fallback.dm.channel_gone');
    case 'message_deleted':
      return discordText(locale, 'fallback.dm.message_deleted');
    case 'reply_unavailable':
      return discordText(locale, 'fallback.dm.reply_unavailable');
    default:
      return discordText(locale, 'fallback.dm.late');
  }
}

/**
 * A result's channel and DM posts carry a nonce that Discord enforces: when a process dies after
 * Discord made the message but before the job was marked done, the process that takes the job over
 * posts again, and Discord answers with the message it already made instead of a second one (it
 * remembers for a few minutes). Edits of the interaction reply or of the bot's progress message
 * are the same edit made twice. Discord allows 25 characters; a job id is 16.
 */
function onceOnly(job: Job, part: number): { nonce: string; enforce_nonce: true } {
  return { nonce: `${job.id}.${part}`.slice(0, 25), enforce_nonce: true };
}

function withNotice(body: MessageBody, notice: string): MessageBody {
  return { ...body, content: truncate(`${notice}\n${body.content ?? ''}`, 2000) };
}

async function postMore(
  runtime: DiscordRuntime,
  job: Job,
  destination: Destination,
  body: MessageBody,
  files: RawFile[],
  first: Posted,
  part: number,
): Promise<APIMessage> {
  if (first.route === 'webhook' && destination.kind === 'interaction') {
    return (await runtime.webhooks.post(
      Routes.webhook(destination.applicationId, destination.token),
      {
        body: { ...body, ...(destination.ephemeral ? { flags: MessageFlags.Ephemeral } : {}) },
        files,
        auth: false,
        query: new URLSearchParams({ wait: 'true' }),
      },
    )) as APIMessage;
  }
  // Beside the first message, wherever the fallback put it (the channel or the DM).
  return (await runtime.rest.post(Routes.channelMessages(first.message.channel_id), {
    body: {
      ...body,
      message_reference: { message_id: first.message.id, fail_if_not_exists: false },
      ...onceOnly(job, part),
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
    destination.guildId === undefined ||
    // The server's moderators may turn result threads off (`/settings threads`).
    !(await serverWantsThreads(runtime, destination.guildId))
  ) {
    return undefined;
  }
  try {
    const thread = (await runtime.rest.post(Routes.threads(message.channel_id, message.id), {
      body: {
        name: truncate(displayPrompt(job).replace(/\s+/g, ' ').trim(), 90) || 'Nano Banana',
        auto_archive_duration: 1440,
      },
    })) as { id: string };
    return thread.id;
  } catch (error) {
    runtime.logger.warn(
      { jobId: job.id, code: discordCode(error) },
      'Could not open a result thread',
    );
    if (isMissingPermission(error)) {
      const locale = resolveLocale(job.locale);
      const note = `${content}\n${discordText(locale, 'result.no_thread')}`;
      await runtime.rest
        .patch(Routes.channelMessage(message.channel_id, message.id), {
          // The note repeats the prompt: without this, an `@everyone` typed in it would ping.
          body: { content: truncate(note, 2000), allowed_mentions: { users: [job.requesterId] } },
        })
        .catch(() => undefined);
    }
    return undefined;
  }
}
