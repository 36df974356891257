import { batchRequests, type NewJob, type Submitted, translate } from '../core/index.js';
import { statusMessage } from './blocks.js';
import { describeFailure } from './describe.js';
import type { Destination } from './destination.js';
import { type PrivateTarget, replyPrivately } from './replies.js';
import type { SlackRuntime } from './runtime.js';
import { type JobRequest, postStatus } from './start-job.js';
import { scheduleStatus } from './status.js';

/**
 * A batch on Slack (`{red, blue} bird`, `--repeat 2`): `startJob` for several jobs at once. The
 * batch is checked whole (the quota covers every job or none is made) before anything is posted;
 * then each job gets its status message, as a single request does, all are stored together, and
 * the user is told privately how many were queued. A refusal met at the store (a concurrent
 * request took the last images) shows on every status message.
 */
export async function startBatch(
  runtime: SlackRuntime,
  request: JobRequest,
  prompts: readonly string[],
): Promise<void> {
  const { channel } = request;
  const { locale } = request.fields;
  const privately: PrivateTarget = {
    channel,
    userId: request.fields.requesterId,
    threadTs: request.threadTs,
    responseUrl: request.responseUrl,
  };
  const drafts: NewJob[] = batchRequests(
    { ...request.fields, platform: 'slack', destination: undefined },
    prompts,
  );
  try {
    await runtime.jobs.checkBatch(drafts);
  } catch (error) {
    await replyPrivately(runtime, privately, describeFailure(error, locale));
    return;
  }

  const destinations: Destination[] = [];
  for (const draft of drafts) {
    const statusTs = await postStatus(runtime, { ...request, fields: draft }, privately);
    if (statusTs === undefined) {
      // The user was told why; what was posted of the batch goes.
      await removeStatuses(runtime, destinations);
      return;
    }
    destinations.push({
      channel,
      threadTs: request.threadTs ?? statusTs,
      statusTs,
      ...(request.responseUrl === undefined ? {} : { responseUrl: request.responseUrl }),
    });
  }

  let submitted: Submitted[];
  try {
    submitted = await runtime.acceptances.holdAll(
      drafts.map((draft) => draft.dedupKey),
      async () => {
        const accepted = await runtime.jobs.submitBatch(
          drafts.map((draft, index) => ({ ...draft, destination: destinations[index] })),
        );
        for (const [index, each] of accepted.entries()) {
          const destination = destinations[index];
          if (each.created && each.position !== undefined && destination !== undefined) {
            scheduleStatus(runtime, each.job, destination, {
              kind: 'queued',
              position: each.position,
            });
          }
        }
        return accepted;
      },
    );
  } catch (error) {
    await Promise.all(
      drafts.map(async (draft, index) => {
        const destination = destinations[index];
        if (destination === undefined) return;
        const refused = statusMessage(draft, `❌ ${describeFailure(error, locale)}`);
        await runtime.client.chat
          .update({
            channel,
            ts: destination.statusTs,
            text: refused.text,
            blocks: refused.blocks,
          })
          .catch((updateError: unknown) =>
            runtime.logger.warn({ err: updateError }, 'Could not show a refusal'),
          );
      }),
    );
    return;
  }
  if (!submitted.some((each) => each.created)) {
    // The same event already made these jobs, before a restart: these messages are too many.
    await removeStatuses(runtime, destinations);
    return;
  }
  runtime.logger.info(
    { jobIds: submitted.map((each) => each.job.id), channel },
    'Slack batch accepted',
  );
  await replyPrivately(
    runtime,
    privately,
    translate(locale, 'batch.queued', { count: submitted.length }),
  );
}

async function removeStatuses(
  runtime: SlackRuntime,
  destinations: readonly Destination[],
): Promise<void> {
  for (const destination of destinations) {
    await runtime.client.chat
      .delete({ channel: destination.channel, ts: destination.statusTs })
      .catch((error: unknown) =>
        runtime.logger.warn({ err: error }, 'Could not remove a status message'),
      );
  }
}
