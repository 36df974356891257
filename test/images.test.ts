import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NanoBananaError } from '../src/core/errors.js';
import { WorkLimiter } from '../src/core/images/fit.js';
import {
  describeImage,
  detectImageType,
  downloadImage,
  fitImage,
  MAX_INPUT_IMAGE_BYTES,
  prepareInputImage,
  readImageFile,
} from '../src/core/images/index.js';

let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(tmpdir(), 'nano-banana-images-'));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

// ---------------------------------------------------------------- fixtures, made with sharp

function solidPng(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#3366cc' } })
    .png()
    .toBuffer();
}

/** Random pixels: the worst case for every codec, so sizes are predictable. */
function noise(width: number, height: number, channels: 3 | 4): Sharp {
  return sharp(randomBytes(width * height * channels), { raw: { width, height, channels } });
}

/** Left half red, right half blue: shows where the image ends up once turned. */
function halves(width: number, height: number): Sharp {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const offset = (y * width + x) * 3;
      if (x < width / 2) pixels[offset] = 255;
      else pixels[offset + 2] = 255;
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } });
}

/** Two frames, red then blue, stacked as sharp expects an animation. */
function twoFrameGif(width: number, height: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 2 * 3);
  for (let pixel = 0; pixel < width * height * 2; pixel += 1) {
    pixels[pixel * 3 + (pixel < width * height ? 0 : 2)] = 255;
  }
  return sharp(pixels, { raw: { width, height: height * 2, channels: 3, pageHeight: height } })
    .gif({ loop: 0 })
    .toBuffer();
}

/** An ISO-BMFF `ftyp` box: enough for detection, not a decodable image. */
function ftyp(major: string, ...compatible: string[]): Buffer {
  const brands = [major, '\u0000\u0000\u0000\u0000', ...compatible].join('');
  const box = Buffer.alloc(8 + brands.length);
  box.writeUInt32BE(box.length, 0);
  box.write('ftyp', 4, 'latin1');
  box.write(brands, 8, 'latin1');
  return Buffer.concat([box, Buffer.alloc(64)]);
}

/** A PNG whose header claims a huge size: sharp must refuse it from the header alone. */
function hugePngHeader(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const checksum = Buffer.alloc(4);
    checksum.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, checksum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', Buffer.alloc(16)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function decodeDataUrl(url: string): { mime: string; bytes: Buffer } {
  const match = /^data:([^;]+);base64,(.*)$/s.exec(url);
  if (match === null) throw new Error(`not a data URL: ${url.slice(0, 40)}`);
  return { mime: match[1] ?? '', bytes: Buffer.from(match[2] ?? '', 'base64') };
}

async function pixelAt(image: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
  const offset = (y * info.width + x) * info.channels;
  return [...data.subarray(offset, offset + 3)];
}

async function caught(promise: Promise<unknown>): Promise<NanoBananaError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof NanoBananaError) return error;
    throw error;
  }
  throw new Error('expected a NanoBananaError, but the call succeeded');
}

// ---------------------------------------------------------------- detection

describe('detectImageType', () => {
  it('reads the type from the content', async () => {
    const base = sharp({ create: { width: 8, height: 8, channels: 3, background: 'white' } });
    expect(detectImageType(await base.clone().png().toBuffer())).toBe('image/png');
    expect(detectImageType(await base.clone().jpeg().toBuffer())).toBe('image/jpeg');
    expect(detectImageType(await base.clone().webp().toBuffer())).toBe('image/webp');
    expect(detectImageType(await base.clone().gif().toBuffer())).toBe('image/gif');
    expect(detectImageType(await base.clone().avif().toBuffer())).toBe('image/avif');
  });

  it('recognises HEIC and HEIF by their ftyp brands', () => {
    expect(detectImageType(ftyp('heic', 'mif1', 'heic'))).toBe('image/heic');
    expect(detectImageType(ftyp('mif1', 'mif1', 'heic'))).toBe('image/heic');
    expect(detectImageType(ftyp('heix', 'mif1'))).toBe('image/heic');
    expect(detectImageType(ftyp('mif1', 'mif1'))).toBe('image/heif');
    expect(detectImageType(ftyp('mif1', 'avif', 'mif1'))).toBe('image/avif');
    // An MP4 video has an ftyp box too, with other brands.
    expect(detectImageType(ftyp('isom', 'iso2', 'mp41'))).toBeUndefined();
  });

  it('refuses what is not an image, whatever it looks like', () => {
    expect(detectImageType(Buffer.from('hello, this is text'))).toBeUndefined();
    expect(detectImageType(Buffer.from('<!doctype html><html></html>'))).toBeUndefined();
    expect(detectImageType(Buffer.from('%PDF-1.7\n'))).toBeUndefined();
    expect(detectImageType(new Uint8Array(0))).toBeUndefined();
    expect(detectImageType(Uint8Array.from([0x89, 0x50, 0x4e]))).toBeUndefined();
  });
});

