import {
  type Attachment,
  type ChatInputCommandInteraction,
  escapeMarkdown,
  type Message,
} from 'discord.js';
import {
  blendPrompt,
  checkBlendImages,
  invalidInput,
  type Locale,
  MAX_BLEND_IMAGES,
  type ModelCatalog,
  parsePromptFlags,
  resolveLocale,
} from '../core/index.js';
import { describeFailure } from './describe.js';
import {
  attachmentReference,
  type ImageReference,
  isImageAttachment,
  MAX_ATTACHMENT_BYTES,
} from './images.js';
import { discordText } from './texts.js';

/**
 * `/blend`: two to five images made into one by a single edit. The command's images are options
 * (all optional, so that Discord does not ask for two before the member sees the command); how
 * many there are is checked here, with the core's rules, before anything is sent. Images of a
 * replied-to message come through a reply mentioning the bot with `--blend`
 * (`message-requests.ts`), since a slash command cannot reply to a message.
 */

export const BLEND = 'blend';
/** The command's image options, in the order their images are sent. */
export const BLEND_IMAGE_OPTIONS: readonly string[] = Array.from(
  { length: MAX_BLEND_IMAGES },
  (_unused, index) => `image${index + 1}`,
);

/** What a blend command asks for, or the sentence refusing it (nothing sent). */
export type BlendReading =
  | {
      readonly kind: 'request';
      readonly fields: {
        prompt: string;
        model: string | undefined;
        aspectRatio: string | undefined;
        resolution: string | undefined;
        count: number | undefined;
        /** `--style <name>` typed in the prompt: its saved text is added at admission. */
        style: string | undefined;
        images: readonly ImageReference[];
      };
      /** The `private` option as given; undefined leaves it to the caller's default. */
      readonly private: boolean | undefined;
    }
  | { readonly kind: 'refused'; readonly text: string };

/**
 * Reads `/blend` (or an `/imagine` with `--blend`, over its own image options): the images in
 * option order, each checked as `/imagine` checks its own, then their number. An explicit option
 * wins over a flag typed in the prompt, as in `/imagine`.
 */
export function readBlendCommand(
  interaction: ChatInputCommandInteraction,
  catalog: ModelCatalog,
  imageOptions: readonly string[] = BLEND_IMAGE_OPTIONS,
): BlendReading {
  const locale = resolveLocale(interaction.locale);
  let parsed: ReturnType<typeof parsePromptFlags>;
  try {
    parsed = parsePromptFlags(interaction.options.getString('prompt') ?? '', catalog);
  } catch (error) {
    return { kind: 'refused', text: describeFailure(error, locale) };
  }
  const images: ImageReference[] = [];
  for (const name of imageOptions) {
    const option = interaction.options.get(name);
    if (option === null) continue;
    const refusal = attachmentRefusal(option.attachment, locale);
    if (refusal !== undefined) return { kind: 'refused', text: refusal };
    if (option.attachment !== undefined) images.push(attachmentReference(option.attachment));
  }
  try {
    checkBlendImages(images.length);
  } catch (error) {
    return { kind: 'refused', text: describeFailure(error, locale) };
  }
  return {
    kind: 'request',
    fields: {
      prompt: blendPrompt(parsed.prompt),
      model: interaction.options.getString('model') ?? parsed.model,
      aspectRatio: interaction.options.getString('aspect_ratio') ?? parsed.aspectRatio,
      resolution: interaction.options.getString('resolution') ?? parsed.resolution,
      // `/imagine --blend` has a count option; in `/blend`, `--count 2` typed in the prompt.
      count: interaction.options.getInteger('count') ?? parsed.count,
      style: parsed.style,
      images,
    },
    private: interaction.options.getBoolean('private') ?? undefined,
  };
}

/**
 * Why an attachment option cannot be used, or undefined when it can. An option naming an
 * attachment Discord did not resolve is a broken request: going on without the image would blend
 * fewer images than the member gave.
 */
function attachmentRefusal(attachment: Attachment | undefined, locale: Locale): string | undefined {
  if (attachment === undefined) return discordText(locale, 'attachment.missing');
  if (!isImageAttachment(attachment)) {
    return discordText(locale, 'attachment.not_image', { name: escapeMarkdown(attachment.name) });
  }
  if (attachment.size > MAX_ATTACHMENT_BYTES) {
    return discordText(locale, 'attachment.too_large', {
      name: escapeMarkdown(attachment.name),
      size: `${(attachment.size / 1024 / 1024).toFixed(1)} MB`,
      max: `${(MAX_ATTACHMENT_BYTES / 1024 / 1024).toFixed(1)} MB`,
    });
  }
  return undefined;
}

/**
 * The checks of a message blend (`@bot --blend`, on its own images and a replied-to message's):
 * throws `invalid_input` for a file that is not an image (the member meant it to be blended, so
 * it is not quietly left out) and for a number of images outside 2 to 5.
 */
export function checkMessageBlend(
  messages: readonly (Pick<Message, 'attachments'> | undefined)[],
  imageCount: number,
): void {
  for (const message of messages) {
    for (const attachment of message?.attachments.values() ?? []) {
      if (!isImageAttachment(attachment)) {
        throw invalidInput('unsupported_image', 'A file to blend is not an image', {
          name: attachment.name,
        });
      }
    }
  }
  checkBlendImages(imageCount);
}
