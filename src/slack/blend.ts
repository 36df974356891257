import { blendPrompt, checkBlendImages, type InputReference } from '../core/index.js';
import { imageInputs } from './inputs.js';
import type { SlackFile } from './payloads.js';
import { slackText } from './texts.js';

/**
 * `--blend` on Slack: a mention (or a reply in a thread) with 2 to 5 image files becomes one edit
 * with all of them as inputs. Only the message's own files count: the thread's latest image is
 * what an ordinary follow-up edits, and a blend says which images it means by attaching them.
 * Slash commands carry no files, so `/imagine --blend` is answered with how to do it instead.
 */

/**
 * The inputs and prompt of a message blend. Throws `invalid_input` / `blend_image_count` (nothing
 * sent) unless the message carries 2 to 5 images; a file that is not an image was refused before.
 */
export function messageBlend(
  files: readonly SlackFile[],
  typedPrompt: string,
): { readonly inputs: InputReference[]; readonly prompt: string } {
  const inputs = imageInputs(files);
  checkBlendImages(inputs.length);
  return { inputs, prompt: blendPrompt(typedPrompt) };
}

/**
 * The prompt of `--blend` typed in an edit form (the Edit image shortcut on a message with several
 * images): the typed text or the default. Throws `blend_image_count` unless there are 2 to 5.
 */
export function formBlendPrompt(imageCount: number, typedPrompt: string): string {
  checkBlendImages(imageCount);
  return blendPrompt(typedPrompt);
}

/** The answer to `/imagine --blend`: a command cannot carry the images, so how to send them. */
export function commandBlendText(locale: string): string {
  return slackText(locale, 'blend.how');
}
