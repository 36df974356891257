import type { App } from '@slack/bolt';
import { z } from 'zod';
import type { InputReference } from '../core/index.js';
import { editModal, MODAL_FIELDS, SHORTCUT_CALLBACK_ID, VIEW_IDS } from './blocks.js';
import { describeFailureText } from './describe.js';
import { readDelivery, readDestination } from './destination.js';
import { imageFiles } from './files.js';
import { completeFiles, imageInputs } from './inputs.js';
import { messageShortcutSchema, type ViewSubmission, viewSubmissionSchema } from './payloads.js';
import { readPrompt } from './prompt.js';
import { type PrivateTarget, replyPrivately } from './replies.js';
import type { SlackRuntime } from './runtime.js';
import { type JobRequest, startJob } from './start-job.js';
import { slackText } from './texts.js';

/**
 * The edit modals: the ✏️ Edit button's (one image of a result) and the *Edit image* message
 * shortcut's (the images of any message). A refusal shows in the modal itself, before it closes.
 */

const editResultSchema = z.object({ jobId: z.string(), responseUrl: z.string().optional() });
type EditResultMetadata = z.infer<typeof editResultSchema>;

/** File ids only: `private_metadata` holds 3,000 characters, not enough for many file URLs. */
const editMessageSchema = z.object({
  channel: z.string(),
  threadTs: z.string(),
  responseUrl: z.string(),
  fileIds: z.array(z.string()),
});
type EditMessageMetadata = z.infer<typeof editMessageSchema>;

function encodeMetadata(metadata: EditResultMetadata | EditMessageMetadata): string {
  return JSON.stringify(metadata);
}

function decodeMetadata<T>(schema: z.ZodType<T>, text: string): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** What a submission should do: close with a job to start, or stay open with an error. */
type Outcome =
  | { readonly kind: 'start'; readonly request: JobRequest }
  | { readonly kind: 'error'; readonly text: string }
  | { readonly kind: 'answer'; readonly text: string; readonly privately: PrivateTarget };

export function registerModals(app: App, runtime: SlackRuntime): void {
  app.shortcut(SHORTCUT_CALLBACK_ID, async ({ ack, body }) => {
    await ack();
    try {
      await openShortcutModal(runtime, body);
    } catch (error) {
      runtime.logger.error({ err: error }, 'The Edit image shortcut failed');
    }
  });
  const submissions = {
    [VIEW_IDS.editResult]: findResultImage,
    [VIEW_IDS.editMessage]: findMessageImages,
  };
  for (const [callbackId, findTarget] of Object.entries(submissions)) {
    app.view(callbackId, async ({ ack, body }) => {
      const parsed = viewSubmissionSchema.safeParse(body);
      if (!parsed.success) {
        await ack();
        return;
      }
      let outcome: Outcome;
      try {
        outcome = await decide(runtime, parsed.data, findTarget);
      } catch (error) {
        runtime.logger.error({ err: error, callbackId }, 'An edit modal failed');
        await ack();
        return;
      }
      if (outcome.kind === 'error') {
        await ack({
          response_action: 'errors',
          errors: { [MODAL_FIELDS.promptBlock]: outcome.text },
        });
        return;
      }
      await ack();
      if (outcome.kind === 'answer') await replyPrivately(runtime, outcome.privately, outcome.text);
      else await startJob(runtime, outcome.request);
    });
  }
}

/** The ✏️ Edit button's modal for a result of `imageCount` images. */
export async function openResultEditModal(
  runtime: SlackRuntime,
  request: {
    readonly triggerId: string;
    readonly jobId: string;
    readonly imageCount: number;
    readonly locale: string;
    readonly responseUrl: string | undefined;
  },
): Promise<void> {
  const metadata: EditResultMetadata = {
    jobId: request.jobId,
    ...(request.responseUrl === undefined ? {} : { responseUrl: request.responseUrl }),
  };
  await runtime.client.views.open({
    trigger_id: request.triggerId,
    view: editModal({
      callbackId: VIEW_IDS.editResult,
      locale: request.locale,
      privateMetadata: encodeMetadata(metadata),
      imageCount: request.imageCount,
    }),
  });
}

