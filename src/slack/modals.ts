import type { App, types } from '@slack/bolt';
import { z } from 'zod';
import { type InputReference, resultImageUrl } from '../core/index.js';
import { formBlendPrompt } from './blend.js';
import { editModal, MODAL_FIELDS, noticeModal, SHORTCUT_CALLBACK_ID, VIEW_IDS } from './blocks.js';
import { describeFailure } from './describe.js';
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
 * shortcut's (the images of any message).
 *
 * Slack gives 3 s for both steps, and lookups (`users.info`, `files.info`) can take longer: a
 * `trigger_id` opens a "one moment" modal before anything is looked up, and a submission is
 * acknowledged by turning the modal into that same notice. `views.update` then shows the form, the
 * refusal with the user's text kept, or that the edit is on its way.
 */

const editResultSchema = z.object({
  jobId: z.string(),
  responseUrl: z.string().optional(),
  /** For showing the form again after a refusal; modals opened before it was kept have 1. */
  imageCount: z.number().int().positive().optional(),
  /** A per-image Edit button's image (its index in the job's result): no choice in the form. */
  imageIndex: z.number().int().nonnegative().optional(),
});
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

/** What a submission should do: start a job, or show the form again with why it was refused. */
type Outcome =
  | { readonly kind: 'start'; readonly request: JobRequest }
  | { readonly kind: 'refused'; readonly text: string };

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
      const submission = parsed.data;
      // Acknowledged before any lookup: past 3 s Bolt's HTTP receiver answers on its own, and a
      // later ack() throws, so the job would never start.
      const loadingLocale = await knownLocale(runtime, submission.user.id);
      await ack({ response_action: 'update', view: loadingModal(loadingLocale) });
      const locale = await runtime.users.locale(submission.user.id);
      let outcome: Outcome;
      try {
        outcome = await decide(runtime, submission, findTarget, locale);
      } catch (error) {
        runtime.logger.error({ err: error, callbackId }, 'An edit modal failed');
        await showModal(
          runtime,
          submission.view.id,
          noticeModal(locale, describeFailure(error, locale)),
        );
        return;
      }
      if (outcome.kind === 'refused') {
        await showModal(runtime, submission.view.id, refusedForm(submission, locale, outcome.text));
        return;
      }
      await showModal(
        runtime,
        submission.view.id,
        noticeModal(locale, slackText(locale, 'modal.sent')),
      );
      await startJob(runtime, outcome.request);
    });
  }
}

/**
 * Opens the "one moment" modal at once with a trigger (good for 3 s). Its id, or undefined when
 * Slack would not open it in time (the user is then told privately).
 */
export async function openLoadingModal(
  runtime: SlackRuntime,
  triggerId: string,
  privately: PrivateTarget,
): Promise<string | undefined> {
  const locale = await knownLocale(runtime, privately.userId);
  try {
    const opened = await runtime.quickClient.views.open({
      trigger_id: triggerId,
      view: loadingModal(locale),
    });
    if (opened.view?.id !== undefined) return opened.view.id;
  } catch (error) {
    runtime.logger.warn({ err: error }, 'Could not open a modal');
  }
  const userLocale = await runtime.users.locale(privately.userId);
  await replyPrivately(runtime, privately, slackText(userLocale, 'modal.failed'));
  return undefined;
}

/** Replaces what an open modal shows. Never throws: a modal the user closed is no failure. */
export async function showModal(
  runtime: SlackRuntime,
  viewId: string,
  view: types.ModalView,
): Promise<void> {
  try {
    await runtime.quickClient.views.update({ view_id: viewId, view });
  } catch (error) {
    runtime.logger.warn({ err: error, viewId }, 'Could not update a modal');
  }
}

/** The ✏️ Edit button's form, in the modal opened for it, for a result of `imageCount` images. */
export async function showResultEditModal(
  runtime: SlackRuntime,
  viewId: string,
  request: {
    readonly jobId: string;
    readonly imageCount: number;
    readonly imageIndex?: number | undefined;
    readonly locale: string;
    readonly responseUrl: string | undefined;
  },
): Promise<void> {
  const metadata: EditResultMetadata = {
    jobId: request.jobId,
    imageCount: request.imageCount,
    ...(request.imageIndex === undefined ? {} : { imageIndex: request.imageIndex }),
    ...(request.responseUrl === undefined ? {} : { responseUrl: request.responseUrl }),
  };
  await showModal(
    runtime,
    viewId,
    editModal({
      callbackId: VIEW_IDS.editResult,
      locale: request.locale,
      privateMetadata: encodeMetadata(metadata),
      imageCount: request.imageCount,
    }),
  );
}

async function openShortcutModal(runtime: SlackRuntime, body: unknown): Promise<void> {
  const parsed = messageShortcutSchema.safeParse(body);
  if (!parsed.success) return;
  const shortcut = parsed.data;
  const userId = shortcut.user.id;
  const privately = { channel: shortcut.channel.id, userId, responseUrl: shortcut.response_url };
  if (shortcut.message.files.length === 0) {
    // Nothing to look up and nothing to edit: no modal.
    const locale = await runtime.users.locale(userId);
    await replyPrivately(runtime, privately, slackText(locale, 'shortcut.no_image'));
    return;
  }
  const viewId = await openLoadingModal(runtime, shortcut.trigger_id, privately);
  if (viewId === undefined) return;
  const [locale, completed] = await Promise.all([
    runtime.users.locale(userId),
    completeFiles(runtime, shortcut.message.files),
  ]);
  const files = imageFiles(completed);
  if (files.length === 0) {
    await showModal(runtime, viewId, noticeModal(locale, slackText(locale, 'shortcut.no_image')));
    return;
  }
  const metadata: EditMessageMetadata = {
    channel: shortcut.channel.id,
    threadTs: shortcut.message.thread_ts ?? shortcut.message.ts,
    responseUrl: shortcut.response_url,
    fileIds: files.map((file) => file.id),
  };
  await showModal(
    runtime,
    viewId,
    editModal({
      callbackId: VIEW_IDS.editMessage,
      locale,
      privateMetadata: encodeMetadata(metadata),
      // Every image of the message is edited together: no choice to make.
      imageCount: 1,
    }),
  );
}

