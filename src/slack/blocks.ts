import type { types } from '@slack/bolt';
import {
  type ImageActionTarget,
  imageActionId,
  type RequestedOptions,
  translate,
  type UpscaleChoice,
} from '../core/index.js';
import { escapeMrkdwn } from './mrkdwn.js';
import { type SlackTextKey, slackText } from './texts.js';

/**
 * The messages and modal the bot shows, as Block Kit. Buttons carry the job id in their value, so
 * they work after a restart: everything else is read back from the store.
 */

export const ACTION_IDS = {
  reroll: 'nb_reroll',
  edit: 'nb_edit',
  delete: 'nb_delete',
  cancel: 'nb_cancel',
} as const;

/**
 * The per-image buttons (Upscale, Vary, Edit) share this prefix; the rest of their action id only
 * keeps them unique in a message. Their value is the core's versioned id (`nb2:upscale:<job>:…`).
 */
export const IMAGE_ACTION_ID_PREFIX = 'nb2_';

export const VIEW_IDS = {
  /** The Edit button's modal: edits one image of a result. */
  editResult: 'nb_edit_result',
  /** The Edit image shortcut's modal: edits a message's images. */
  editMessage: 'nb_edit_message',
  /** `--settings`: a workspace admin's form for the workspace's settings. */
  serverSettings: 'nb_server_settings',
} as const;

/** The message shortcut's callback id, as in `slack/manifest.yml`. */
export const SHORTCUT_CALLBACK_ID = 'edit_image';

export const MODAL_FIELDS = {
  promptBlock: 'nb_prompt',
  promptAction: 'prompt',
  imageBlock: 'nb_image',
  imageAction: 'image',
} as const;

/** A section's text holds at most 3,000 characters; the quoted prompt is cut before. */
const MAX_QUOTE_LENGTH = 2_800;

export interface SlackMessage {
  /** The notification and screen-reader text. */
  readonly text: string;
  readonly blocks: types.KnownBlock[];
}

/** What the status message shows of a request (a job, or one about to be). */
export interface RequestSummary {
  readonly requesterId: string;
  readonly action: 'generate' | 'edit';
  readonly prompt: string;
  /** Before the job is stored, what the request said: the defaults are resolved at admission. */
  readonly options: RequestedOptions;
  readonly locale: string;
}

function mrkdwn(text: string): types.MrkdwnElement {
  return { type: 'mrkdwn', text };
}

function plain(text: string): types.PlainTextElement {
  return { type: 'plain_text', text, emoji: true };
}

function button(
  actionId: string,
  label: string,
  value: string,
  style?: 'danger' | 'primary',
): types.Button {
  return {
    type: 'button',
    action_id: actionId,
    text: plain(label),
    value,
    ...(style === undefined ? {} : { style }),
  };
}

/**
 * The message showing a request and its progress: who asked, the prompt, the settings, one status
 * line, and a Cancel button while it waits.
 */
export function statusMessage(
  request: RequestSummary,
  status: string,
  cancelJobId?: string,
): SlackMessage {
  const { locale } = request;
  const header = slackText(locale, request.action === 'edit' ? 'status.edit' : 'status.generate', {
    user: request.requesterId,
  });
  const quoted = escapeMrkdwn(request.prompt)
    .split('\n')
    .map((line) => `>${line}`)
    .join('\n');
  const shown = quoted.length > MAX_QUOTE_LENGTH ? `${quoted.slice(0, MAX_QUOTE_LENGTH)}…` : quoted;
  const settings = describeSettings(request.options, locale);
  const blocks: types.KnownBlock[] = [
    { type: 'section', text: mrkdwn(`${header}\n${shown}`) },
    // Slack refuses an empty text: a request that said nothing yet shows its settings once resolved.
    ...(settings === '' ? [] : [{ type: 'context' as const, elements: [mrkdwn(settings)] }]),
    { type: 'context', elements: [mrkdwn(status)] },
  ];
  if (cancelJobId !== undefined) {
    blocks.push({
      type: 'actions',
      elements: [button(ACTION_IDS.cancel, translate(locale, 'button.cancel'), cancelJobId)],
    });
  }
  const text = `${header} ${escapeMrkdwn(request.prompt.slice(0, MAX_QUOTE_LENGTH))}\n${status}`;
  return { text, blocks };
}