describe('describeImage', () => {
  it('gives type and displayed size', async () => {
    const turned = await halves(30, 20).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const described = await describeImage(turned);
    expect(described).toMatchObject({ mime: 'image/jpeg', width: 20, height: 30 });
    expect(described.bytes).toBe(turned);
  });

  it('refuses non-images and corrupt images', async () => {
    const text = await caught(describeImage(Buffer.from('plain words')));
    expect(text.params).toMatchObject({ reason: 'unsupported_image', detected: 'text' });
    const corrupt = await caught(
      describeImage(Buffer.concat([(await solidPng(4, 4)).subarray(0, 8), randomBytes(64)])),
    );
    expect(corrupt.params).toMatchObject({ reason: 'image_unreadable' });
  });
});

// ---------------------------------------------------------------- input images

describe('prepareInputImage with a URL', () => {
  it('passes a public URL through untouched without fetching it', async () => {
    const requests: string[] = [];
    const server = createServer((request, response) => {
      requests.push(request.url ?? '');
      response.end();
    });
    const port = await listen(server);
    const url = `http://127.0.0.1:${port}/photo.png?x=1`;
    // A port nobody listens on: a fetch would fail, not return.
    const closed = await closedPort();
    const unreachable = `https://127.0.0.1:${closed}/cat.jpg`;
    try {
      expect(await prepareInputImage({ kind: 'url', url })).toEqual({
        url,
        bytes: 0,
        change: 'none',
      });
      expect((await prepareInputImage({ kind: 'url', url: unreachable })).url).toBe(unreachable);
      expect(requests).toEqual([]);
    } finally {
      await close(server);
    }
  });

  it('refuses what is not an http(s) URL', async () => {
    for (const url of ['ftp://example.com/a.png', 'file:///etc/passwd', 'not a url', 'data:x']) {
      const error = await caught(prepareInputImage({ kind: 'url', url }));
      expect(error.code).toBe('invalid_input');
      expect(error.params.reason).toBe('bad_image_url');
    }
  });
});

