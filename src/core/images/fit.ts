import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { type ErrorParams, invalidInput, NanoBananaError } from '../errors.js';
import {
  asBuffer,
  detectImageType,
  type ImageFile,
  type ImageMime,
  MAX_INPUT_PIXELS,
  sharpFailure,
} from './image-type.js';

export type ImageChange = 'none' | 'converted' | 'scaled';

export interface FittedImage {
  image: ImageFile;
  /** `none`: sent as it was; `converted`: re-encoded at the same size; `scaled`: made smaller. */
  change: ImageChange;
  originalBytes: number;
  originalWidth: number;
  originalHeight: number;
}

export interface FitImageOptions {
  /** The lossy format to fall back on for images without transparency (default `jpeg`). */
  prefer?: 'jpeg' | 'webp' | undefined;
}

/** Images decoded by sharp at the same time in this process, whatever the number of callers. */
const SHARP_CONCURRENCY = 2;
/** Encodings tried after the first one at full size, each smaller than the one before. */
const MAX_SCALE_ROUNDS = 6;
/** Aim a little under the size the last encoding suggests, so one round usually suffices. */
const SCALE_MARGIN = 0.9;
/** The largest width or height WebP can hold. */
const WEBP_MAX_DIMENSION = 16_383;
const JPEG_MAX_DIMENSION = 65_535;
const QUALITY = 90;

/**
 * A counting semaphore: at most `capacity` holders at once, the others wait in order. Decoding a
 * 10 MB photo takes a few hundred megabytes; fifty callers must not do it all at once.
 */
export class WorkLimiter {
  readonly #capacity: number;
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError('capacity must be a positive integer');
    }
    this.#capacity = capacity;
  }

  /** Holders now working, then callers waiting (for logs and tests). */
  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Resolves with a release function once a place is free; rejects with `cancelled` on abort. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    throwIfAborted(signal);
    if (this.#active < this.#capacity) {
      this.#active += 1;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        this.#active += 1;
        resolve(this.#releaser());
      };
      const onAbort = (): void => {
        const position = this.#waiting.indexOf(grant);
        if (position !== -1) this.#waiting.splice(position, 1);
        reject(cancelled());
      };
      this.#waiting.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Runs `work` holding a place, and frees it however the work ends. */
  async run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await work();
    } finally {
      release();
    }
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      // A second call must not free someone else's place.
      if (released) return;
      released = true;
      this.#active -= 1;
      this.#waiting.shift()?.();
    };
  }
}

const sharpWork = new WorkLimiter(SHARP_CONCURRENCY);

function cancelled(): NanoBananaError {
  return new NanoBananaError('cancelled', 'The image preparation was cancelled');
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelled();
}

export type ShrinkFormat = 'png' | 'jpeg' | 'webp';

export interface ShrinkOptions {
  maxBytes: number;
  /** Lossy format for opaque images; images with transparency always become WebP. */
  prefer: 'jpeg' | 'webp';
  /** Try a lossless PNG at full size before anything lossy (for GIF frames: flat colours). */
  losslessFirst?: boolean | undefined;
  /** Added to the parameters of any refusal (the file name, for instance). */
  params?: ErrorParams | undefined;
  signal?: AbortSignal | undefined;
}

export interface ShrinkResult {
  image: ImageFile;
  change: 'converted' | 'scaled';
  originalWidth: number;
  originalHeight: number;
}

const MIME_BY_FORMAT: Record<ShrinkFormat, ImageMime> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
};

/**
 * Re-encodes an image (first frame only, EXIF orientation applied, metadata dropped) until it
 * fits in `maxBytes`: first at full size, then scaled down by √(limit / size) × 0.9 a bounded
 * number of times. Only one decoded copy at a time, and at most two images in the process at once.
 * Throws `invalid_input`: `image_too_large` if it never fits or has too many pixels,
 * `image_unreadable` if sharp cannot decode it; `cancelled` on abort.
 */