function describeSettings(options: RequestedOptions, locale: string): string {
  // "Name: value", with the colon as each language writes it (French: a narrow space before it).
  const setting = (key: SlackTextKey, value: string | number) =>
    slackText(locale, 'settings.setting', { name: slackText(locale, key), value });
  const parts: string[] = [];
  if (options.model !== undefined) parts.push(setting('settings.model', `\`${options.model}\``));
  if (options.aspectRatio !== undefined) {
    parts.push(setting('settings.ratio', options.aspectRatio));
  }
  if (options.resolution !== undefined) {
    parts.push(setting('settings.resolution', options.resolution));
  }
  if (options.count !== undefined && options.count > 1) {
    parts.push(setting('settings.count', options.count));
  }
  return parts.join(' · ');
}

/** What replaces the status message once its result was deleted. */
export function deletedMessage(locale: string, userId: string): SlackMessage {
  const text = `🗑️ ${slackText(locale, 'status.deleted', { user: userId })}`;
  return { text, blocks: [{ type: 'context', elements: [mrkdwn(text)] }] };
}

/** What the per-image buttons of a result offer: which images it shows, which upscales. */
export interface ImageControls {
  /** The shown images, by their index in the job's result. */
  readonly indexes: readonly number[];
  readonly upscales: readonly UpscaleChoice[];
}

/**
 * The message under the images: notes (a smaller format, fewer images), then the buttons. One
 * image: today's row (Re-roll, Edit, Delete), then its Upscale and Vary buttons. Several: Re-roll
 * and Delete, then one row per image (Upscale 2K/4K, Vary, Edit), as Midjourney's U and V.
 */
export function resultMessage(
  jobId: string,
  locale: string,
  requesterId: string,
  notes: readonly string[],
  controls: ImageControls = { indexes: [], upscales: [] },
): SlackMessage {
  const text = slackText(locale, 'result.text', { user: requesterId });
  // A plain reply in the thread no longer edits (it would bill every "thanks!"): say what does.
  const lines = [
    text,
    ...notes.map((note) => `_${note}_`),
    `_${slackText(locale, 'result.edit_hint')}_`,
  ];
  const reroll = button(ACTION_IDS.reroll, `🔁 ${translate(locale, 'button.reroll')}`, jobId);
  const remove = button(
    ACTION_IDS.delete,
    `🗑️ ${translate(locale, 'button.delete')}`,
    jobId,
    'danger',
  );
  const blocks: types.KnownBlock[] = [{ type: 'section', text: mrkdwn(lines.join('\n')) }];
  const perImage = (index: number, withEdit: boolean): types.Button[] => [
    ...controls.upscales.map((choice) =>
      imageButton(
        `⬆️ ${translate(locale, 'button.upscale', {
          resolution: choice.resolution,
          number: index + 1,
          model: choice.model,
        })}`,
        { kind: 'upscale', jobId, index, resolution: choice.resolution },
      ),
    ),
    imageButton(`🔀 ${translate(locale, 'button.vary', { number: index + 1 })}`, {
      kind: 'vary',
      jobId,
      index,
    }),
    ...(withEdit
      ? [
          imageButton(`✏️ ${translate(locale, 'button.edit_image', { number: index + 1 })}`, {
            kind: 'edit',
            jobId,
            index,
          }),
        ]
      : []),
  ];
  const [only] = controls.indexes;
  if (controls.indexes.length <= 1) {
    const edit = button(ACTION_IDS.edit, `✏️ ${translate(locale, 'button.edit')}`, jobId);
    blocks.push({ type: 'actions', elements: [reroll, edit, remove] });
    if (only !== undefined) blocks.push({ type: 'actions', elements: perImage(only, false) });
  } else {
    blocks.push({ type: 'actions', elements: [reroll, remove] });
    for (const index of controls.indexes) {
      blocks.push({ type: 'actions', elements: perImage(index, true) });
    }
  }
  return { text, blocks };
}

