import type { App } from '@slack/bolt';
import type { Job } from '../core/index.js';
import { ACTION_IDS, deletedMessage, noticeModal } from './blocks.js';
import { readDelivery, readDestination } from './destination.js';
import { openLoadingModal, showModal, showResultEditModal } from './modals.js';
import { type BlockActionPayload, blockActionSchema } from './payloads.js';
import { type PrivateTarget, replyPrivately } from './replies.js';
import type { SlackRuntime } from './runtime.js';
import { startJob } from './start-job.js';
import { type SlackTextKey, slackText } from './texts.js';

/**
 * The buttons: 🔁 Re-roll, ✏️ Edit, 🗑️ Delete under each result, Cancel on a waiting request.
 * Each carries its job id; the job itself is read from the store, so they work after a restart.
 */

/** One button press, validated, with who pressed it and where to answer them. */
interface Press {
  readonly payload: BlockActionPayload;
  readonly jobId: string;
  readonly userId: string;
  readonly teamId: string | undefined;
  readonly locale: string;
  readonly privately: PrivateTarget;
  /** The modal the press opened (the ✏️ Edit button's): answers then show there. */
  readonly viewId?: string | undefined;
}

type PressHandler = (runtime: SlackRuntime, press: Press, job: Job) => Promise<void>;

interface Button {
  readonly handler: PressHandler;
  /**
   * Whether the press opens a modal for this job. It must open with the press's trigger within
   * 3 s: before any lookup in Slack (the store answers in a round trip, Slack's lookups may not).
   */
  readonly opensModal?: (job: Job) => boolean;
}

export function registerActions(app: App, runtime: SlackRuntime): void {
  const buttons: Record<string, Button> = {
    [ACTION_IDS.reroll]: { handler: reroll },
    [ACTION_IDS.edit]: { handler: showEditModal, opensModal: hasResult },
    [ACTION_IDS.delete]: { handler: deleteResult },
    [ACTION_IDS.cancel]: { handler: cancel },
  };
  for (const [actionId, button] of Object.entries(buttons)) {
    app.action(actionId, async ({ ack, body }) => {
      await ack();
      try {
        await onPress(runtime, body, button);
      } catch (error) {
        runtime.logger.error({ err: error, actionId }, 'A Slack button failed');
      }
    });
  }
}

async function onPress(runtime: SlackRuntime, body: unknown, button: Button) {
  const parsed = blockActionSchema.safeParse(body);
  if (!parsed.success) return;
  const payload = parsed.data;
  const [action] = payload.actions;
  const channel = payload.container.channel_id ?? payload.channel?.id;
  if (action === undefined || channel === undefined) return;
  // The same press delivered twice (a Socket Mode redelivery) acts once.
  if (!(await runtime.events.claim(`slack:action:${action.action_ts}`))) return;
  const userId = payload.user.id;
  const privately: PrivateTarget = {
    channel,
    userId,
    threadTs: payload.container.thread_ts,
    responseUrl: payload.response_url,
  };
  const job = await runtime.jobs.getJob(action.value);
  const opensModal = job !== undefined && button.opensModal?.(job) === true;
  const viewId = opensModal
    ? await openLoadingModal(runtime, payload.trigger_id, privately)
    : undefined;
  if (opensModal && viewId === undefined) return;
  const press: Press = {
    payload,
    jobId: action.value,
    userId,
    teamId: payload.team?.id ?? undefined,
    locale: await runtime.users.locale(userId),
    privately,
    viewId,
  };
  if (job === undefined) {
    await tell(runtime, press, 'job.unknown');
    return;
  }
  await button.handler(runtime, press, job);
}

/** Answers the presser: in the modal the press opened, else privately in the conversation. */
function tell(runtime: SlackRuntime, press: Press, key: SlackTextKey): Promise<void> {
  const text = slackText(press.locale, key);
  return press.viewId === undefined
    ? replyPrivately(runtime, press.privately, text)
    : showModal(runtime, press.viewId, noticeModal(press.locale, text));
}