export async function shrinkImage(
  source: Uint8Array,
  options: ShrinkOptions,
): Promise<ShrinkResult> {
  const input = asBuffer(source);
  const params = options.params ?? {};
  return sharpWork.run(async () => {
    throwIfAborted(options.signal);
    // `pages: 1` reads only the first frame of an animation; sharp refuses anything over the
    // pixel limit from its header, before decoding.
    const decode = () =>
      sharp(input, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1, failOn: 'error' }).rotate();

    let metadata: Metadata;
    try {
      metadata = await sharp(input, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1 }).metadata();
    } catch (error) {
      throw sharpFailure(error, params);
    }
    const originalWidth = metadata.autoOrient?.width ?? metadata.width;
    const originalHeight = metadata.autoOrient?.height ?? metadata.height;
    const lossy: ShrinkFormat = metadata.hasAlpha ? 'webp' : options.prefer;
    const maxDimension = lossy === 'webp' ? WEBP_MAX_DIMENSION : JPEG_MAX_DIMENSION;

    const attempts: ShrinkFormat[] = options.losslessFirst ? ['png', lossy] : [lossy];
    let scale = Math.min(1, maxDimension / Math.max(originalWidth, originalHeight));
    let lastSize = 0;
    for (let round = 0; round <= MAX_SCALE_ROUNDS; round += 1) {
      throwIfAborted(options.signal);
      const width = Math.max(1, Math.floor(originalWidth * scale));
      const height = Math.max(1, Math.floor(originalHeight * scale));
      const formats = round === 0 ? attempts : [lossy];
      for (const format of formats) {
        let pipeline = decode();
        if (width !== originalWidth || height !== originalHeight) {
          pipeline = pipeline.resize({ width, height, fit: 'inside' });
        }
        let output: { data: Buffer; info: OutputInfo };
        try {
          output = await encode(pipeline, format).toBuffer({
            resolveWithObject: true,
          });
        } catch (error) {
          throw sharpFailure(error, params);
        }
        lastSize = output.data.length;
        if (lastSize <= options.maxBytes) {
          const resized =
            output.info.width !== originalWidth || output.info.height !== originalHeight;
          return {
            image: {
              bytes: output.data,
              mime: MIME_BY_FORMAT[format],
              width: output.info.width,
              height: output.info.height,
            },
            change: resized ? 'scaled' : 'converted',
            originalWidth,
            originalHeight,
          };
        }
      }
      scale *= Math.sqrt(options.maxBytes / lastSize) * SCALE_MARGIN;
    }
    throw invalidInput(
      'image_too_large',
      `The image is still ${lastSize} bytes after ${MAX_SCALE_ROUNDS} reductions; the limit is ${options.maxBytes}`,
      { ...params, max: options.maxBytes },
    );
  }, options.signal);
}

// libjpeg-turbo, not mozjpeg: mozjpeg makes files about a tenth smaller but is four times slower
// (2 s instead of 0.5 s for a 4K photo, 18 s instead of 2 s for 4K noise, on 2 cores), and results
// only need to fit the platform's limit, which quality 90 does either way.
function encode(pipeline: Sharp, format: ShrinkFormat): Sharp {
  switch (format) {
    case 'png':
      return pipeline.png({ compressionLevel: 9 });
    case 'webp':
      return pipeline.webp({ quality: QUALITY });
    case 'jpeg':
      return pipeline.jpeg({ quality: QUALITY });
  }
}

/**
 * Makes an image fit a chat platform's upload limit. An image that fits is left as it is;
 * otherwise it becomes a quality-90 JPEG (WebP if preferred, or if it has transparency), scaled
 * down if that is not enough. The result says what was done so the user can be told.
 * Throws `invalid_input` with `image_too_large` if it cannot be made to fit (or is HEIC, which
 * we cannot decode), `image_unreadable` if it cannot be decoded.
 */
export async function fitImage(
  image: ImageFile,
  maxBytes: number,
  options: FitImageOptions = {},
): Promise<FittedImage> {
  const original = {
    originalBytes: image.bytes.length,
    originalWidth: image.width,
    originalHeight: image.height,
  };
  if (image.bytes.length <= maxBytes) return { image, change: 'none', ...original };
  const mime = detectImageType(image.bytes) ?? image.mime;
  if (mime === 'image/heic' || mime === 'image/heif') {
    // sharp's prebuilt binaries have no HEVC decoder: refuse rather than fail obscurely.
    throw invalidInput('image_too_large', 'A HEIC image over the limit cannot be re-encoded', {
      max: maxBytes,
      size: image.bytes.length,
    });
  }
  const result = await shrinkImage(image.bytes, {
    maxBytes,
    prefer: options.prefer ?? 'jpeg',
  });
  return { image: result.image, change: result.change, ...original };
}