describe('prepareInputImage with bytes', () => {
  it('sends a small image as it is', async () => {
    const png = await solidPng(64, 48);
    const prepared = await prepareInputImage({ kind: 'bytes', bytes: png, name: 'a.png' });
    expect(prepared).toMatchObject({ change: 'none', mime: 'image/png', bytes: png.length });
    const decoded = decodeDataUrl(prepared.url);
    expect(decoded.mime).toBe('image/png');
    expect(decoded.bytes.equals(png)).toBe(true);
  });

  it('judges by content, not by name: a JPEG called .png is sent as JPEG', async () => {
    const jpeg = await halves(16, 16).jpeg().toBuffer();
    const prepared = await prepareInputImage({ kind: 'bytes', bytes: jpeg, name: 'photo.png' });
    expect(prepared.mime).toBe('image/jpeg');
    expect(prepared.url.startsWith('data:image/jpeg;base64,')).toBe(true);
  });

  it('refuses a text file named .png', async () => {
    const file = path.join(directory, 'notes.png');
    await writeFile(file, 'These are my notes, not a picture.\n');
    const error = await caught(prepareInputImage(await readImageFile(file)));
    expect(error.code).toBe('invalid_input');
    expect(error.params).toEqual({
      reason: 'unsupported_image',
      name: 'notes.png',
      detected: 'text',
    });
  });

  it('refuses an HTML page and a PDF, saying what they are', async () => {
    const page = Buffer.from('\n  <!DOCTYPE html>\n<html><head><title>Login</title></head></html>');
    const html = await caught(prepareInputImage({ kind: 'bytes', bytes: page, name: 'x.jpg' }));
    expect(html.params).toMatchObject({ reason: 'unsupported_image', detected: 'html' });
    const document = Buffer.from('%PDF-1.4\n%\u00e2\u00e3\n1 0 obj\n', 'latin1');
    const pdf = await caught(prepareInputImage({ kind: 'bytes', bytes: document }));
    expect(pdf.params).toEqual({ reason: 'unsupported_image', detected: 'pdf' });
  });

  it('refuses bytes that only start like an image', async () => {
    const signature = (await solidPng(4, 4)).subarray(0, 8);
    const corrupt = Buffer.concat([signature, randomBytes(200)]);
    const error = await caught(prepareInputImage({ kind: 'bytes', bytes: corrupt, name: 'b.png' }));
    expect(error.code).toBe('invalid_input');
    expect(error.params).toMatchObject({ reason: 'image_unreadable', name: 'b.png' });
  });

  it('refuses an image with too many pixels before decoding it', async () => {
    const bomb = hugePngHeader(20_000, 20_000);
    const small = await caught(prepareInputImage({ kind: 'bytes', bytes: bomb }));
    expect(small.params).toMatchObject({ reason: 'image_too_large' });
    const shrinking = await caught(
      prepareInputImage({ kind: 'bytes', bytes: bomb }, { maxBytes: 10 }),
    );
    expect(shrinking.params).toMatchObject({ reason: 'image_too_large' });
  });

  it('replaces a GIF by its first frame', async () => {
    const gif = await twoFrameGif(40, 30);
    expect(detectImageType(gif)).toBe('image/gif');
    const prepared = await prepareInputImage({ kind: 'bytes', bytes: gif, name: 'anim.gif' });
    expect(prepared).toMatchObject({ mime: 'image/png', change: 'converted' });
    const frame = decodeDataUrl(prepared.url).bytes;
    const metadata = await sharp(frame).metadata();
    expect(metadata).toMatchObject({ format: 'png', width: 40, height: 30 });
    expect(metadata.pages ?? 1).toBe(1);
    expect(await pixelAt(frame, 20, 15)).toEqual([255, 0, 0]);
  });

  it('sends a small HEIC as it is and refuses a large one, never decoding it', async () => {
    const heic = ftyp('heic', 'mif1', 'heic');
    const prepared = await prepareInputImage({ kind: 'bytes', bytes: heic, name: 'i.heic' });
    expect(prepared).toMatchObject({ mime: 'image/heic', change: 'none', bytes: heic.length });
    expect(decodeDataUrl(prepared.url).bytes.equals(heic)).toBe(true);
    const error = await caught(
      prepareInputImage({ kind: 'bytes', bytes: heic, name: 'i.heic' }, { maxBytes: 20 }),
    );
    expect(error.params).toMatchObject({ reason: 'image_too_large', name: 'i.heic', max: 20 });
  });

  it('brings a 12 MB photo under 10,000,000 bytes', async () => {
    const photo = await noise(4000, 3000, 3).jpeg({ quality: 100 }).toBuffer();
    expect(photo.length).toBeGreaterThan(MAX_INPUT_IMAGE_BYTES);
    const file = path.join(directory, 'IMG_0001.JPG');
    await writeFile(file, photo);

    const prepared = await prepareInputImage(await readImageFile(file));
    expect(['converted', 'scaled']).toContain(prepared.change);
    expect(prepared.bytes).toBeLessThanOrEqual(MAX_INPUT_IMAGE_BYTES);
    const decoded = decodeDataUrl(prepared.url);
    expect(decoded.mime).toBe('image/jpeg');
    expect(decoded.bytes.length).toBe(prepared.bytes);
    const metadata = await sharp(decoded.bytes).metadata();
    expect(metadata.format).toBe('jpeg');
    expect(metadata.width / metadata.height).toBeCloseTo(4000 / 3000, 2);
  });

  it('keeps the orientation when it shrinks, and drops the EXIF tag', async () => {
    // Stored 300x200 with "turn 90° clockwise to display": displayed 200 wide, 300 tall, red on top.
    const turned = await halves(300, 200).jpeg({ quality: 100 }).withMetadata({ orientation: 6 });
    const bytes = await turned.toBuffer();
    expect((await sharp(bytes).metadata()).orientation).toBe(6);

    const prepared = await prepareInputImage(
      { kind: 'bytes', bytes, name: 'turned.jpg' },
      { maxBytes: Math.floor(bytes.length / 3) },
    );
    expect(prepared.change).toBe('scaled');
    expect(prepared.bytes).toBeLessThanOrEqual(Math.floor(bytes.length / 3));
    const output = decodeDataUrl(prepared.url).bytes;
    const metadata = await sharp(output).metadata();
    expect(metadata.orientation).toBeUndefined();
    expect(metadata.height).toBeGreaterThan(metadata.width);
    expect(metadata.width / metadata.height).toBeCloseTo(200 / 300, 1);
    const top = await pixelAt(output, Math.floor(metadata.width / 2), 2);
    const bottom = await pixelAt(output, Math.floor(metadata.width / 2), metadata.height - 3);
    expect(top[0]).toBeGreaterThan(200);
    expect(top[2]).toBeLessThan(60);
    expect(bottom[2]).toBeGreaterThan(200);
    expect(bottom[0]).toBeLessThan(60);
  });

  it('keeps transparency by choosing WebP', async () => {
    const png = await noise(256, 256, 4).png().toBuffer();
    const prepared = await prepareInputImage(
      { kind: 'bytes', bytes: png },
      { maxBytes: Math.floor(png.length / 2) },
    );
    expect(prepared.mime).toBe('image/webp');
    const metadata = await sharp(decodeDataUrl(prepared.url).bytes).metadata();
    expect(metadata.hasAlpha).toBe(true);
  });

  it('refuses an image it cannot make small enough', async () => {
    const png = await noise(64, 64, 3).png().toBuffer();
    const error = await caught(prepareInputImage({ kind: 'bytes', bytes: png }, { maxBytes: 100 }));
    expect(error.params).toMatchObject({ reason: 'image_too_large', max: 100 });
  });

  it('stops when the caller cancels', async () => {
    const png = await noise(64, 64, 3).png().toBuffer();
    const error = await caught(
      prepareInputImage(
        { kind: 'bytes', bytes: png },
        { maxBytes: 1000, signal: AbortSignal.abort() },
      ),
    );
    expect(error.code).toBe('cancelled');
  });

  it('serves many callers at once', async () => {
    const png = await noise(300, 300, 3).png().toBuffer();
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        prepareInputImage({ kind: 'bytes', bytes: png }, { maxBytes: Math.floor(png.length / 4) }),
      ),
    );
    for (const result of results) {
      expect(result.bytes).toBeLessThanOrEqual(Math.floor(png.length / 4));
    }
  });
});

