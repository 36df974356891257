import {
  type APIActionRowComponent,
  type APIButtonComponent,
  ButtonStyle,
  ComponentType,
  escapeMarkdown,
  type RESTPatchAPIWebhookWithTokenMessageJSONBody,
} from 'discord.js';
import {
  appliedDefaultsNote,
  displayPrompt,
  imageActionId,
  type Job,
  type JobError,
  type Locale,
  missingImages,
  translate,
  type UpscaleChoice,
} from '../core/index.js';
import { customId } from './custom-ids.js';
import { discordText, elapsedText } from './texts.js';

/** Message bodies as Discord's API takes them, built from a job; no I/O here. */

export type MessageBody = RESTPatchAPIWebhookWithTokenMessageJSONBody & { flags?: number };

const MAX_CONTENT = 2000;
/** Alt text: Discord allows 1,024 characters. */
const MAX_DESCRIPTION = 1024;
/** Errors where trying the same request again makes sense get a Re-roll button. */
const RETRYABLE_CODES = new Set([
  'interrupted',
  'timeout',
  'network',
  'upstream_error',
  'rate_limited',
  'no_image',
  'delivery_failed',
  'unavailable',
]);

function button(
  label: string,
  emoji: string,
  id: string,
  style: ButtonStyle.Primary | ButtonStyle.Secondary | ButtonStyle.Danger,
): APIButtonComponent {
  return { type: ComponentType.Button, style, label, emoji: { name: emoji }, custom_id: id };
}

function row(...buttons: APIButtonComponent[]): APIActionRowComponent<APIButtonComponent> {
  return { type: ComponentType.ActionRow, components: buttons };
}

export function cancelRow(job: Job, locale: Locale) {
  return row(
    button(
      translate(locale, 'button.cancel'),
      '❌',
      customId('cancel', job.id),
      ButtonStyle.Secondary,
    ),
  );
}

export function resultRow(job: Job, locale: Locale) {
  return row(
    button(
      translate(locale, 'button.reroll'),
      '🔁',
      customId('reroll', job.id),
      ButtonStyle.Secondary,
    ),
    button(translate(locale, 'button.edit'), '✏️', customId('edit', job.id), ButtonStyle.Secondary),
    button(
      translate(locale, 'button.delete'),
      '🗑️',
      customId('delete', job.id),
      ButtonStyle.Secondary,
    ),
  );
}

/** What the per-image controls of a result offer: which images it shows, which upscales. */
export interface ImageControls {
  /** The shown images, by their index in the job's result. */
  readonly indexes: readonly number[];
  readonly upscales: readonly UpscaleChoice[];
}

/** Discord allows 5 action rows: one for the result's own buttons, one per image for 4 images. */
const MAX_IMAGE_ROWS = 4;

/**
 * The buttons under a result. One image: today's row (Re-roll, Edit, Delete), then its Upscale
 * and Vary buttons. Several: Re-roll and Delete, then one row per image (Upscale 2K/4K, Vary, Edit),
 * Midjourney's U and V buttons in rows that read left to right per image.
 */
export function resultRows(
  job: Job,
  locale: Locale,
  controls: ImageControls,
): APIActionRowComponent<APIButtonComponent>[] {
  const upscale = (index: number) =>
    controls.upscales.map((choice) =>
      button(
        translate(locale, 'button.upscale', {
          resolution: choice.resolution,
          number: index + 1,
          model: choice.model,
        }),
        '⬆️',
        imageActionId({ kind: 'upscale', jobId: job.id, index, resolution: choice.resolution }),
        ButtonStyle.Secondary,
      ),
    );
  const vary = (index: number) =>
    button(
      translate(locale, 'button.vary', { number: index + 1 }),
      '🔀',
      imageActionId({ kind: 'vary', jobId: job.id, index }),
      ButtonStyle.Secondary,
    );
  const [only] = controls.indexes;
  if (controls.indexes.length <= 1) {
    const rows = [resultRow(job, locale)];
    if (only !== undefined) rows.push(row(...upscale(only), vary(only)));
    return rows;
  }
  const rows = [
    row(
      button(
        translate(locale, 'button.reroll'),
        '🔁',
        customId('reroll', job.id),
        ButtonStyle.Secondary,
      ),
      button(
        translate(locale, 'button.delete'),
        '🗑️',
        customId('delete', job.id),
        ButtonStyle.Secondary,
      ),
    ),
  ];
  for (const index of controls.indexes.slice(0, MAX_IMAGE_ROWS)) {
    rows.push(
      row(
        ...upscale(index),
        vary(index),
        button(
          translate(locale, 'button.edit_image', { number: index + 1 }),
          '✏️',
          imageActionId({ kind: 'edit', jobId: job.id, index }),
          ButtonStyle.Secondary,
        ),
      ),
    );
  }
  return rows;
}

