import { invalidInput } from './errors.js';
import {
  ASPECT_RATIOS,
  type AspectRatio,
  isAspectRatio,
  isResolution,
  MAX_COUNT,
  MAX_INPUT_IMAGES,
  MIN_COUNT,
  type ModelCatalog,
  RESOLUTIONS,
  type Resolution,
} from './models.js';

export type ImageAction = 'generate' | 'edit';

/** What a caller asks for, before validation: strings as users typed them. */
export interface ImageRequestInput {
  readonly action?: ImageAction | undefined;
  readonly prompt: string;
  readonly model?: string | undefined;
  /** Public `http(s)` URLs or `data:` URLs, in order. */
  readonly imageUrls?: readonly string[] | undefined;
  readonly aspectRatio?: string | undefined;
  readonly resolution?: string | undefined;
  readonly count?: number | undefined;
}

/** A request that passed validation: every value is one the API accepts. */
export interface ImageRequest {
  readonly action: ImageAction;
  readonly prompt: string;
  /** The model's API id (aliases resolved). */
  readonly model: string;
  readonly imageUrls: readonly string[];
  readonly aspectRatio?: AspectRatio;
  readonly resolution?: Resolution;
  readonly count?: number;
}

export interface RequestLimits {
  readonly catalog: ModelCatalog;
  readonly defaultModel: string;
  readonly maxPromptLength: number;
}

/**
 * Checks a request against the table of valid values before anything is sent. Throws
 * `invalid_input` with the reason and, where useful, the valid values.
 */
export function validateRequest(input: ImageRequestInput, limits: RequestLimits): ImageRequest {
  const prompt = input.prompt.trim();
  if (prompt === '') throw invalidInput('empty_prompt', 'The prompt is empty');
  const promptLength = [...prompt].length;
  if (promptLength > limits.maxPromptLength) {
    throw invalidInput(
      'prompt_too_long',
      `The prompt has ${promptLength} characters; at most ${limits.maxPromptLength} are allowed`,
      { length: promptLength, max: limits.maxPromptLength },
    );
  }

  const modelName = input.model ?? limits.defaultModel;
  const model = limits.catalog.find(modelName);
  if (model === undefined) {
    throw invalidInput('unknown_model', `Unknown model "${modelName}"`, {
      value: modelName,
      valid: limits.catalog.modelIds,
    });
  }

  let aspectRatio: AspectRatio | undefined;
  if (input.aspectRatio !== undefined) {
    const value = input.aspectRatio.trim();
    if (!isAspectRatio(value)) {
      throw invalidInput('unknown_aspect_ratio', `Unknown aspect ratio "${value}"`, {
        value,
        valid: ASPECT_RATIOS,
      });
    }
    aspectRatio = value;
  }

  let resolution: Resolution | undefined;
  if (input.resolution !== undefined) {
    const value = input.resolution.trim().toUpperCase();
    if (!isResolution(value)) {
      throw invalidInput('unknown_resolution', `Unknown resolution "${input.resolution}"`, {
        value: input.resolution,
        valid: RESOLUTIONS,
      });
    }
    if (!model.resolutions.includes(value)) {
      throw invalidInput(
        'resolution_not_supported',
        `Model ${model.id} does not do ${value} (it does ${model.resolutions.join(', ')})`,
        { value, model: model.id, valid: model.resolutions },
      );
    }
    resolution = value;
  }

  if (input.count !== undefined) {
    if (!Number.isInteger(input.count) || input.count < MIN_COUNT || input.count > MAX_COUNT) {
      throw invalidInput('count_out_of_range', `Count must be ${MIN_COUNT} to ${MAX_COUNT}`, {
        value: String(input.count),
        min: MIN_COUNT,
        max: MAX_COUNT,
      });
    }
  }

  const imageUrls = [...(input.imageUrls ?? [])];
  for (const url of imageUrls) {
    if (!/^(https?:\/\/\S+|data:image\/[a-z0-9.+-]+;base64,)/i.test(url)) {
      throw invalidInput('bad_image_url', 'An input image is neither an http(s) nor a data: URL', {
        value: url.startsWith('data:') ? 'data:…' : url.slice(0, 200),
      });
    }
  }
  if (imageUrls.length > MAX_INPUT_IMAGES) {
    throw invalidInput(
      'too_many_images',
      `${imageUrls.length} input images; at most ${MAX_INPUT_IMAGES}`,
      { count: imageUrls.length, max: MAX_INPUT_IMAGES },
    );
  }
  const action = input.action ?? (imageUrls.length > 0 ? 'edit' : 'generate');
  if (action === 'edit' && imageUrls.length === 0) {
    throw invalidInput('edit_without_images', 'An edit needs at least one input image');
  }

  return {
    action,
    prompt,
    model: model.id,
    imageUrls,
    ...(aspectRatio === undefined ? {} : { aspectRatio }),
    ...(resolution === undefined ? {} : { resolution }),
    ...(input.count === undefined ? {} : { count: input.count }),
  };
}
