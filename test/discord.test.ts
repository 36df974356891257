import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';

let api: MockApi;
let fake: FakeDiscord;
let bot: DiscordBot | undefined;

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 100 });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  await bot?.stop();
  bot = undefined;
  await fake?.close();
  api.setDelay(100);
});

async function start(
  options: Parameters<typeof FakeDiscord.start>[0] = {},
  env: Record<string, string> = {},
) {
  fake = await FakeDiscord.start(options);
  bot = await startDiscordBot(fake, api, { env });
  await fake.ready();
}

const png = (color: string, width = 64, height = 48) =>
  sharp({ create: { width, height, channels: 3, background: color } })
    .png()
    .toBuffer();

const createsWith = (text: string) =>
  api.creates().filter((call) => String((call.body as { prompt?: string }).prompt).includes(text));

/** The interaction's reply once it holds images. */
async function resultOf(interactionId: string): Promise<FakeMessage> {
  return fake.waitFor(
    () => {
      const original = fake.interactionResponses(interactionId).original;
      return original !== undefined && original.attachments.length > 0 ? original : undefined;
    },
    { timeoutMs: 15_000, description: 'the result' },
  );
}

function buttonIds(message: FakeMessage): string[] {
  return message.components.flatMap((row) =>
    ((row.components ?? []) as { custom_id?: string }[]).map(
      (component) => component.custom_id ?? '',
    ),
  );
}

describe('Discord /imagine', () => {
  it('registers its commands, defers before creating, and answers with the image, buttons and a thread', async () => {
    await start();
    expect(
      fake
        .commands(undefined)
        .map((command) => command.name)
        .sort(),
    ).toEqual(['Edit image', 'help', 'imagine', 'usage']);
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'a red fox in snow --ar 16:9' },
    });
    const result = await resultOf(interaction.id);
    const responses = fake.interactionResponses(interaction.id);
    expect(responses.callbacks[0]?.type).toBe(5);
    const deferredAt =
      fake.calls.find((call) => call.route.startsWith('POST /interactions/'))?.at ??
      Number.POSITIVE_INFINITY;
    const [create] = createsWith('a red fox in snow');
    expect(create?.at).toBeGreaterThan(deferredAt);
    expect(create?.body).toMatchObject({
      action: 'generate',
      prompt: 'a red fox in snow',
      aspect_ratio: '16:9',
      async: true,
    });

    expect(result.content).toContain('a red fox in snow');
    expect(result.content).toContain('16:9');
    expect(result.attachments).toHaveLength(1);
    expect(result.attachments[0]?.description).toBe('a red fox in snow');
    const metadata = await sharp(result.attachments[0]?.bytes).metadata();
    expect([metadata.width, metadata.height]).toEqual([1344, 768]);
    expect(buttonIds(result).map((id) => id.split(':')[1])).toEqual(['reroll', 'edit', 'delete']);
    await fake.waitFor(() => fake.thread(result.id), { description: 'the result thread' });
  });

  it('edits attached images, passing their Discord URLs to the API as they are', async () => {
    await start();
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: {
        prompt: 'make it blue',
        image: { filename: 'cat.png', bytes: await png('#ff0000') },
      },
    });
    await resultOf(interaction.id);
    const body = createsWith('make it blue')[0]?.body as { action: string; image_urls: string[] };
    const urls = body.image_urls;
    expect(body.action).toBe('edit');
    expect(urls).toHaveLength(1);
    expect(urls[0]).toMatch(new RegExp(`^${fake.cdnUrl}/(ephemeral-)?attachments/`));
  });

  it('answers bad input privately at once and sends nothing', async () => {
    await start({}, { NANO_BANANA_BLOCKED_WORDS: 'forbidden' });
    const before = api.creates().length;
    const cases = [
      { options: { prompt: 'a cat --ar 5:4' }, expected: /1:1/ },
      { options: { prompt: 'a cat --size big' }, expected: /--size/ },
      { options: { prompt: 'a forbidden cat' }, expected: /isn’t allowed/ },
      { options: { prompt: 'a cat', model: 'nano-banana', resolution: '4K' }, expected: /1K/ },
      {
        options: {
          prompt: 'a cat',
          image: { filename: 'notes.txt', bytes: Buffer.from('hello'), contentType: 'text/plain' },
        },
        expected: /notes\.txt/,
      },
    ];
    for (const { options, expected } of cases) {
      const interaction = fake.sendSlashCommand({ name: 'imagine', options });
      const callback = await fake.waitFor(
        () => fake.interactionResponses(interaction.id).callbacks[0],
        { description: 'a reply' },
      );
      expect(callback.type).toBe(4);
      const data = callback.data as { content: string; flags: number };
      expect(data.flags & 64).toBe(64);
      expect(data.content).toMatch(expected);
    }
    expect(api.creates().length).toBe(before);
  });

  it('reports a safety refusal in French, with the trace id and a way to try again', async () => {
    await start();
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      locale: 'fr',
      options: { prompt: 'quelque chose mock:fail' },
    });
    const original = await fake.waitFor(
      () => {
        const message = fake.interactionResponses(interaction.id).original;
        return message?.content.includes('filtre') ? message : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(original.content).toMatch(/filtre de sécurité/);
    expect(original.content).toMatch(/identifiant de trace/);
    expect(original.content).toContain(`<@${fake.userId}>`);
  });

  it('fits a result over the upload limit and says so', async () => {
    await start({ guilds: [{ attachmentSizeLimit: 2 * 1024 * 1024 }] });
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'noise mock:incompressible' },
    });
    const result = await resultOf(interaction.id);
    expect(result.attachments[0]?.size).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(result.attachments[0]?.content_type).not.toBe('image/png');
    expect(result.content).toMatch(/convert|scal/i);
  });

  it('splits four results over 25 MiB together into several messages', async () => {
    await start({ guilds: [{ attachmentSizeLimit: 20 * 1024 * 1024 }] });
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: {
        prompt: 'four big ones mock:incompressible --model nano-banana-2 --res 2K --count 4',
      },
    });
    await resultOf(interaction.id);
    const responses = await fake.waitFor(
      () => {
        const all = fake.interactionResponses(interaction.id);
        const total =
          (all.original?.attachments.length ?? 0) +
          all.followups.reduce((sum, message) => sum + message.attachments.length, 0);
        return total === 4 ? all : undefined;
      },
      { timeoutMs: 30_000, description: 'four images' },
    );
    const messages = [responses.original, ...responses.followups].filter(
      (message) => message !== undefined,
    );
    expect(messages.length).toBeGreaterThan(1);
    for (const message of messages) {
      const bytes = message.attachments.reduce((sum, attachment) => sum + attachment.size, 0);
      expect(bytes).toBeLessThanOrEqual(25 * 1024 * 1024);
    }
  });
});