function imageButton(label: string, target: ImageActionTarget): types.Button {
  const suffix = target.kind === 'upscale' ? `_${target.resolution}` : '';
  return button(
    `${IMAGE_ACTION_ID_PREFIX}${target.kind}_${target.index}${suffix}`,
    label,
    imageActionId(target),
  );
}

/** The modal asking what to change; with several images, which one. */
export function editModal(options: {
  readonly callbackId: string;
  readonly locale: string;
  readonly privateMetadata: string;
  readonly imageCount: number;
  /** Shown above the fields: why the last submission was refused, or what it asked (`--help`). */
  readonly notice?: string | undefined;
  /** The fields as the user left them, when the modal is shown again. */
  readonly prompt?: string | undefined;
  readonly image?: number | undefined;
}): types.ModalView {
  const { locale } = options;
  const blocks: types.KnownBlock[] = [];
  if (options.notice !== undefined) {
    blocks.push({
      type: 'section',
      text: mrkdwn(options.notice.slice(0, MAX_QUOTE_LENGTH)),
    });
  }
  blocks.push({
    type: 'input',
    block_id: MODAL_FIELDS.promptBlock,
    label: plain(slackText(locale, 'modal.prompt')),
    element: {
      type: 'plain_text_input',
      action_id: MODAL_FIELDS.promptAction,
      multiline: true,
      max_length: 3000,
      placeholder: plain(slackText(locale, 'modal.placeholder')),
      ...(options.prompt === undefined || options.prompt === ''
        ? {}
        : { initial_value: options.prompt }),
    },
  });
  if (options.imageCount > 1) {
    const choices = Array.from({ length: options.imageCount }, (_, index) => ({
      text: plain(slackText(locale, 'modal.image_option', { number: index + 1 })),
      value: String(index),
    }));
    const initial = choices[options.image ?? 0] ?? choices[0];
    blocks.push({
      type: 'input',
      block_id: MODAL_FIELDS.imageBlock,
      label: plain(slackText(locale, 'modal.image')),
      element: {
        type: 'static_select',
        action_id: MODAL_FIELDS.imageAction,
        options: choices,
        ...(initial === undefined ? {} : { initial_option: initial }),
      },
    });
  }
  return {
    type: 'modal',
    callback_id: options.callbackId,
    private_metadata: options.privateMetadata,
    title: plain(slackText(locale, 'modal.title')),
    submit: plain(slackText(locale, 'modal.submit')),
    close: plain(slackText(locale, 'modal.close')),
    blocks,
  };
}

/**
 * A modal that only shows a line: "one moment" while the bot looks things up (a `trigger_id` does
 * not wait for them), then how it ended.
 */
export function noticeModal(locale: string, text: string): types.ModalView {
  return {
    type: 'modal',
    title: plain(slackText(locale, 'modal.title')),
    close: plain(slackText(locale, 'modal.done')),
    blocks: [{ type: 'section', text: mrkdwn(text.slice(0, MAX_QUOTE_LENGTH)) }],
  };
}

/** `--help`: the core's help, with the command's name, and what only Slack offers. */
export function helpText(locale: string, command: string, models: readonly string[]): string {
  return [
    `*${translate(locale, 'help.title')}*`,
    translate(locale, 'help.body', { command, models }),
    slackText(locale, 'help.slack'),
    slackText(locale, 'help.prefer', { command }),
    slackText(locale, 'help.settings', { command }),
  ].join('\n');
}