function loadingModal(locale: string): types.ModalView {
  return noticeModal(locale, `⏳ ${slackText(locale, 'modal.loading')}`);
}

/**
 * The user's locale when it is known already (looked up earlier, cached), else English: a
 * `trigger_id` or an acknowledgement does not wait for `users.info`. A settled lookup wins the
 * race, being first; a pending one loses to the settled `undefined`.
 */
async function knownLocale(runtime: SlackRuntime, userId: string): Promise<string> {
  const user = await Promise.race([runtime.users.lookup(userId), Promise.resolve(undefined)]);
  return user?.locale ?? 'en';
}

/** The form again, as the user left it, with why it was refused above it. */
function refusedForm(submission: ViewSubmission, locale: string, notice: string): types.ModalView {
  const result = decodeMetadata(editResultSchema, submission.view.private_metadata);
  const chosen = Number(fieldValue(submission, MODAL_FIELDS.imageBlock, MODAL_FIELDS.imageAction));
  return editModal({
    callbackId: submission.view.callback_id,
    locale,
    privateMetadata: submission.view.private_metadata,
    imageCount: submission.view.callback_id === VIEW_IDS.editResult ? (result?.imageCount ?? 1) : 1,
    notice,
    prompt: fieldValue(submission, MODAL_FIELDS.promptBlock, MODAL_FIELDS.promptAction),
    image: Number.isInteger(chosen) ? chosen : undefined,
  });
}

/** What an edit starts from and where it goes, read from the modal's metadata. */
interface EditTarget {
  readonly channel: string;
  readonly threadTs: string;
  readonly responseUrl?: string | undefined;
  readonly inputs: readonly InputReference[];
  /** The model unless the prompt names one: the edited result's; else resolved at admission. */
  readonly model?: string | undefined;
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
  locale: string,
): Promise<Outcome> {
  const userId = submission.user.id;
  const serverId = submission.team?.id ?? undefined;
  const target = await findTarget(runtime, submission, locale);
  if ('error' in target) return { kind: 'refused', text: `⚠️ ${target.error}` };
  const text = fieldValue(submission, MODAL_FIELDS.promptBlock, MODAL_FIELDS.promptAction) ?? '';
  const reading = await readPrompt(runtime, text, { userId, serverId, locale }, target.model);
  // `--help`, `--usage` or a bad flag: answered in the form, where the prompt can be fixed.
  if (reading.kind === 'answer') return { kind: 'refused', text: reading.text };
  let prompt = reading.prompt;
  if (reading.blend === true) {
    // `--blend` in the form: the message's images, 2 to 5, blended (the prompt may be left out).
    try {
      prompt = formBlendPrompt(target.inputs.length, reading.prompt);
    } catch (error) {
      return { kind: 'refused', text: `⚠️ ${describeFailure(error, locale)}` };
    }
  }
  const fields: JobRequest['fields'] = {
    dedupKey: `slack:view:${submission.view.id}`,
    requesterId: userId,
    serverId,
    channelId: target.channel,
    locale,
    action: 'edit',
    prompt,
    options: reading.options,
    style: reading.style,
    inputs: target.inputs,
    parentJobId: target.parentJobId,
  };
  try {
    await runtime.jobs.check({ ...fields, platform: 'slack', destination: undefined });
  } catch (error) {
    return { kind: 'refused', text: `⚠️ ${describeFailure(error, locale)}` };
  }
  const { channel, threadTs, responseUrl } = target;
  return { kind: 'start', request: { fields, channel, threadTs, responseUrl } };
}

/** The ✏️ Edit button's modal: one image of a result, into the result's thread. */
const findResultImage: TargetFinder = async (runtime, submission, locale) => {
  const metadata = decodeMetadata(editResultSchema, submission.view.private_metadata);
  const job = metadata === undefined ? undefined : await runtime.jobs.getJob(metadata.jobId);
  const destination = readDestination(job?.destination);
  if (job === undefined || destination === undefined) {
    return { error: slackText(locale, 'job.unknown') };
  }
  if (metadata?.imageIndex !== undefined) {
    // A per-image Edit button: that image of the result, as the API made it.
    let url: string;
    try {
      url = resultImageUrl(job, metadata.imageIndex);
    } catch (error) {
      return { error: describeFailure(error, locale) };
    }
    return {
      channel: destination.channel,
      threadTs: destination.threadTs,
      responseUrl: metadata.responseUrl,
      inputs: [{ kind: 'url', url }],
      model: job.options.model,
      parentJobId: job.id,
    };
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
  };
};

function fieldValue(submission: ViewSubmission, block: string, action: string): string | undefined {
  const input = submission.view.state.values[block]?.[action];
  return input?.value ?? input?.selected_option?.value ?? undefined;
}
