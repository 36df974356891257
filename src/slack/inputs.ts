import { z } from 'zod';
import type { InputReference } from '../core/index.js';
import { imageFiles, toInputReference } from './files.js';
import { type SlackFile, slackFileSchema } from './payloads.js';
import type { SlackRuntime } from './runtime.js';

/** Threads are short; a few pages of replies are plenty to find the latest image. */
const REPLIES_PAGE_SIZE = 200;
const MAX_REPLY_PAGES = 5;

const repliesSchema = z.object({
  messages: z
    .array(z.object({ ts: z.string(), files: z.array(slackFileSchema).default([]) }))
    .default([]),
  response_metadata: z.object({ next_cursor: z.string().optional() }).optional(),
});

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

/**
 * The latest image in a thread before a given message: the last one the bot posted, or one a user
 * posted since. Undefined when there is none, or the thread cannot be read.
 */
export async function latestThreadImage(
  runtime: SlackRuntime,
  channel: string,
  threadTs: string,
  beforeTs: string,
): Promise<InputReference | undefined> {
  let latest: InputReference | undefined;
  let cursor: string | undefined;
  try {
    for (let page = 0; page < MAX_REPLY_PAGES; page += 1) {
      const answer = repliesSchema.parse(
        await runtime.client.conversations.replies({
          channel,
          ts: threadTs,
          limit: REPLIES_PAGE_SIZE,
          ...(cursor === undefined ? {} : { cursor }),
        }),
      );
      // Oldest first: each earlier message with an image is replaced by any later one.
      for (const message of answer.messages) {
        if (compareTs(message.ts, beforeTs) >= 0) continue;
        const inputs = imageInputs(message.files);
        latest = inputs.at(-1) ?? latest;
      }
      cursor = answer.response_metadata?.next_cursor;
      if (cursor === undefined || cursor === '') break;
    }
  } catch (error) {
    runtime.logger.warn({ err: error, channel }, 'Could not read a thread for its latest image');
  }
  return latest;
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