export function queuedBody(job: Job, locale: Locale, position: number): MessageBody {
  return {
    content: discordText(locale, 'progress.queued', { position }),
    components: [cancelRow(job, locale)],
  };
}

export function progressBody(locale: Locale, text: string, withCancel?: { job: Job }): MessageBody {
  return {
    content: truncate(text, MAX_CONTENT),
    components: withCancel ? [cancelRow(withCancel.job, locale)] : [],
  };
}

export function failureBody(job: Job, locale: Locale, text: string, error: JobError): MessageBody {
  return {
    content: truncate(`${mention(job)} ${text}`, MAX_CONTENT),
    components: RETRYABLE_CODES.has(error.code)
      ? [
          row(
            button(
              translate(locale, 'button.reroll'),
              '🔁',
              customId('reroll', job.id),
              ButtonStyle.Secondary,
            ),
          ),
        ]
      : [],
    allowed_mentions: { users: [job.requesterId] },
  };
}

export interface ResultNotes {
  readonly converted: boolean;
  readonly scaled: boolean;
  readonly delivered: number;
  /** "↳ from …": the result this one was made from (a re-roll, an edit, a per-image action). */
  readonly fromParent?: string | undefined;
  /** Which model the Upscale buttons use, and the JPEG note when they offer 4K. */
  readonly upscaleNote?: string | undefined;
}

export function resultContent(job: Job, locale: Locale, now: number, notes: ResultNotes): string {
  const lines = [
    discordText(locale, 'result.header', {
      prompt: boldSafe(truncate(oneLine(displayPrompt(job)), 300)),
    }),
    discordText(locale, 'result.details', {
      mention: mention(job),
      model: job.options.model,
      ratio: job.options.aspectRatio ?? (job.action === 'edit' ? '—' : '1:1'),
      resolution: job.options.resolution ?? '1K',
      elapsed: elapsedText(locale, now - job.createdAt),
    }),
  ];
  if (notes.fromParent !== undefined) {
    lines.push(translate(locale, 'result.from_parent', { parent: notes.fromParent }));
  }
  // Where the settings the member did not type came from (preferences, the server's settings).
  const defaults = appliedDefaultsNote(locale, job.options.appliedDefaults, 'server');
  if (defaults !== undefined) lines.push(defaults);
  if (notes.scaled) lines.push(translate(locale, 'job.result_scaled'));
  else if (notes.converted) lines.push(translate(locale, 'job.result_converted'));
  const requested = job.options.count ?? 1;
  const missing = missingImages(job, notes.delivered);
  // What the model returned, downloaded or not: the missing ones get their own note.
  const returned = notes.delivered + missing;
  if (returned < requested) {
    lines.push(translate(locale, 'job.fewer_images', { delivered: returned, requested }));
  }
  if (missing > 0) lines.push(translate(locale, 'job.images_missing', { missing }));
  // A plain reply no longer edits (it would bill every "thanks!"): say what does.
  lines.push(discordText(locale, 'result.edit_hint'));
  if (notes.upscaleNote !== undefined) lines.push(notes.upscaleNote);
  return truncate(lines.join('\n'), MAX_CONTENT);
}

export function altText(job: Job): string {
  return truncate(displayPrompt(job), MAX_DESCRIPTION);
}

export function mention(job: Job): string {
  return `<@${job.requesterId}>`;
}

export function truncate(text: string, max: number): string {
  const characters = [...text];
  return characters.length <= max ? text : `${characters.slice(0, max - 1).join('')}…`;
}

/**
 * A prompt shown between `**`: its markdown escaped (masked links too), so that a prompt cannot
 * close the bold, hide text behind a spoiler or dress a link up as something else.
 */
function boldSafe(text: string): string {
  return escapeMarkdown(text, { maskedLink: true });
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
