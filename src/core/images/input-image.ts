import { open } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { type ErrorParams, invalidInput, NanoBananaError } from '../errors.js';
import { shrinkImage } from './fit.js';
import {
  asBuffer,
  describeContent,
  detectImageType,
  type ImageMime,
  MAX_INPUT_PIXELS,
  sharpFailure,
} from './image-type.js';

/** The API takes input images of at most 10 MB each. */
export const MAX_INPUT_IMAGE_BYTES = 10_000_000;
/** Files larger than this are refused before being read into memory. */
export const MAX_IMAGE_FILE_BYTES = 50_000_000;

/** An input image: a public URL the API fetches itself, or bytes we send inline. */
export type InputImage =
  | { kind: 'url'; url: string }
  | { kind: 'bytes'; bytes: Uint8Array; name?: string | undefined };

export interface PreparedInputImage {
  /** The public URL as given, or a `data:<mime>;base64,...` URL. */
  url: string;
  /** Size of the image data sent inline, before base64 (0 for a public URL). */
  bytes: number;
  /** `none`: sent as it was; `converted`: re-encoded at the same size; `scaled`: made smaller. */
  change: 'none' | 'converted' | 'scaled';
  /** The type of the data sent; absent for a public URL, whose type we never see. */
  mime?: ImageMime;
}

export interface PrepareInputImageOptions {
  /** Largest image sent inline, in bytes (default `MAX_INPUT_IMAGE_BYTES`, 10,000,000). */
  maxBytes?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** Types sent as they are when small enough. GIF is not among them: the models take stills. */
const SENT_AS_IS: ReadonlySet<ImageMime> = new Set([
  'image/png',
  'image/jpeg',
  'image/webp',
  'image/avif',
  'image/heic',
  'image/heif',
]);

/**
 * Turns an input image into what the API accepts in `image_urls`. A public URL is checked to be
 * http(s) and passed through untouched (never fetched). Bytes are checked by their content:
 * PNG, JPEG, WebP, AVIF and HEIC/HEIF are sent as they are when they fit in `maxBytes`; larger
 * ones are re-encoded and scaled down until they fit (except HEIC, which sharp cannot decode);
 * a GIF is replaced by its first frame. Throws `invalid_input` with `bad_image_url`,
 * `unsupported_image`, `image_unreadable` or `image_too_large`; `cancelled` on abort.
 */
export async function prepareInputImage(
  image: InputImage,
  options: PrepareInputImageOptions = {},
): Promise<PreparedInputImage> {
  if (image.kind === 'url') return { url: checkPublicUrl(image.url), bytes: 0, change: 'none' };

  const maxBytes = options.maxBytes ?? MAX_INPUT_IMAGE_BYTES;
  const params: ErrorParams = image.name === undefined ? {} : { name: image.name };
  const mime = detectImageType(image.bytes);
  if (mime === undefined) {
    throw invalidInput('unsupported_image', 'The input is not an image type we accept', {
      ...params,
      detected: describeContent(image.bytes),
    });
  }
  if (options.signal?.aborted) {
    throw new NanoBananaError('cancelled', 'The image preparation was cancelled');
  }

  if (mime === 'image/heic' || mime === 'image/heif') {
    if (image.bytes.length > maxBytes) {
      throw invalidInput('image_too_large', `The ${mime} image is over the size limit`, {
        ...params,
        size: image.bytes.length,
        max: maxBytes,
      });
    }
    return inline(image.bytes, mime, 'none');
  }

  if (SENT_AS_IS.has(mime) && image.bytes.length <= maxBytes) {
    // Reading the header is cheap and catches bytes that only start like an image.
    try {
      await sharp(asBuffer(image.bytes), { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
    } catch (error) {
      throw sharpFailure(error, params);
    }
    return inline(image.bytes, mime, 'none');
  }

  const result = await shrinkImage(image.bytes, {
    maxBytes,
    prefer: 'jpeg',
    losslessFirst: mime === 'image/gif',
    params,
    signal: options.signal,
  });
  return inline(result.image.bytes, result.image.mime, result.change);
}

function inline(
  bytes: Uint8Array,
  mime: ImageMime,
  change: PreparedInputImage['change'],
): PreparedInputImage {
  const url = `data:${mime};base64,${asBuffer(bytes).toString('base64')}`;
  return { url, bytes: bytes.length, change, mime };
}

function checkPublicUrl(text: string): string {
  let protocol: string | undefined;
  try {
    protocol = new URL(text).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw invalidInput('bad_image_url', 'An input image URL must be http(s)', {
      value: text.startsWith('data:') ? 'data:…' : text.slice(0, 200),
    });
  }
  return text;
}

export interface ReadImageFileOptions {
  /** Larger files are refused before being read (default `MAX_IMAGE_FILE_BYTES`, 50,000,000). */
  maxFileBytes?: number | undefined;
}

/**
 * Reads a local file as an input image. Its type is checked later, by content, in
 * `prepareInputImage`. Throws `invalid_input`: `image_unreadable` if it cannot be read,
 * `image_too_large` if it is over `maxFileBytes` (checked before reading it).
 */
export async function readImageFile(
  filePath: string,
  options: ReadImageFileOptions = {},
): Promise<InputImage> {
  const maxFileBytes = options.maxFileBytes ?? MAX_IMAGE_FILE_BYTES;
  const name = path.basename(filePath);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(filePath, 'r');
  } catch (error) {
    throw unreadableFile(name, error);
  }
  try {
    let size: number;
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new Error('not a regular file');
      size = stats.size;
    } catch (error) {
      throw unreadableFile(name, error);
    }
    if (size > maxFileBytes) {
      throw invalidInput('image_too_large', `${name} is ${size} bytes; at most ${maxFileBytes}`, {
        name,
        size,
        max: maxFileBytes,
      });
    }
    // Read at most one byte past the limit, in case the file grew since it was measured.
    const buffer = Buffer.alloc(Math.min(size, maxFileBytes) + 1);
    let length = 0;
    try {
      while (length < buffer.length) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
    } catch (error) {
      throw unreadableFile(name, error);
    }
    if (length > maxFileBytes) {
      throw invalidInput('image_too_large', `${name} is over ${maxFileBytes} bytes`, {
        name,
        max: maxFileBytes,
      });
    }
    return { kind: 'bytes', bytes: buffer.subarray(0, length), name };
  } finally {
    await handle.close();
  }
}

function unreadableFile(name: string, cause: unknown): NanoBananaError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new NanoBananaError('invalid_input', `Cannot read the image file ${name}`, {
    params: { reason: 'image_unreadable', name, ...(code === undefined ? {} : { error: code }) },
    cause,
  });
}