describe('readImageFile', () => {
  it('reads a file and names it by its base name', async () => {
    const png = await solidPng(8, 8);
    const file = path.join(directory, 'small.png');
    await writeFile(file, png);
    const image = await readImageFile(file);
    expect(image.kind).toBe('bytes');
    if (image.kind !== 'bytes') return;
    expect(image.name).toBe('small.png');
    expect(Buffer.from(image.bytes).equals(png)).toBe(true);
  });

  it('refuses a missing file, a folder and a file over the limit', async () => {
    const missing = await caught(readImageFile(path.join(directory, 'nope.jpg')));
    expect(missing.params).toMatchObject({ reason: 'image_unreadable', name: 'nope.jpg' });
    const folder = path.join(directory, 'folder.png');
    await mkdir(folder, { recursive: true });
    const notFile = await caught(readImageFile(folder));
    expect(notFile.params).toMatchObject({ reason: 'image_unreadable', name: 'folder.png' });
    const file = path.join(directory, 'big.png');
    await writeFile(file, Buffer.alloc(1000));
    const tooLarge = await caught(readImageFile(file, { maxFileBytes: 999 }));
    expect(tooLarge.params).toMatchObject({ reason: 'image_too_large', max: 999, size: 1000 });
  });
});

describe('WorkLimiter', () => {
  it('lets two work at once and the others wait their turn', async () => {
    const limiter = new WorkLimiter(2);
    const first = await limiter.acquire();
    const second = await limiter.acquire();
    let thirdGranted = false;
    const third = limiter.acquire().then((release) => {
      thirdGranted = true;
      return release;
    });
    await Promise.resolve();
    expect(thirdGranted).toBe(false);
    expect(limiter.waiting).toBe(1);
    first();
    first(); // a second release must not free another place
    const releaseThird = await third;
    expect(limiter.active).toBe(2);
    second();
    releaseThird();
    expect(limiter.active).toBe(0);
  });

  it('drops a waiting caller that cancels', async () => {
    const limiter = new WorkLimiter(1);
    const release = await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort();
    expect((await caught(waiting)).code).toBe('cancelled');
    expect(limiter.waiting).toBe(0);
    release();
    expect(limiter.active).toBe(0);
  });
});

