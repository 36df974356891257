import { z } from 'zod';
import { ACTION_IDS } from './blocks.js';
import type { DeliveredFile } from './destination.js';
import { threadRepliesSchema } from './payloads.js';
import type { SlackRuntime } from './runtime.js';
import { slackErrorCode, toDeliveryError } from './web-api-errors.js';

/**
 * Slack uploads and posts have no idempotency key: a process that died after its upload of a
 * result reached Slack, but before the job was marked done, leaves the images in the thread and
 * the job `delivering`. The process that takes the job over looks in the thread for what the
 * earlier attempt posted before it posts anything: the result's files are named after the job
 * (`nano-banana-<job id>-<n>.png`) and its buttons carry the job id as their value.
 */

/** A result's thread is short; a few pages reach back far enough. */
const REPLIES_PAGE_SIZE = 200;
const MAX_REPLY_PAGES = 5;
/**
 * How far before the saved start of the delivery the search begins: that time is the dead
 * process's clock, Slack's timestamps are Slack's, and the two may disagree by a little.
 */
const CLOCK_MARGIN_MS = 10 * 60 * 1000;

const actionsBlockSchema = z.object({
  type: z.literal('actions'),
  elements: z.array(z.object({ action_id: z.string().optional(), value: z.string().optional() })),
});

export interface EarlierResult {
  /** The result's files, when an earlier attempt's upload is in the thread. */
  readonly files?: DeliveredFile[];
  /** The result's buttons message, when an earlier attempt posted it. */
  readonly buttonsTs?: string;
}

/** The file names a job's result is uploaded under (see `SlackPlatform.deliver`). */
export function resultFileName(jobId: string, index: number, extension: string): string {
  return `nano-banana-${jobId}-${index + 1}.${extension}`;
}

/**
 * What of a job's result the bot already posted in its thread since `since` (Unix milliseconds).
 * A failure Slack may get over is thrown (retryable) for the engine to try again; a lasting one
 * (a missing history scope, say) finds nothing: the images are then posted again, since a result
 * shown twice is better than a paid one never shown.
 */
export async function findEarlierResult(
  runtime: SlackRuntime,
  jobId: string,
  channel: string,
  threadTs: string,
  since: number,
): Promise<EarlierResult> {
  const prefix = `nano-banana-${jobId}-`;
  let files: DeliveredFile[] | undefined;
  let buttonsTs: string | undefined;
  let cursor: string | undefined;
  try {
    for (let page = 0; page < MAX_REPLY_PAGES; page += 1) {
      const answer = threadRepliesSchema.parse(
        await runtime.client.conversations.replies({
          channel,
          ts: threadTs,
          oldest: ((since - CLOCK_MARGIN_MS) / 1000).toFixed(6),
          limit: REPLIES_PAGE_SIZE,
          ...(cursor === undefined ? {} : { cursor }),
        }),
      );
      for (const message of answer.messages) {
        const fromBot = message.user === runtime.bot.userId || message.bot_id === runtime.bot.botId;
        if (!fromBot) continue;
        const own = message.files.filter((file) => file.name?.startsWith(prefix) ?? false);
        if (own.length > 0 && files === undefined) {
          files = own.map((file) => ({
            id: file.id,
            url: file.url_private ?? '',
            name: file.name ?? '',
          }));
        }
        if (buttonsTs === undefined && carriesButtonsOf(message.blocks, jobId)) {
          buttonsTs = message.ts;
        }
      }
      cursor = answer.response_metadata?.next_cursor;
      if (cursor === undefined || cursor === '') break;
    }
  } catch (error) {
    const failure = toDeliveryError(error, 'Reading the thread for an earlier result');
    if (failure.retryable) throw failure;
    runtime.logger.warn(
      { jobId, channel, slackError: slackErrorCode(error) },
      'Could not read the thread for an earlier result; posting it again',
    );
    return {};
  }
  return {
    ...(files === undefined ? {} : { files }),
    ...(buttonsTs === undefined ? {} : { buttonsTs }),
  };
}

/** Whether a message's blocks hold the Re-roll button of that job (see `resultMessage`). */
function carriesButtonsOf(blocks: readonly unknown[], jobId: string): boolean {
  return blocks.some((block) => {
    const parsed = actionsBlockSchema.safeParse(block);
    return (
      parsed.success &&
      parsed.data.elements.some(
        (element) => element.action_id === ACTION_IDS.reroll && element.value === jobId,
      )
    );
  });
}
