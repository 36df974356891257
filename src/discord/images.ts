import type { Attachment, Message, REST } from 'discord.js';
import { z } from 'zod';
import {
  downloadImage,
  type InputImage,
  type InputReference,
  invalidInput,
  isNanoBananaError,
  isTrustedUrl,
  MAX_INPUT_IMAGE_BYTES,
} from '../core/index.js';

/**
 * Images on Discord, as job inputs. An input is stored as a reference (its CDN URL, name, size);
 * when the job's turn comes a URL that expired is refreshed, and a file over the API's limit is
 * fetched so the core can shrink it. Otherwise the URL goes to the API untouched (Discord's CDN is
 * public). Only Discord's own hosts are ever fetched (`DiscordSettings.imageOrigins`): an embedded
 * image through Discord's media proxy, never from the address its author wrote, so a message
 * cannot point the bot at a host of its choosing (an internal address, a metadata service).
 */

const referenceSchema = z.object({
  url: z.string(),
  name: z.string(),
  size: z.number().optional(),
});
export type ImageReference = z.infer<typeof referenceSchema>;

/** Attachments larger than this are refused at once; the core shrinks anything between. */
export const MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024;

const IMAGE_NAME = /\.(png|jpe?g|webp|gif|heic|heif|avif)$/i;

export function isImageAttachment(attachment: Pick<Attachment, 'contentType' | 'name'>): boolean {
  if (attachment.contentType) return attachment.contentType.startsWith('image/');
  return IMAGE_NAME.test(attachment.name);
}

export function attachmentReference(
  attachment: Pick<Attachment, 'url' | 'name' | 'size'>,
): ImageReference {
  return { url: attachment.url, name: attachment.name, size: attachment.size };
}

/**
 * The images a message carries: attachments, then embedded images by their `proxy_url` (Discord
 * fetched the original itself and serves a copy from its media proxy; the original `url` is
 * whatever the message's author wrote). An embed without a proxy copy is left out.
 */
export function imagesOfMessage(
  message: Pick<Message, 'attachments' | 'embeds'>,
): ImageReference[] {
  const images: ImageReference[] = [];
  for (const attachment of message.attachments.values()) {
    if (isImageAttachment(attachment)) images.push(attachmentReference(attachment));
  }
  for (const embed of message.embeds) {
    const url = embed.image?.proxyURL ?? embed.thumbnail?.proxyURL;
    if (url !== undefined) images.push({ url, name: fileNameOf(url) });
  }
  return images;
}

export function toInputReference(image: ImageReference): InputReference {
  return { kind: 'platform', ref: JSON.stringify(image), name: image.name };
}

export function readReference(ref: string): ImageReference {
  const parsed = referenceSchema.safeParse(safeJson(ref));
  if (!parsed.success)
    throw invalidInput('image_unreadable', 'A stored image reference is unreadable');
  return parsed.data;
}

/** Discord CDN links carry `ex=<hex unix seconds>`: past it (or close), they must be refreshed. */
export function linkExpired(url: string, now: number, marginMs = 5 * 60_000): boolean {
  try {
    const expires = new URL(url).searchParams.get('ex');
    if (expires === null) return false;
    return Number.parseInt(expires, 16) * 1000 < now + marginMs;
  } catch {
    return false;
  }
}

export async function refreshLinks(
  rest: REST,
  urls: readonly string[],
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  // discord-api-types has no route helper for this one yet. The signal: a job cancelled (from
  // any process) while Discord is slow to answer stops waiting at once.
  const answer = (await rest.post('/attachments/refresh-urls', {
    body: { attachment_urls: urls },
    ...(signal === undefined ? {} : { signal }),
  })) as { refreshed_urls?: { original: string; refreshed: string }[] };
  return new Map((answer.refreshed_urls ?? []).map((entry) => [entry.original, entry.refreshed]));
}

/**
 * Turns a stored reference into what the core sends: the URL, or the bytes when too big. A URL
 * outside `imageOrigins` (Discord's hosts), or a download redirected away from them, fails with
 * `invalid_input` / `untrusted_image_host`, which tells the member to upload the image instead.
 */
export async function resolveInput(
  rest: REST,
  image: ImageReference,
  signal: AbortSignal,
  now: number,
  imageOrigins: readonly string[],
): Promise<InputImage> {
  let url = image.url;
  if (!isTrustedUrl(url, imageOrigins)) throw untrustedImage(image.name);
  if (linkExpired(url, now)) url = (await refreshLinks(rest, [url], signal)).get(url) ?? url;
  if (!isTrustedUrl(url, imageOrigins)) throw untrustedImage(image.name);
  if (image.size !== undefined && image.size <= MAX_INPUT_IMAGE_BYTES) return { kind: 'url', url };
  try {
    const file = await downloadImage(url, {
      maxBytes: MAX_ATTACHMENT_BYTES,
      timeoutMs: 60_000,
      signal,
      trustedOrigins: imageOrigins,
      outside: 'refuse',
    });
    return { kind: 'bytes', bytes: file.bytes, name: image.name };
  } catch (error) {
    const reason = isNanoBananaError(error) ? error.params.reason : undefined;
    if (reason === 'untrusted_host' || reason === 'blocked_address') {
      throw untrustedImage(image.name);
    }
    throw error;
  }
}

function untrustedImage(name: string) {
  return invalidInput('untrusted_image_host', 'An input image is not on Discord’s hosts', {
    name,
  });
}

function fileNameOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.split('/').pop() ?? 'image') || 'image';
  } catch {
    return 'image';
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