// ---------------------------------------------------------------- downloads

describe('downloadImage', () => {
  let server: Server;
  let base: string;
  let png: Buffer;
  const seenAuthorization: string[] = [];

  beforeAll(async () => {
    png = await solidPng(120, 80);
    const routes: Record<string, (request: IncomingMessage, response: ServerResponse) => void> = {
      '/ok.png': (request, response) => {
        seenAuthorization.push(request.headers.authorization ?? '');
        response.writeHead(200, { 'content-type': 'image/png' }).end(png);
      },
      '/moved': (_request, response) => {
        response.writeHead(302, { location: '/ok.png' }).end();
      },
      '/declared-large': (_request, response) => {
        // Announces 50 MB, sends a little and stalls: only the announced length can stop it early.
        response.writeHead(200, { 'content-length': '50000000', 'content-type': 'image/png' });
        response.write(png);
      },
      '/streamed-large': (_request, response) => {
        // No content length: only counting the body can stop this one.
        response.writeHead(200, { 'content-type': 'image/png' });
        response.write(png);
        response.end(randomBytes(64 * 1024));
      },
      '/missing.png': (_request, response) => {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      },
      '/broken.png': (_request, response) => {
        response.writeHead(503).end('try later');
      },
      '/page.png': (_request, response) => {
        response.writeHead(200, { 'content-type': 'image/png' }).end('<!doctype html><html>');
      },
      '/slow-body.png': (_request, response) => {
        response.writeHead(200, { 'content-type': 'image/png' });
        response.write(png.subarray(0, 16)); // and then nothing
      },
      '/no-answer.png': () => {
        // never answers
      },
    };
    server = createServer((request, response) => {
      const route = routes[new URL(request.url ?? '/', 'http://localhost').pathname];
      if (route === undefined) response.writeHead(500).end();
      else route(request, response);
    });
    base = `http://127.0.0.1:${await listen(server)}`;
    // A loopback test server is reached only as a trusted origin (see test/download-guard.test.ts).
    options.trustedOrigins.push(base);
  });

  afterAll(async () => {
    await close(server);
  });

  const options = { maxBytes: 1_000_000, timeoutMs: 5_000, trustedOrigins: [] as string[] };

  it('downloads an image through the given dispatcher, with headers and redirects', async () => {
    const dispatcher = new Agent();
    try {
      const headers = { authorization: 'Bearer secret-token' };
      const image = await downloadImage(`${base}/moved`, { ...options, dispatcher, headers });
      expect(image).toMatchObject({ mime: 'image/png', width: 120, height: 80 });
      expect(image.bytes.equals(png)).toBe(true);
      expect(seenAuthorization).toContain('Bearer secret-token');
    } finally {
      await dispatcher.close();
    }
  });

  it('stops at the size cap, announced or counted', async () => {
    for (const route of ['/declared-large', '/streamed-large']) {
      const error = await caught(
        downloadImage(`${base}${route}`, { ...options, maxBytes: png.length + 10 }),
      );
      expect(error.code).toBe('upstream_error');
      expect(error.params).toEqual({ reason: 'result_too_large', max: png.length + 10 });
    }
  });

  it('reports an HTTP error status, retryable only for server faults', async () => {
    const headers = { authorization: 'Bearer secret-token' };
    const missing = await caught(downloadImage(`${base}/missing.png`, { ...options, headers }));
    expect(missing).toMatchObject({ code: 'upstream_error', status: 404, retryable: false });
    expect(missing.message).not.toContain('secret-token');
    expect(JSON.stringify(missing.toJSON())).not.toContain('secret-token');
    const broken = await caught(downloadImage(`${base}/broken.png`, options));
    expect(broken).toMatchObject({ code: 'upstream_error', status: 503, retryable: true });
  });

  it('refuses content that is not an image', async () => {
    const error = await caught(downloadImage(`${base}/page.png`, options));
    expect(error.code).toBe('upstream_error');
    expect(error.params).toMatchObject({ reason: 'not_an_image', detected: 'html' });
  });

  it('times out on a server that stalls, before or during the body', async () => {
    for (const route of ['/no-answer.png', '/slow-body.png']) {
      const error = await caught(downloadImage(`${base}${route}`, { ...options, timeoutMs: 200 }));
      expect(error).toMatchObject({ code: 'timeout', retryable: true });
    }
  });

  it('tells a cancellation from a timeout', async () => {
    const controller = new AbortController();
    const download = downloadImage(`${base}/no-answer.png`, {
      ...options,
      signal: controller.signal,
    });
    controller.abort();
    expect(await caught(download)).toMatchObject({ code: 'cancelled', retryable: false });
  });

  it('reports a refused connection as a retryable network error', async () => {
    const port = await closedPort();
    const origin = `http://127.0.0.1:${port}`;
    const error = await caught(
      downloadImage(`${origin}/x.png`, { ...options, trustedOrigins: [origin] }),
    );
    expect(error).toMatchObject({ code: 'network', retryable: true });
  });

  it('refuses a URL that is not http(s)', async () => {
    const error = await caught(downloadImage('file:///etc/passwd', options));
    expect(error).toMatchObject({ code: 'upstream_error', params: { reason: 'bad_url' } });
  });
});

