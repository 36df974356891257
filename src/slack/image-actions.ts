import type { App } from '@slack/bolt';
import {
  displayPrompt,
  type ImageActionTarget,
  imageActionRequest,
  type Job,
  parseImageActionId,
  type ResultImageFile,
  resultImageUrl,
  translate,
  upscaleChoices,
} from '../core/index.js';
import { IMAGE_ACTION_ID_PREFIX, type ImageControls, noticeModal } from './blocks.js';
import { describeFailure } from './describe.js';
import { readDestination } from './destination.js';
import { openLoadingModal, showModal, showResultEditModal } from './modals.js';
import { escapeMrkdwn } from './mrkdwn.js';
import { blockActionSchema } from './payloads.js';
import { type PrivateTarget, replyPrivately } from './replies.js';
import type { SlackRuntime } from './runtime.js';
import { startJob } from './start-job.js';
import { slackText } from './texts.js';

/**
 * The per-image buttons of a result (⬆️ Upscale 2K/4K, 🔀 Vary, ✏️ Edit) and what a press does:
 * a new job on the presser's quota, made from that image of the result (its URL in the job's
 * result), into the result's thread, linked to it. The button's value names the job and the
 * image: it works after a restart, the rest is read from the store.
 */

export function registerImageActions(app: App, runtime: SlackRuntime): void {
  app.action(new RegExp(`^${IMAGE_ACTION_ID_PREFIX}`), async ({ ack, body }) => {
    await ack();
    try {
      await onPress(runtime, body);
    } catch (error) {
      runtime.logger.error({ err: error }, 'A Slack image button failed');
    }
  });
}

async function onPress(runtime: SlackRuntime, body: unknown): Promise<void> {
  const parsed = blockActionSchema.safeParse(body);
  if (!parsed.success) return;
  const payload = parsed.data;
  const [action] = payload.actions;
  const channel = payload.container.channel_id ?? payload.channel?.id;
  const target = parseImageActionId(action?.value ?? '');
  if (action === undefined || channel === undefined || target === undefined) return;
  // The same press delivered twice (a Socket Mode redelivery, or to two processes) acts once.
  if (!(await runtime.events.claim(`slack:action:${action.action_ts}`))) return;
  const userId = payload.user.id;
  const privately: PrivateTarget = {
    channel,
    userId,
    threadTs: payload.container.thread_ts,
    responseUrl: payload.response_url,
  };
  // Edit opens its form with the press's trigger, good for 3 s: before any lookup in Slack.
  const viewId =
    target.kind === 'edit'
      ? await openLoadingModal(runtime, payload.trigger_id, privately)
      : undefined;
  if (target.kind === 'edit' && viewId === undefined) return;
  const locale = await runtime.users.locale(userId);
  const tell = (text: string) =>
    viewId === undefined
      ? replyPrivately(runtime, privately, text)
      : showModal(runtime, viewId, noticeModal(locale, text));

  const parent = await runtime.jobs.getJob(target.jobId);
  const destination = readDestination(parent?.destination);
  if (parent === undefined || parent.platform !== 'slack' || destination === undefined) {
    await tell(slackText(locale, 'job.unknown'));
    return;
  }
  try {
    resultImageUrl(parent, target.index);
  } catch (error) {
    await tell(describeFailure(error, locale));
    return;
  }
  if (target.kind === 'edit') {
    await showResultEditModal(runtime, viewId ?? '', {
      jobId: parent.id,
      imageCount: 1,
      imageIndex: target.index,
      locale,
      responseUrl: payload.response_url,
    });
    return;
  }
  await startAction(runtime, parent, target, {
    dedupKey: `slack:action:${action.action_ts}`,
    userId,
    teamId: payload.team?.id ?? undefined,
    locale,
    responseUrl: payload.response_url,
  });
}

async function startAction(
  runtime: SlackRuntime,
  parent: Job,
  target: Extract<ImageActionTarget, { kind: 'upscale' | 'vary' }>,
  press: {
    dedupKey: string;
    userId: string;
    teamId: string | undefined;
    locale: string;
    responseUrl: string | undefined;
  },
): Promise<void> {
  const destination = readDestination(parent.destination);
  if (destination === undefined) return;
  const { config } = runtime;
  const fields = imageActionRequest(
    parent,
    target,
    {
      dedupKey: press.dedupKey,
      requesterId: press.userId,
      serverId: press.teamId,
      channelId: destination.channel,
      locale: press.locale,
    },
    {
      catalog: config.catalog,
      upscaleModel: config.upscaleModel,
      maxPromptLength: config.maxPromptLength,
    },
  );
  await startJob(runtime, {
    fields,
    channel: destination.channel,
    threadTs: destination.threadTs,
    responseUrl: press.responseUrl,
  });
}

/** What a result's message shows of its per-image actions and of where it came from. */
export interface ResultExtras {
  readonly controls: ImageControls;
  /** Lines for the result's notes: where it came from, and where upscales run. */
  readonly notes: readonly string[];
}

export async function resultExtras(
  runtime: SlackRuntime,
  job: Job,
  images: readonly ResultImageFile[],
  uploadLimit: number,
): Promise<ResultExtras> {
  const upscales = upscaleChoices(job, runtime.config.catalog, runtime.config.upscaleModel);
  const notes: string[] = [];
  const parent = await parentText(runtime, job);
  if (parent !== undefined) notes.push(translate(job.locale, 'result.from_parent', { parent }));
  if (images.length > 0 && upscales.length > 0) {
    const offersFourK = upscales.some((choice) => choice.resolution === '4K');
    notes.push(
      translate(job.locale, 'result.upscale_note', {
        models: [...new Set(upscales.map((choice) => choice.model))],
        ...(offersFourK ? { limit: uploadLimit } : {}),
      }),
    );
  }
  return { controls: { indexes: images.map((image) => image.index), upscales }, notes };
}

/** The result a job was made from, by its prompt and id (it is in the same thread). */
async function parentText(runtime: SlackRuntime, job: Job): Promise<string | undefined> {
  if (job.parentJobId === undefined) return undefined;
  const parent = await runtime.jobs.getJob(job.parentJobId).catch(() => undefined);
  const id = `\`${job.parentJobId.slice(0, 8)}\``;
  if (parent === undefined) return id;
  const prompt = [...displayPrompt(parent).replace(/\s+/g, ' ').trim()];
  const shown = prompt.length > 80 ? `${prompt.slice(0, 79).join('')}…` : prompt.join('');
  return `“${escapeMrkdwn(shown)}” (${id})`;
}
