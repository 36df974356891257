import { invalidInput } from './errors.js';
import type { Job, NewJob } from './jobs/job.js';
import { type ModelCatalog, RESOLUTIONS, type Resolution } from './models.js';

/**
 * The per-image actions of a result (Midjourney's U and V buttons): Upscale, Vary and Edit, each a
 * new job made from one image of a parent job. Both chat adapters build their controls and their
 * requests from here, so that a Discord button and a Slack button mean the same thing.
 */

export const IMAGE_ACTION_KINDS = ['upscale', 'vary', 'edit'] as const;
export type ImageActionKind = (typeof IMAGE_ACTION_KINDS)[number];

/** One control: what it does, to which image (0-based, as in `job.result.images`) of which job. */
export type ImageActionTarget =
  | {
      readonly kind: 'upscale';
      readonly jobId: string;
      readonly index: number;
      readonly resolution: Resolution;
    }
  | { readonly kind: 'vary'; readonly jobId: string; readonly index: number }
  | { readonly kind: 'edit'; readonly jobId: string; readonly index: number };

/**
 * The id a control carries. Versioned (`nb2:`), so that a later format can be told apart and the
 * controls of results posted by earlier versions (`nb:reroll:<id>`) keep their own meaning. The
 * job's state lives in the store: the id alone is enough after a restart. At most 100 characters
 * (Discord's limit for a custom id) for a job id of 64.
 */
export const IMAGE_ACTION_PREFIX = 'nb2:';

const ID_PATTERN = /^nb2:(upscale|vary|edit):([A-Za-z0-9_-]{1,64}):(\d{1,2})(?::(1K|2K|4K))?$/;

export function imageActionId(target: ImageActionTarget): string {
  const base = `${IMAGE_ACTION_PREFIX}${target.kind}:${target.jobId}:${target.index}`;
  return target.kind === 'upscale' ? `${base}:${target.resolution}` : base;
}

/** The target of a control's id, or undefined for anything else (a forged or unknown id). */
export function parseImageActionId(value: string): ImageActionTarget | undefined {
  const match = ID_PATTERN.exec(value);
  if (match === null) return undefined;
  const [, kind, jobId = '', indexText = '', resolution] = match;
  const index = Number(indexText);
  if (kind === 'upscale') {
    const known = RESOLUTIONS.find((candidate) => candidate === resolution);
    return known === undefined ? undefined : { kind, jobId, index, resolution: known };
  }
  if ((kind === 'vary' || kind === 'edit') && resolution === undefined) {
    return { kind, jobId, index };
  }
  return undefined;
}

export interface UpscaleChoice {
  readonly resolution: Resolution;
  /** The job's own model when it makes that resolution, else the upscale model. */
  readonly model: string;
}

/**
 * The upscales a result offers: every resolution above its own (none for a 4K result), each on
 * the job's model where that model makes it, else on `NANO_BANANA_UPSCALE_MODEL`.
 */
export function upscaleChoices(
  job: Pick<Job, 'options'>,
  catalog: ModelCatalog,
  upscaleModel: string,
): UpscaleChoice[] {
  const current = RESOLUTIONS.indexOf(job.options.resolution ?? '1K');
  return RESOLUTIONS.slice(current + 1).map((resolution) => ({
    resolution,
    model: upscaleModelFor(job.options.model, resolution, catalog, upscaleModel),
  }));
}

export function upscaleModelFor(
  jobModel: string,
  resolution: Resolution,
  catalog: ModelCatalog,
  upscaleModel: string,
): string {
  const spec = catalog.find(jobModel);
  return spec?.resolutions.includes(resolution) ? spec.id : upscaleModel;
}

/** The indexes of the result images a job has (what its per-image controls may point at). */
export function resultImageCount(job: Pick<Job, 'result'>): number {
  return job.result?.images.length ?? 0;
}

/**
 * The URL of one of a parent's result images. Refused (`invalid_input`, `result_gone`) when the
 * result was deleted or pruned, or never had that image: there is nothing left to work from.
 */
export function resultImageUrl(parent: Pick<Job, 'result'>, index: number): string {
  const url = parent.result?.images[index]?.url;
  if (url === undefined || url === '') {
    throw invalidInput('result_gone', 'The image this action works on is no longer kept', {});
  }
  return url;
}

/** What the adapter knows of the press: who pressed, where, and its platform event. */
export interface Presser {
  readonly dedupKey: string;
  readonly requesterId: string;
  readonly serverId: string | undefined;
  readonly channelId: string;
  /** The channel of the thread pressed in (a server's channel list admits its threads). */
  readonly parentChannelId?: string | undefined;
  readonly locale: string;
}

export type ImageActionRequest = Omit<NewJob, 'platform' | 'destination'>;

/*
 * The instructions sent to the model before the parent's prompt. They are for the model, not for
 * people, so they are in English whatever the user's language.
 */
const UPSCALE_INSTRUCTION =
  'Reproduce this image at a higher resolution with finer detail, changing nothing else. It shows: ';
const VARY_INSTRUCTION =
  'Make a variation of this image: the same subject and style, with small changes. It shows: ';

/**
 * A job's prompt as people should read it: an Upscale's or a Vary's prompt starts with the
 * instruction for the model, shown instead as ⬆️ or 🔀 before the prompt it works from.
 */
export function displayPrompt(job: Pick<Job, 'prompt' | 'parentJobId'>): string {
  if (job.parentJobId === undefined) return job.prompt;
  for (const [instruction, mark] of [
    [UPSCALE_INSTRUCTION, '⬆️'],
    [VARY_INSTRUCTION, '🔀'],
  ] as const) {
    if (job.prompt.startsWith(instruction))
      return `${mark} ${job.prompt.slice(instruction.length)}`;
  }
  return job.prompt;
}

/**
 * The request of an Upscale or a Vary: an edit of one image of the parent, on the presser's quota,
 * linked to its parent. The parent's prompt is already expanded (a style, a personal suffix), so
 * the new one is final: admission adds nothing to it. Throws `result_gone` when the image is gone.
 */
export function imageActionRequest(
  parent: Job,
  target: Extract<ImageActionTarget, { kind: 'upscale' | 'vary' }>,
  presser: Presser,
  context: {
    readonly catalog: ModelCatalog;
    readonly upscaleModel: string;
    readonly maxPromptLength: number;
  },
): ImageActionRequest {
  const url = resultImageUrl(parent, target.index);
  const instruction = target.kind === 'upscale' ? UPSCALE_INSTRUCTION : VARY_INSTRUCTION;
  const options =
    target.kind === 'upscale'
      ? {
          model: upscaleModelFor(
            parent.options.model,
            target.resolution,
            context.catalog,
            context.upscaleModel,
          ),
          aspectRatio: parent.options.aspectRatio,
          resolution: target.resolution,
          count: 1,
        }
      : { ...parent.options, count: 1 };
  return {
    ...presser,
    action: 'edit',
    prompt: instruction + cut(parent.prompt, context.maxPromptLength - instruction.length),
    promptIsFinal: true,
    options,
    inputs: [{ kind: 'url', url }],
    parentJobId: parent.id,
  };
}

/** A prompt cut to fit, on a character (not a UTF-16 unit) boundary. */
function cut(text: string, max: number): string {
  const characters = [...text];
  return characters.length <= max ? text : `${characters.slice(0, Math.max(0, max - 1)).join('')}…`;
}
