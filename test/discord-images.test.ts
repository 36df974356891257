import { createServer, type Server } from 'node:http';
import type { REST } from 'discord.js';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkFiles } from '../src/discord/delivery.js';
import {
  linkExpired,
  readReference,
  resolveInput,
  toInputReference,
} from '../src/discord/images.js';
import { DISCORD_IMAGE_ORIGINS, readDiscordSettings } from '../src/discord/settings.js';

const HOUR = 3_600_000;
const CDN = [...DISCORD_IMAGE_ORIGINS];
const link = (expiresAtMs: number) =>
  `https://cdn.discordapp.com/attachments/1/2/cat.png?ex=${Math.floor(expiresAtMs / 1000).toString(16)}&is=0&hm=abc&`;

/** A REST stand-in that answers refresh-urls and records what it was asked. */
function refreshingRest(): REST & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    asked,
    post: async (route: string, options: { body: { attachment_urls: string[] } }) => {
      expect(route).toBe('/attachments/refresh-urls');
      asked.push(options.body.attachment_urls);
      return {
        refreshed_urls: options.body.attachment_urls.map((original) => ({
          original,
          refreshed: `${original}fresh=1`,
        })),
      };
    },
  } as unknown as REST & { asked: string[][] };
}

let server: Server;
let origin = '';
let big: Buffer;
/** Requests the big-image server answered; reset before the test that needs it. */
let servedBig = 0;
beforeAll(async () => {
  const pixels = Buffer.alloc(2000 * 1800 * 3);
  for (let index = 0; index < pixels.length; index++) pixels[index] = (index * 2654435761) >>> 24;
  big = await sharp(pixels, { raw: { width: 2000, height: 1800, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
  server = createServer((_request, response) => {
    servedBig += 1;
    response.writeHead(200, { 'content-type': 'image/png' }).end(big);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('Discord input images', () => {
  it('knows when a CDN link has expired or is about to', () => {
    const now = Date.parse('2026-11-24T12:00:00Z');
    expect(linkExpired(link(now - HOUR), now)).toBe(true);
    expect(linkExpired(link(now + 60_000), now)).toBe(true);
    expect(linkExpired(link(now + 20 * HOUR), now)).toBe(false);
    expect(linkExpired('https://example.com/a.png', now)).toBe(false);
  });

  it('refreshes an expired link before passing it to the API, and passes a fresh one untouched', async () => {
    const now = Date.now();
    const rest = refreshingRest();
    const reference = toInputReference({ url: link(now - HOUR), name: 'cat.png', size: 1000 });
    if (reference.kind !== 'platform') throw new Error('expected a platform reference');
    const stale = readReference(reference.ref);
    expect(await resolveInput(rest, stale, AbortSignal.timeout(5000), now, CDN)).toEqual({
      kind: 'url',
      url: `${stale.url}fresh=1`,
    });
    const fresh = { url: link(now + 20 * HOUR), name: 'cat.png', size: 1000 };
    expect(await resolveInput(rest, fresh, AbortSignal.timeout(5000), now, CDN)).toEqual({
      kind: 'url',
      url: fresh.url,
    });
    expect(rest.asked).toEqual([[stale.url]]);
  });

  it('fetches an attachment over the API limit so the core can shrink it', async () => {
    expect(big.length).toBeGreaterThan(10_000_000);
    const input = await resolveInput(
      refreshingRest(),
      { url: `${origin}/big.png`, name: 'big.png', size: big.length },
      AbortSignal.timeout(10_000),
      Date.now(),
      [origin],
    );
    expect(input.kind).toBe('bytes');
    expect(input.kind === 'bytes' && input.bytes.length).toBe(big.length);
  });

  it('trusts Discord’s CDN and media proxy, and the origin of a replaced DISCORD_API_URL', () => {
    expect(readDiscordSettings({}).imageOrigins).toEqual([
      'https://cdn.discordapp.com',
      'https://media.discordapp.net',
      'https://images-ext-1.discordapp.net',
      'https://images-ext-2.discordapp.net',
    ]);
    expect(
      readDiscordSettings({ DISCORD_API_URL: 'http://127.0.0.1:9999/api' }).imageOrigins,
    ).toEqual([...DISCORD_IMAGE_ORIGINS, 'http://127.0.0.1:9999']);
  });

  it('refuses an input outside Discord’s hosts, or redirected away from them, fetching nothing there', async () => {
    servedBig = 0;
    const seen: string[] = [];
    const inside = createServer((request, response) => {
      seen.push(`inside ${request.url}`);
      response.writeHead(302, { location: `${origin}/latest/meta-data/` }).end();
    });
    await new Promise<void>((resolve) => inside.listen(0, '127.0.0.1', resolve));
    const address = inside.address();
    const insideOrigin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const rest = refreshingRest();
    const refusal = {
      code: 'invalid_input',
      params: { reason: 'untrusted_image_host', name: 'cat.png' },
    };
    try {
      // Outside: refused before anything is fetched or handed to the API, whatever its size.
      for (const size of [1000, undefined]) {
        const image = { url: `${origin}/cat.png`, name: 'cat.png', ...(size ? { size } : {}) };
        await expect(
          resolveInput(rest, image, AbortSignal.timeout(5000), Date.now(), [insideOrigin]),
        ).rejects.toMatchObject(refusal);
      }
      // Inside, but redirected to another host: the redirect is not followed.
      await expect(
        resolveInput(
          rest,
          { url: `${insideOrigin}/cat.png`, name: 'cat.png' },
          AbortSignal.timeout(5000),
          Date.now(),
          [insideOrigin],
        ),
      ).rejects.toMatchObject(refusal);
      expect(seen).toEqual(['inside /cat.png']);
      expect(servedBig).toBe(0);
    } finally {
      await new Promise<void>((resolve) => inside.close(() => resolve()));
    }
  });

  it('groups result files into messages of at most 10 files and 25 MiB', () => {
    const mib = 1024 * 1024;
    expect(
      chunkFiles([9, 9, 9, 9].map((size) => ({ size: size * mib }))).map((chunk) => chunk.length),
    ).toEqual([2, 2]);
    expect(
      chunkFiles(Array.from({ length: 12 }, () => ({ size: 1000 }))).map((chunk) => chunk.length),
    ).toEqual([10, 2]);
    expect(chunkFiles([{ size: 30 * mib }, { size: 1 }]).map((chunk) => chunk.length)).toEqual([
      1, 1,
    ]);
  });
});
