/**
 * Blending: several images made into one by a single edit. The rules are the same on every
 * platform (how many images, the prompt when none is typed), so they live here once; each
 * adapter only gathers the images its platform offers.
 */

import { invalidInput } from './errors.js';

/** One image is an edit, not a blend. */
export const MIN_BLEND_IMAGES = 2;
/**
 * The API takes more, but the models blend a handful well (Gemini 2.5 Flash works best with up to
 * three inputs), and five keeps a command's image options within reason.
 */
export const MAX_BLEND_IMAGES = 5;
/** Sent when the member typed no prompt. The API reads English best, whatever the member's language. */
export const DEFAULT_BLEND_PROMPT = 'blend these images';

/**
 * Throws `invalid_input` / `blend_image_count` (params: count, min, max) unless `count` images can
 * be blended: checked before anything is sent, so a refused blend costs nothing.
 */
export function checkBlendImages(count: number): void {
  if (count >= MIN_BLEND_IMAGES && count <= MAX_BLEND_IMAGES) return;
  throw invalidInput(
    'blend_image_count',
    `A blend needs ${MIN_BLEND_IMAGES} to ${MAX_BLEND_IMAGES} images, not ${count}`,
    { count, min: MIN_BLEND_IMAGES, max: MAX_BLEND_IMAGES },
  );
}

/** The prompt a blend sends: what the member typed, or the default when that is empty. */
export function blendPrompt(typed: string): string {
  return typed.trim() === '' ? DEFAULT_BLEND_PROMPT : typed;
}