// ---------------------------------------------------------------- fitting results

describe('fitImage', () => {
  it('leaves an image that fits as it is', async () => {
    const image = await describeImage(await solidPng(100, 50));
    const fitted = await fitImage(image, 8 * 1024 * 1024);
    expect(fitted.change).toBe('none');
    expect(fitted.image).toBe(image);
    expect(fitted).toMatchObject({ originalWidth: 100, originalHeight: 50 });
  });

  it('turns a 12 MB PNG into a JPEG under 2 MB', async () => {
    const png = await noise(2048, 2048, 3).png().toBuffer();
    expect(png.length).toBeGreaterThan(10_000_000);
    const fitted = await fitImage(await describeImage(png), 2_000_000);
    expect(fitted.change).toBe('scaled');
    expect(fitted).toMatchObject({
      originalBytes: png.length,
      originalWidth: 2048,
      originalHeight: 2048,
    });
    expect(fitted.image.mime).toBe('image/jpeg');
    expect(fitted.image.bytes.length).toBeLessThanOrEqual(2_000_000);
    const metadata = await sharp(fitted.image.bytes).metadata();
    expect(metadata).toMatchObject({
      format: 'jpeg',
      width: fitted.image.width,
      height: fitted.image.height,
    });
    expect(metadata.width).toBeLessThan(2048);
    expect(metadata.width).toBe(metadata.height);
  });

  it('converts at full size when quality 90 is enough', async () => {
    const png = await halves(1200, 800).png({ compressionLevel: 0 }).toBuffer();
    const fitted = await fitImage(await describeImage(png), Math.floor(png.length / 2));
    expect(fitted.change).toBe('converted');
    expect(fitted.image).toMatchObject({ mime: 'image/jpeg', width: 1200, height: 800 });
  });

  it('uses WebP for transparency or when preferred', async () => {
    const transparent = await noise(512, 512, 4).png().toBuffer();
    const fitted = await fitImage(await describeImage(transparent), 300_000);
    expect(fitted.image.mime).toBe('image/webp');
    expect(fitted.image.bytes.length).toBeLessThanOrEqual(300_000);
    expect((await sharp(fitted.image.bytes).metadata()).hasAlpha).toBe(true);

    const opaque = await noise(512, 512, 3).png().toBuffer();
    const preferred = await fitImage(await describeImage(opaque), 300_000, { prefer: 'webp' });
    expect(preferred.image.mime).toBe('image/webp');
  });

  it('refuses a HEIC it cannot re-encode', async () => {
    const heic = ftyp('heic', 'mif1', 'heic');
    const image = { bytes: heic, mime: 'image/heic' as const, width: 10, height: 10 };
    const error = await caught(fitImage(image, 10));
    expect(error.params).toMatchObject({ reason: 'image_too_large' });
  });
});

// ---------------------------------------------------------------- helpers

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port that was free a moment ago and on which nothing listens now. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await close(server);
  return port;
}
