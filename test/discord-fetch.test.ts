import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';

/**
 * Issue 9 §2 through the real discord.js: "Edit image" on a message whose embed points at a link
 * that redirects to the operator's metadata service. The bot takes embedded images from Discord's
 * media proxy only (`proxy_url`), never from the address the message's author wrote, so nothing
 * reaches the "metadata" server, and the member is told plainly.
 */

interface Recorder {
  readonly origin: string;
  readonly seen: string[];
  close(): Promise<void>;
}

async function recorder(
  answer: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<Recorder> {
  const seen: string[] = [];
  const server: Server = createServer((request, response) => {
    seen.push(request.url ?? '/');
    answer(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const png = (color: string) =>
  sharp({ create: { width: 64, height: 48, channels: 3, background: color } })
    .png()
    .toBuffer();

let api: MockApi;
let fake: FakeDiscord;
let bot: DiscordBot | undefined;
let metadata: Recorder;
let attacker: Recorder;

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
  const secret = await png('#ff00ff');
  // Stands for http://169.254.169.254/latest/meta-data/: answers an image, so a fetch shows.
  metadata = await recorder((_request, response) =>
    response.writeHead(200, { 'content-type': 'image/png' }).end(secret),
  );
  attacker = await recorder((_request, response) =>
    response.writeHead(302, { location: `${metadata.origin}/latest/meta-data/iam/` }).end(),
  );
});
afterAll(async () => {
  await Promise.all([api.close(), metadata.close(), attacker.close()]);
});
afterEach(async () => {
  await bot?.stop();
  bot = undefined;
  await fake?.close();
});

async function start() {
  // The portal switch lets a REST read show a message's attachments (see the third test).
  fake = await FakeDiscord.start({ messageContentIntent: true });
  bot = await startDiscordBot(fake, api);
  await fake.ready();
}

const createsWith = (text: string) =>
  api.creates().filter((call) => String((call.body as { prompt?: string }).prompt).includes(text));

/** Opens "Edit image" on a message and submits the modal with `change`. */
async function editThroughMenu(targetMessageId: string, change: string) {
  const menu = fake.sendMessageContextCommand({ name: 'Edit image', targetMessageId });
  const modal = await fake.waitFor(() => fake.interactionResponses(menu.id).modal, {
    description: 'the Edit image modal',
  });
  return fake.sendModalSubmit({ customId: String(modal.custom_id), fields: { change } });
}

describe('Discord embedded images', () => {
  it('never fetches an embed’s own URL: one that redirects to a metadata server reaches nothing', async () => {
    await start();
    const link = `${attacker.origin}/cat.png`;
    const message = fake.postUserMessage({
      content: link,
      embeds: [{ type: 'image', url: link, thumbnail: { url: link, width: 64, height: 48 } }],
    });
    const menu = fake.sendMessageContextCommand({
      name: 'Edit image',
      targetMessageId: message.id,
    });
    const answer = await fake.waitFor(() => fake.interactionResponses(menu.id).callbacks[0], {
      description: 'the answer to Edit image',
    });
    const data = answer.data as { content?: string; flags?: number };
    expect(data.content).toMatch(/no image to edit/);
    expect((data.flags ?? 0) & 64).toBe(64);
    expect(fake.interactionResponses(menu.id).modal).toBeUndefined();
    expect(attacker.seen).toEqual([]);
    expect(metadata.seen).toEqual([]);
  });

  it('refuses an embed whose proxy copy is not on Discord’s hosts, and tells the member why', async () => {
    await start();
    const link = `${attacker.origin}/cat.png`;
    const message = fake.postUserMessage({
      content: link,
      embeds: [
        {
          type: 'image',
          url: link,
          image: { url: link, proxy_url: `${attacker.origin}/external/cat.png` },
        },
      ],
    });
    const before = api.creates().length;
    const submit = await editThroughMenu(message.id, 'make it purple');
    const told = await fake.waitFor(
      () => {
        const original = fake.interactionResponses(submit.id).original;
        return original?.content.includes('only download images') ? original : undefined;
      },
      { timeoutMs: 15_000, description: 'the explanation' },
    );
    expect(told.content).toMatch(/I can’t fetch “cat\.png”: I only download images stored on/);
    expect(told.attachments).toEqual([]);
    expect(attacker.seen).toEqual([]);
    expect(metadata.seen).toEqual([]);
    expect(api.creates().length).toBe(before);
  });

  it('edits an embedded image through Discord’s media proxy copy', async () => {
    await start();
    // The fake's CDN stands in for images-ext-1.discordapp.net: a copy Discord already fetched.
    const holder = fake.postUserMessage({
      content: 'holder',
      attachments: [{ filename: 'proxied.png', bytes: await png('#00aa00') }],
    });
    const read = await fetch(
      `${fake.apiUrl}/v10/channels/${fake.channelId}/messages/${holder.id}`,
      {
        headers: { authorization: `Bot ${fake.botToken}` },
      },
    );
    const proxied = ((await read.json()) as { attachments: { proxy_url: string }[] }).attachments[0]
      ?.proxy_url;
    expect(proxied).toMatch(new RegExp(`^${fake.cdnUrl}/`));
    const link = `${attacker.origin}/cat.png`;
    const message = fake.postUserMessage({
      content: link,
      embeds: [{ type: 'image', url: link, image: { url: link, proxy_url: proxied } }],
    });
    const submit = await editThroughMenu(message.id, 'add a rainbow');
    await fake.waitFor(
      () => {
        const original = fake.interactionResponses(submit.id).original;
        return original !== undefined && original.attachments.length > 0 ? original : undefined;
      },
      { timeoutMs: 15_000, description: 'the result' },
    );
    const body = createsWith('add a rainbow')[0]?.body as { image_urls: string[] };
    expect(body.image_urls).toHaveLength(1);
    // Downloaded from the proxy (no size is known for an embed) and sent as bytes.
    expect(body.image_urls[0]).toMatch(/^data:image\/png;base64,/);
    expect(attacker.seen).toEqual([]);
    expect(metadata.seen).toEqual([]);
  });
});