async function openShortcutModal(runtime: SlackRuntime, body: unknown): Promise<void> {
  const parsed = messageShortcutSchema.safeParse(body);
  if (!parsed.success) return;
  const shortcut = parsed.data;
  const userId = shortcut.user.id;
  const locale = await runtime.users.locale(userId);
  const files = imageFiles(await completeFiles(runtime, shortcut.message.files));
  if (files.length === 0) {
    await replyPrivately(
      runtime,
      { channel: shortcut.channel.id, userId, responseUrl: shortcut.response_url },
      slackText(locale, 'shortcut.no_image'),
    );
    return;
  }
  const metadata: EditMessageMetadata = {
    channel: shortcut.channel.id,
    threadTs: shortcut.message.thread_ts ?? shortcut.message.ts,
    responseUrl: shortcut.response_url,
    fileIds: files.map((file) => file.id),
  };
  await runtime.client.views.open({
    trigger_id: shortcut.trigger_id,
    view: editModal({
      callbackId: VIEW_IDS.editMessage,
      locale,
      privateMetadata: encodeMetadata(metadata),
      // Every image of the message is edited together: no choice to make.
      imageCount: 1,
    }),
  });
}

/** What an edit starts from and where it goes, read from the modal's metadata. */
interface EditTarget {
  readonly channel: string;
  readonly threadTs: string;
  readonly responseUrl?: string | undefined;
  readonly inputs: readonly InputReference[];
  /** The model unless the prompt names one: the edited result's, or the default. */
  readonly model: string;
  readonly parentJobId?: string | undefined;
}

type TargetFinder = (
  runtime: SlackRuntime,
  submission: ViewSubmission,
  locale: string,
) => Promise<EditTarget | { readonly error: string }>;

async function decide(
  runtime: SlackRuntime,
  submission: ViewSubmission,
  findTarget: TargetFinder,
): Promise<Outcome> {
  const userId = submission.user.id;
  const serverId = submission.team?.id ?? undefined;
  const locale = await runtime.users.locale(userId);
  const target = await findTarget(runtime, submission, locale);
  if ('error' in target) return { kind: 'error', text: target.error };
  const text = fieldValue(submission, MODAL_FIELDS.promptBlock, MODAL_FIELDS.promptAction) ?? '';
  const reading = readPrompt(runtime, text, { userId, serverId, locale }, target.model);
  if (reading.kind === 'answer') {
    const privately = { channel: target.channel, userId, responseUrl: target.responseUrl };
    return { kind: 'answer', text: reading.text, privately };
  }
  const fields: JobRequest['fields'] = {
    dedupKey: `slack:view:${submission.view.id}`,
    requesterId: userId,
    serverId,
    channelId: target.channel,
    locale,
    action: 'edit',
    prompt: reading.prompt,
    options: reading.options,
    inputs: target.inputs,
    parentJobId: target.parentJobId,
  };
  try {
    runtime.engine.check({ ...fields, platform: 'slack', destination: undefined });
  } catch (error) {
    // A modal's error field is plain text, not mrkdwn: nothing to escape there.
    return { kind: 'error', text: describeFailureText(error, locale) };
  }
  const { channel, threadTs, responseUrl } = target;
  return { kind: 'start', request: { fields, channel, threadTs, responseUrl } };
}

/** The ✏️ Edit button's modal: one image of a result, into the result's thread. */
const findResultImage: TargetFinder = async (runtime, submission, locale) => {
  const metadata = decodeMetadata(editResultSchema, submission.view.private_metadata);
  const job = metadata === undefined ? undefined : runtime.engine.getJob(metadata.jobId);
  const destination = readDestination(job?.destination);
  if (job === undefined || destination === undefined) {
    return { error: slackText(locale, 'job.unknown') };
  }
  const files = readDelivery(job.delivery)?.files ?? [];
  const chosen = Number(fieldValue(submission, MODAL_FIELDS.imageBlock, MODAL_FIELDS.imageAction));
  const file = (Number.isInteger(chosen) ? files[chosen] : undefined) ?? files[0];
  if (file === undefined) return { error: slackText(locale, 'result.gone') };
  return {
    channel: destination.channel,
    threadTs: destination.threadTs,
    responseUrl: metadata?.responseUrl,
    inputs: [{ kind: 'platform', ref: file.url, name: file.name }],
    model: job.options.model,
    parentJobId: job.id,
  };
};

/** The shortcut's modal: every image of the message, into that message's thread. */
const findMessageImages: TargetFinder = async (runtime, submission, locale) => {
  const metadata = decodeMetadata(editMessageSchema, submission.view.private_metadata);
  const files =
    metadata === undefined
      ? []
      : await completeFiles(
          runtime,
          metadata.fileIds.map((id) => ({ id })),
        );
  const inputs = imageInputs(files);
  if (metadata === undefined || inputs.length === 0) {
    return { error: slackText(locale, 'shortcut.no_image') };
  }
  return {
    channel: metadata.channel,
    threadTs: metadata.threadTs,
    responseUrl: metadata.responseUrl,
    inputs,
    model: runtime.config.defaultModel,
  };
};

function fieldValue(submission: ViewSubmission, block: string, action: string): string | undefined {
  const input = submission.view.state.values[block]?.[action];
  return input?.value ?? input?.selected_option?.value ?? undefined;
}
