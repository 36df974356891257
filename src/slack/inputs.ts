import type { InputReference } from '../core/index.js';
import { imageFiles, toInputReference } from './files.js';
import { type SlackFile, slackFileSchema, threadRepliesSchema } from './payloads.js';
import type { SlackRuntime } from './runtime.js';
import { slackText } from './texts.js';
import { isRateLimited, slackErrorCode } from './web-api-errors.js';

/** Threads are short; a few pages of replies are plenty to find the latest image. */
const REPLIES_PAGE_SIZE = 200;
const MAX_REPLY_PAGES = 5;

/**
 * A message's files as Slack sends them in events may lack their URL or type (files shared from
 * elsewhere say `file_access: check_file_info`): those are asked for with `files.info`.
 */
export async function completeFiles(
  runtime: SlackRuntime,
  files: readonly SlackFile[],
): Promise<SlackFile[]> {
  return Promise.all(
    files.map(async (file) => {
      if (file.url_private !== undefined && file.mimetype !== undefined) return file;
      try {
        const answer = await runtime.client.files.info({ file: file.id });
        const parsed = slackFileSchema.safeParse(answer.file);
        return parsed.success ? parsed.data : file;
      } catch (error) {
        runtime.logger.warn({ err: error, fileId: file.id }, 'Could not read a file’s details');
        return file;
      }
    }),
  );
}

/** The job inputs for a message's image files, in the order they were shared. */
export function imageInputs(files: readonly SlackFile[]): InputReference[] {
  return imageFiles(files)
    .map(toInputReference)
    .filter((input): input is InputReference => input !== undefined);
}

/** What reading a thread for its latest image found. */
export type ThreadImage =
  | { readonly kind: 'found'; readonly input: InputReference | undefined }
  /** Slack would not give the thread: the user is told why, and nothing is sent. */
  | {
      readonly kind: 'unreadable';
      /** Slack's error code; undefined when Slack could not be reached or did not answer. */
      readonly code: string | undefined;
      readonly neededScope?: string;
    };

/**
 * The thread's latest image before a given message: the latest image the bot delivered there, or
 * a user's file that a job already downloaded as an image (`usableFiles`). A user's file nobody
 * has used yet (a text file named `y.png`, a file since deleted) is left out: it would fail every
 * later edit in the thread with a message about itself rather than the file just attached. Only
 * when neither exists, and the reply attaches no image of its own (`attachedImages`), does the
 * message the thread hangs off count, as the image the reply means (a reply mentioning the bot
 * under someone's photo).
 */
export async function latestThreadImage(
  runtime: SlackRuntime,
  channel: string,
  threadTs: string,
  beforeTs: string,
  attachedImages: number,
): Promise<ThreadImage> {
  let latest: InputReference | undefined;
  let parent: InputReference | undefined;
  let cursor: string | undefined;
  try {
    for (let page = 0; page < MAX_REPLY_PAGES; page += 1) {
      const answer = threadRepliesSchema.parse(
        // The quick client: the user waits, and a rate limit is told rather than waited out.
        await runtime.quickClient.conversations.replies({
          channel,
          ts: threadTs,
          limit: REPLIES_PAGE_SIZE,
          ...(cursor === undefined ? {} : { cursor }),
        }),
      );
      // Oldest first: each earlier image is replaced by any later one.
      for (const message of answer.messages) {
        if (compareTs(message.ts, beforeTs) >= 0) continue;
        const inputs = imageInputs(message.files);
        if (message.ts === threadTs) parent = inputs.at(-1) ?? parent;
        const fromBot = message.user === runtime.bot.userId || message.bot_id === runtime.bot.botId;
        const usable = fromBot ? inputs : inputs.filter((input) => isUsable(runtime, input));
        latest = usable.at(-1) ?? latest;
      }
      cursor = answer.response_metadata?.next_cursor;
      if (cursor === undefined || cursor === '') break;
    }
  } catch (error) {
    runtime.logger.warn({ err: error, channel }, 'Could not read a thread for its latest image');
    return unreadable(error);
  }
  return { kind: 'found', input: latest ?? (attachedImages === 0 ? parent : undefined) };
}

/** Remembers that a job downloaded a user's file as an image: it may be a thread's latest. */
export function markUsable(runtime: SlackRuntime, input: InputReference): void {
  if (input.kind === 'platform') runtime.usableFiles.add(input.ref);
}

function isUsable(runtime: SlackRuntime, input: InputReference): boolean {
  return input.kind === 'platform' && runtime.usableFiles.has(input.ref);
}

function unreadable(error: unknown): ThreadImage {
  if (isRateLimited(error)) return { kind: 'unreadable', code: 'ratelimited' };
  const code = slackErrorCode(error);
  const needed = (error as { data?: { needed?: unknown } } | undefined)?.data?.needed;
  return typeof needed === 'string' && needed !== ''
    ? { kind: 'unreadable', code, neededScope: needed }
    : { kind: 'unreadable', code };
}

/** The user's sentence for a thread Slack would not give (see `latestThreadImage`). */
export function unreadableThreadText(
  runtime: SlackRuntime,
  locale: string,
  problem: Extract<ThreadImage, { kind: 'unreadable' }>,
): string {
  if (problem.code === 'missing_scope') {
    return slackText(locale, 'thread.missing_scope', {
      scope: problem.neededScope ?? 'channels:history',
    });
  }
  if (problem.code === 'not_in_channel' || problem.code === 'channel_not_found') {
    return slackText(locale, 'thread.not_in_channel', { bot: runtime.bot.name });
  }
  if (problem.code === 'ratelimited') return slackText(locale, 'thread.rate_limited');
  return problem.code === undefined
    ? slackText(locale, 'thread.unreachable')
    : slackText(locale, 'thread.unreadable', { code: problem.code });
}

/** Orders Slack timestamps (`<seconds>.<micro>`) without floating-point rounding. */
export function compareTs(left: string, right: string): number {
  const [leftSeconds = '0', leftMicros = '0'] = left.split('.');
  const [rightSeconds = '0', rightMicros = '0'] = right.split('.');
  return (
    Number(leftSeconds) - Number(rightSeconds) ||
    Number(leftMicros.padEnd(6, '0')) - Number(rightMicros.padEnd(6, '0'))
  );
}
