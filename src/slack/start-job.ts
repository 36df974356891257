import type { NewJob, Submitted } from '../core/index.js';
import { statusMessage } from './blocks.js';
import { describeFailure } from './describe.js';
import type { Destination } from './destination.js';
import { type PrivateTarget, replyPrivately } from './replies.js';
import type { SlackRuntime } from './runtime.js';
import { startBatch } from './start-batch.js';
import { scheduleStatus, statusLine } from './status.js';
import { slackText } from './texts.js';
import { cannotPost, slackErrorCode } from './web-api-errors.js';

/** A request from any entry point (command, message, button, modal), before it is a job. */
export interface JobRequest {
  readonly fields: Omit<NewJob, 'platform' | 'destination'>;
  readonly channel: string;
  /** The thread to reply in; without it the status message starts its own (a command, a DM). */
  readonly threadTs?: string | undefined;
  readonly responseUrl?: string | undefined;
  /**
   * A batch (`{red, blue} bird`, `--repeat 2`): the prompt of each job, each its own status
   * message and thread (see `startBatch`). Absent or one: the single job of `fields`.
   */
  readonly prompts?: readonly string[] | undefined;
}

/**
 * The one path from a request to a job, whatever it came from: refusals are answered at once and
 * privately, with nothing sent; then the status message is posted (or the user told privately
 * how to add the bot), and only then is the job stored and queued, its status message showing
 * where it stands.
 */
export async function startJob(runtime: SlackRuntime, request: JobRequest): Promise<void> {
  if (request.prompts !== undefined && request.prompts.length > 1) {
    return startBatch(runtime, request, request.prompts);
  }
  const { fields, channel } = request;
  const { locale } = fields;
  const privately: PrivateTarget = {
    channel,
    userId: fields.requesterId,
    threadTs: request.threadTs,
    responseUrl: request.responseUrl,
  };
  const draft: NewJob = { ...fields, platform: 'slack', destination: undefined };
  try {
    await runtime.jobs.check(draft);
  } catch (error) {
    await replyPrivately(runtime, privately, describeFailure(error, locale));
    return;
  }

  const statusTs = await postStatus(runtime, request, privately);
  if (statusTs === undefined) return;
  const destination: Destination = {
    channel,
    threadTs: request.threadTs ?? statusTs,
    statusTs,
    ...(request.responseUrl === undefined ? {} : { responseUrl: request.responseUrl }),
  };

  let submitted: Submitted;
  try {
    // The engine may start the job before `submit` has answered here: its progress waits until
    // the "in line" status is scheduled, and so comes after it.
    submitted = await runtime.acceptances.hold(draft.dedupKey, async () => {
      const accepted = await runtime.jobs.submit({ ...draft, destination });
      if (accepted.created && accepted.position !== undefined) {
        scheduleStatus(runtime, accepted.job, destination, {
          kind: 'queued',
          position: accepted.position,
        });
      }
      return accepted;
    });
  } catch (error) {
    // Refused between the check and now (a quota used up meanwhile, a shutdown).
    const refused = statusMessage(fields, `❌ ${describeFailure(error, locale)}`);
    await runtime.client.chat
      .update({ channel, ts: statusTs, text: refused.text, blocks: refused.blocks })
      .catch((updateError: unknown) =>
        runtime.logger.warn({ err: updateError }, 'Could not show a refusal'),
      );
    return;
  }
  if (!submitted.created) {
    // The same event already made a job, before a restart: this status message is one too many.
    await runtime.client.chat
      .delete({ channel, ts: statusTs })
      .catch((deleteError: unknown) =>
        runtime.logger.warn({ err: deleteError }, 'Could not remove a duplicate status message'),
      );
    return;
  }
  const { job } = submitted;
  runtime.logger.info({ jobId: job.id, channel, action: job.action }, 'Slack request accepted');
}

/** Posts the status message; undefined (the user told why) when the bot cannot post there. */
export async function postStatus(
  runtime: SlackRuntime,
  request: JobRequest,
  privately: PrivateTarget,
): Promise<string | undefined> {
  const { fields, channel } = request;
  const message = statusMessage(fields, statusLine(fields.locale, { kind: 'received' }));
  try {
    const posted = await runtime.client.chat.postMessage({
      channel,
      text: message.text,
      blocks: message.blocks,
      ...(request.threadTs === undefined ? {} : { thread_ts: request.threadTs }),
    });
    if (posted.ts !== undefined) return posted.ts;
    throw new Error('chat.postMessage answered without a ts');
  } catch (error) {
    const notice = cannotPost(error)
      ? slackText(fields.locale, 'post.not_in_channel', { bot: runtime.bot.name })
      : slackText(fields.locale, 'post.failed', { code: slackErrorCode(error) ?? 'error' });
    if (!cannotPost(error)) {
      runtime.logger.error({ err: error, channel }, 'Could not post a status message');
    }
    await replyPrivately(runtime, privately, notice);
    return undefined;
  }
}