/** The same request again, on the presser's quota, into the same thread. */
async function reroll(runtime: SlackRuntime, press: Press, job: Job): Promise<void> {
  const destination = readDestination(job.destination);
  if (destination === undefined) {
    await tell(runtime, press, 'job.unknown');
    return;
  }
  const [action] = press.payload.actions;
  await startJob(runtime, {
    fields: {
      dedupKey: `slack:action:${action?.action_ts ?? press.payload.trigger_id}`,
      requesterId: press.userId,
      serverId: press.teamId,
      channelId: destination.channel,
      locale: press.locale,
      action: job.action,
      prompt: job.prompt,
      // The same request: its prompt already holds its style and suffix.
      promptIsFinal: true,
      options: job.options,
      inputs: job.inputs,
      parentJobId: job.id,
    },
    channel: destination.channel,
    threadTs: destination.threadTs,
    responseUrl: press.payload.response_url,
  });
}

function hasResult(job: Job): boolean {
  return editableImageCount(job) > 0;
}

/**
 * The images an Edit press may choose from. The buttons show as soon as they are posted, a moment
 * before the delivery is stored: until then the result's own count stands in (the form comes back
 * later, when the delivery is there).
 */
function editableImageCount(job: Job): number {
  const files = readDelivery(job.delivery)?.files.length ?? 0;
  if (files > 0) return files;
  return job.state === 'delivering' ? (job.result?.images.length ?? 0) : 0;
}

/** Asks what to change (and, with several images, which one); the modal makes the edit job. */
async function showEditModal(runtime: SlackRuntime, press: Press, job: Job): Promise<void> {
  const imageCount = editableImageCount(job);
  if (imageCount === 0 || press.viewId === undefined) {
    await tell(runtime, press, 'result.gone');
    return;
  }
  await showResultEditModal(runtime, press.viewId, {
    jobId: job.id,
    imageCount,
    locale: press.locale,
    responseUrl: press.payload.response_url,
  });
}

/**
 * Removes a result: its files, its buttons, and the prompt from the status message. Only the
 * requester, an operator admin (`NANO_BANANA_ADMIN_IDS`) or a moderator (a workspace admin or
 * owner) may. Being a moderator spends nothing: their own requests have the quotas of anyone.
 */
async function deleteResult(runtime: SlackRuntime, press: Press, job: Job): Promise<void> {
  const { workspaceAdmin } = await runtime.users.lookup(press.userId);
  if (!runtime.jobs.mayDelete(job, press.userId, workspaceAdmin)) {
    await tell(runtime, press, 'delete.not_allowed');
    return;
  }
  const destination = readDestination(job.destination);
  const delivery = readDelivery(job.delivery);
  const log = runtime.logger.child({ jobId: job.id });
  const attempt = async (what: string, call: () => Promise<unknown>) => {
    try {
      await call();
    } catch (error) {
      log.warn({ err: error }, `Could not delete ${what}`);
    }
  };
  for (const file of delivery?.files ?? []) {
    await attempt('a result file', () => runtime.client.files.delete({ file: file.id }));
  }
  if (destination !== undefined) {
    const { channel, statusTs } = destination;
    if (delivery?.buttonsTs !== undefined) {
      const ts = delivery.buttonsTs;
      await attempt('the result buttons', () => runtime.client.chat.delete({ channel, ts }));
    }
    const replaced = deletedMessage(job.locale, press.userId);
    await attempt('the request', () =>
      runtime.client.chat.update({ channel, ts: statusTs, ...replaced }),
    );
  }
  await runtime.jobs.forgetResult(job.id);
  log.info({ by: press.userId }, 'Slack result deleted');
}

async function cancel(runtime: SlackRuntime, press: Press, job: Job): Promise<void> {
  const outcome = await runtime.jobs.cancel(job.id, press.userId);
  // A cancelled job's status message is updated by the engine's notice.
  if (outcome === 'not_yours') await tell(runtime, press, 'cancel.not_yours');
  else if (outcome === 'too_late') await tell(runtime, press, 'cancel.too_late');
  else if (outcome === 'not_found') await tell(runtime, press, 'job.unknown');
}
