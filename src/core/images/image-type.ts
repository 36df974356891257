import sharp, { type Metadata } from 'sharp';
import { type ErrorParams, invalidInput, NanoBananaError } from '../errors.js';

/** The image formats we accept, named by their MIME type. */
export type ImageMime =
  | 'image/png'
  | 'image/jpeg'
  | 'image/webp'
  | 'image/gif'
  | 'image/heic'
  | 'image/heif'
  | 'image/avif';

/** An image held in memory, its type read from its content and its size from its header. */
export interface ImageFile {
  bytes: Buffer;
  mime: ImageMime;
  /** Pixel size as displayed, that is after the EXIF orientation (first frame of an animation). */
  width: number;
  height: number;
}

/**
 * Pixels we agree to decode in one image (100 megapixels). A 100 MP RGBA image is 400 MB in
 * memory; anything larger is more likely a decompression bomb than a photo.
 */
export const MAX_INPUT_PIXELS = 100_000_000;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** ISO-BMFF brands (the `ftyp` box) by the image type they announce. */
const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIC_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'hevm', 'hevs']);
const HEIF_BRANDS = new Set(['mif1', 'msf1', 'mif2']);

function startsWith(bytes: Uint8Array, expected: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + expected.length) return false;
  return expected.every((value, index) => bytes[offset + index] === value);
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, end));
}

function detectIsoMediaImage(bytes: Uint8Array): ImageMime | undefined {
  if (bytes.length < 16 || ascii(bytes, 4, 8) !== 'ftyp') return undefined;
  const declaredSize = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
  // The major brand, then the compatible brands after the 4-byte minor version.
  const end = Math.min(bytes.length, Math.max(16, declaredSize), 256);
  const brands = [ascii(bytes, 8, 12)];
  for (let offset = 16; offset + 4 <= end; offset += 4) {
    brands.push(ascii(bytes, offset, offset + 4));
  }
  // `mif1` only says "an image container": the codec brand decides, wherever it is listed.
  if (brands.some((brand) => AVIF_BRANDS.has(brand))) return 'image/avif';
  if (brands.some((brand) => HEIC_BRANDS.has(brand))) return 'image/heic';
  if (brands.some((brand) => HEIF_BRANDS.has(brand))) return 'image/heif';
  return undefined;
}

/**
 * The image type announced by the first bytes (magic numbers), whatever the file is called.
 * `undefined` for anything that is not one of the types we accept.
 */
export function detectImageType(bytes: Uint8Array): ImageMime | undefined {
  if (startsWith(bytes, PNG_SIGNATURE)) return 'image/png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (bytes.length >= 6 && (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a')) {
    return 'image/gif';
  }
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') {
    return 'image/webp';
  }
  return detectIsoMediaImage(bytes);
}

/**
 * A short word for what some bytes that are not an accepted image look like ('html', 'pdf',
 * 'text', 'unknown'...), so a refusal can say "that is a web page, not an image".
 */
export function describeContent(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'empty';
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 1024));
  if (head.subarray(0, 5).toString('latin1') === '%PDF-') return 'pdf';
  if (head.subarray(0, 2).toString('latin1') === 'BM') return 'bmp';
  const tiff = head.subarray(0, 4).toString('latin1');
  if (tiff === 'II*\u0000' || tiff === 'MM\u0000*') return 'tiff';
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04])) return 'zip';
  const text = head.toString('utf8').replace(/^\uFEFF/, '');
  const start = text.trimStart().slice(0, 512).toLowerCase();
  if (
    start.startsWith('<!doctype html') ||
    start.startsWith('<html') ||
    /<(head|body)[\s>]/.test(start)
  ) {
    return 'html';
  }
  if (start.startsWith('<svg') || (start.startsWith('<?xml') && start.includes('<svg'))) {
    return 'svg';
  }
  if (start.startsWith('<?xml')) return 'xml';
  // Text has no control bytes other than whitespace (this also lets Latin-1 text through).
  const hasControlBytes = head.some(
    (byte) => byte < 0x09 || (byte > 0x0d && byte < 0x20) || byte === 0x7f,
  );
  return hasControlBytes ? 'unknown' : 'text';
}

/** Wraps bytes without copying them, since sharp wants a Buffer. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** Turns a failure of sharp into the input problem a user can be told about. */
export function sharpFailure(error: unknown, params: ErrorParams = {}): NanoBananaError {
  const message = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(message)) {
    return invalidInput('image_too_large', 'The image has too many pixels to process', {
      ...params,
      maxPixels: MAX_INPUT_PIXELS,
    });
  }
  return new NanoBananaError('invalid_input', `The image could not be decoded: ${message}`, {
    params: { reason: 'image_unreadable', ...params },
    cause: error,
  });
}

/**
 * Reads an image's type from its content and its pixel size from its header (without decoding
 * the pixels). Throws `invalid_input` with `unsupported_image` or `image_unreadable`.
 */
export async function describeImage(bytes: Buffer): Promise<ImageFile> {
  const mime = detectImageType(bytes);
  if (mime === undefined) {
    throw invalidInput('unsupported_image', 'The content is not an image type we accept', {
      detected: describeContent(bytes),
    });
  }
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
  } catch (error) {
    throw sharpFailure(error);
  }
  // `autoOrient` is the size once the EXIF orientation is applied; sharp gives an animation's
  // height as that of one frame, since it reads only the first one.
  const width = metadata.autoOrient?.width ?? metadata.width;
  const height = metadata.autoOrient?.height ?? metadata.height;
  if (!width || !height) {
    throw invalidInput('image_unreadable', 'The image header gives no pixel size');
  }
  return { bytes, mime, width, height };
}
