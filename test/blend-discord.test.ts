import { REST, Routes } from 'discord.js';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createModelCatalog } from '../src/core/models.js';
import { commandDefinitions, syncCommands } from '../src/discord/commands.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage, type FakeOptionValue } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';

/**
 * `/blend` and `@bot --blend`, end to end: the real discord.js against the fake Discord, the
 * engine against the mock API. A blend is one edit with all its images as inputs; one image, more
 * than five, or a file that is not an image is refused privately with nothing sent.
 */

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
});

/** The fake with the Message Content switch on and the bot asking for it: replies show images. */
async function start(options: { messageContent?: boolean } = {}) {
  fake = await FakeDiscord.start({ messageContentIntent: options.messageContent ?? false });
  bot = await startDiscordBot(fake, api, {
    env: options.messageContent ? { DISCORD_MESSAGE_CONTENT: 'true' } : {},
  });
  await fake.ready();
}

const COLORS = ['#ff0000', '#00ff00', '#0000ff', '#ffff00', '#00ffff', '#ff00ff'];
const png = (color: string) =>
  sharp({ create: { width: 64, height: 48, channels: 3, background: color } })
    .png()
    .toBuffer();
const images = async (count: number, prefix = 'photo') =>
  Promise.all(
    COLORS.slice(0, count).map(async (color, index) => ({
      filename: `${prefix}${index + 1}.png`,
      bytes: await png(color),
    })),
  );

/** Attachment options named `names`, each a distinct image (`photo1.png`, `photo2.png`...). */
async function imageOptions(names: readonly string[]): Promise<Record<string, FakeOptionValue>> {
  const files = await images(names.length);
  const options: Record<string, FakeOptionValue> = {};
  files.forEach((file, index) => {
    options[names[index] ?? `image${index + 1}`] = file;
  });
  return options;
}

const createsWith = (text: string) =>
  api.creates().filter((call) => String((call.body as { prompt?: string }).prompt).includes(text));

interface CreateBody {
  action: string;
  prompt: string;
  image_urls: string[];
  aspect_ratio?: string;
  count?: number;
}

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

/** The private answer an interaction got at once (an ephemeral reply, callback type 4). */
async function privateAnswer(interactionId: string): Promise<string> {
  const callback = await fake.waitFor(() => fake.interactionResponses(interactionId).callbacks[0], {
    description: 'a reply',
  });
  expect(callback.type).toBe(4);
  const data = callback.data as { content: string; flags: number };
  expect(data.flags & 64).toBe(64);
  return data.content;
}

/** The bot's reply to a message (an answer or its progress and result). */
function botReplyTo(messageId: string, predicate: (message: FakeMessage) => boolean = () => true) {
  return fake.waitFor(
    () =>
      fake
        .messages(fake.channelId)
        .find(
          (candidate) =>
            candidate.author.id === fake.botUserId &&
            candidate.message_reference?.message_id === messageId &&
            predicate(candidate),
        ),
    { timeoutMs: 15_000, description: 'the bot’s reply' },
  );
}

describe('Discord /blend', () => {
  it('registers /blend and makes one edit with its three images, with the default prompt', async () => {
    await start();
    expect(fake.commands(undefined).map((command) => command.name)).toContain('blend');
    const interaction = fake.sendSlashCommand({
      name: 'blend',
      options: { ...(await imageOptions(['image1', 'image2', 'image3'])), aspect_ratio: '16:9' },
    });
    const result = await resultOf(interaction.id);
    const creates = createsWith('blend these images');
    expect(creates).toHaveLength(1);
    const body = creates[0]?.body as CreateBody;
    expect(body).toMatchObject({
      action: 'edit',
      prompt: 'blend these images',
      aspect_ratio: '16:9',
    });
    expect(body.image_urls).toHaveLength(3);
    // Discord's URLs as they are, in the options' order.
    body.image_urls.forEach((url, index) => {
      expect(url.startsWith(fake.cdnUrl)).toBe(true);
      expect(decodeURIComponent(url)).toContain(`photo${index + 1}.png`);
    });
    const sent = fake.interactionResponses(interaction.id);
    expect(sent.callbacks[0]?.type).toBe(5);
    expect(result.attachments).toHaveLength(1);
  });

  it('sends the prompt typed, with the images in option order even when one is skipped', async () => {
    await start();
    const { image2: _skipped, ...firstAndThird } = await imageOptions([
      'image1',
      'image2',
      'image3',
    ]);
    const interaction = fake.sendSlashCommand({
      name: 'blend',
      options: { prompt: 'a cat made of both --count 2', ...firstAndThird },
    });
    await resultOf(interaction.id);
    const body = createsWith('a cat made of both')[0]?.body as CreateBody;
    expect(body.action).toBe('edit');
    expect(body.prompt).toBe('a cat made of both');
    expect(body.count).toBe(2);
    expect(body.image_urls).toHaveLength(2);
    expect(decodeURIComponent(body.image_urls[0] ?? '')).toContain('photo1.png');
    expect(decodeURIComponent(body.image_urls[1] ?? '')).toContain('photo3.png');
  });

  it('refuses one image, in English and in French, and a file that is not an image, sending nothing', async () => {
    await start();
    const before = api.creates().length;
    const only = await imageOptions(['image1']);
    const english = fake.sendSlashCommand({ name: 'blend', options: only });
    expect(await privateAnswer(english.id)).toBe(
      'A blend needs 2 to 5 images, and I found 1. Add more and try again.',
    );
    const french = fake.sendSlashCommand({
      name: 'blend',
      locale: 'fr',
      options: only,
    });
    expect(await privateAnswer(french.id)).toMatch(/^Un mélange demande de 2 à 5 images/);
    const none = fake.sendSlashCommand({ name: 'blend', options: { prompt: 'anything' } });
    expect(await privateAnswer(none.id)).toContain('I found 0');
    const notes = fake.sendSlashCommand({
      name: 'blend',
      options: {
        ...only,
        image2: { filename: 'notes.txt', bytes: Buffer.from('hello'), contentType: 'text/plain' },
      },
    });
    expect(await privateAnswer(notes.id)).toContain('notes.txt');
    expect(api.creates().length).toBe(before);
  });

  it('keeps the result private when asked', async () => {
    await start();
    const interaction = fake.sendSlashCommand({
      name: 'blend',
      options: {
        prompt: 'just for me',
        private: true,
        ...(await imageOptions(['image1', 'image2'])),
      },
    });
    await resultOf(interaction.id);
    const defer = fake.interactionResponses(interaction.id).callbacks[0];
    expect(defer?.type).toBe(5);
    expect(((defer?.data as { flags?: number } | undefined)?.flags ?? 0) & 64).toBe(64);
    expect(
      (createsWith('just for me')[0]?.body as CreateBody | undefined)?.image_urls,
    ).toHaveLength(2);
  });

  it('blends through /imagine --blend too, over its own image options', async () => {
    await start();
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'as a watercolour --blend', ...(await imageOptions(['image', 'image2'])) },
    });
    await resultOf(interaction.id);
    const body = createsWith('as a watercolour')[0]?.body as CreateBody;
    expect(body.prompt).toBe('as a watercolour');
    expect(body.image_urls).toHaveLength(2);
  });
});

describe('Discord @bot --blend on a reply', () => {
  it('blends the replied-to message’s images with the reply’s own, in one edit', async () => {
    await start({ messageContent: true });
    const theirs = fake.postUserMessage({ content: 'our photos', attachments: await images(2) });
    const ask = fake.postUserMessage({
      content: `<@${fake.botUserId}> --blend as one landscape`,
      referenceMessageId: theirs.id,
      attachments: await images(1, 'mine'),
    });
    await botReplyTo(ask.id, (message) => message.attachments.length > 0);
    const creates = createsWith('as one landscape');
    expect(creates).toHaveLength(1);
    const body = creates[0]?.body as CreateBody;
    expect(body.action).toBe('edit');
    expect(body.prompt).toBe('as one landscape');
    expect(body.image_urls).toHaveLength(3);
    const replied = fake.message(theirs.id)?.attachments.map((attachment) => attachment.id) ?? [];
    expect(replied).toHaveLength(2);
    // The replied-to images first, then the reply's own.
    expect(body.image_urls[0]).toContain(`/${replied[0]}/`);
    expect(body.image_urls[1]).toContain(`/${replied[1]}/`);
    expect(decodeURIComponent(body.image_urls[2] ?? '')).toContain('mine1.png');
  });

  it('blends with the default prompt when only the flag is typed', async () => {
    await start({ messageContent: true });
    const theirs = fake.postUserMessage({ content: 'two', attachments: await images(2) });
    const before = createsWith('blend these images').length;
    const ask = fake.postUserMessage({
      content: `<@${fake.botUserId}> --blend`,
      referenceMessageId: theirs.id,
    });
    await botReplyTo(ask.id, (message) => message.attachments.length > 0);
    const creates = createsWith('blend these images');
    expect(creates).toHaveLength(before + 1);
    expect((creates.at(-1)?.body as CreateBody | undefined)?.image_urls).toHaveLength(2);
  });

  it('refuses six images, one image, and a file that is not an image, sending nothing', async () => {
    await start({ messageContent: true });
    const before = api.creates().length;
    const three = fake.postUserMessage({ content: 'three', attachments: await images(3) });
    const six = fake.postUserMessage({
      content: `<@${fake.botUserId}> --blend all six`,
      referenceMessageId: three.id,
      attachments: (await images(6)).slice(3),
    });
    const tooMany = await botReplyTo(six.id);
    expect(tooMany.content).toBe(
      'A blend needs 2 to 5 images, and I found 6. Leave some out and try again.',
    );

    const one = fake.postUserMessage({
      content: `<@${fake.botUserId}> --blend just this`,
      attachments: await images(1),
    });
    expect((await botReplyTo(one.id)).content).toContain('I found 1');

    const mixed = fake.postUserMessage({
      content: `<@${fake.botUserId}> --blend these`,
      attachments: [
        ...(await images(2)),
        { filename: 'notes.txt', bytes: Buffer.from('hello'), contentType: 'text/plain' },
      ],
    });
    expect((await botReplyTo(mixed.id)).content).toContain('notes.txt');
    expect(api.creates().length).toBe(before);
  });
});

describe('Discord Edit image with --blend', () => {
  /** Opens Edit image on a message and submits `change` in its form. */
  async function editThroughMenu(targetMessageId: string, change: string) {
    const menu = fake.sendMessageContextCommand({ name: 'Edit image', targetMessageId });
    const modal = await fake.waitFor(() => fake.interactionResponses(menu.id).modal, {
      description: 'the Edit image modal',
    });
    return fake.sendModalSubmit({ customId: String(modal.custom_id), fields: { change } });
  }

  it('blends a message’s images with the default prompt, and refuses six', async () => {
    await start();
    const three = fake.postUserMessage({ content: 'three', attachments: await images(3) });
    const before = createsWith('blend these images').length;
    const submit = await editThroughMenu(three.id, '--blend');
    await resultOf(submit.id);
    const creates = createsWith('blend these images');
    expect(creates).toHaveLength(before + 1);
    expect((creates.at(-1)?.body as CreateBody | undefined)?.image_urls).toHaveLength(3);

    const total = api.creates().length;
    const six = fake.postUserMessage({ content: 'six', attachments: await images(6) });
    const refused = await editThroughMenu(six.id, '--blend all of them');
    expect(await privateAnswer(refused.id)).toContain('I found 6');
    expect(api.creates().length).toBe(total);
  });
});

describe('Discord /help', () => {
  it('lists /blend and --blend, in English and French', async () => {
    await start();
    const english = fake.sendSlashCommand({ name: 'help' });
    const text = await privateAnswer(english.id);
    expect(text).toContain('`/blend` blends 2 to 5 images into one');
    expect(text).toContain('`--blend`');
    const french = fake.sendSlashCommand({ name: 'help', locale: 'fr' });
    expect(await privateAnswer(french.id)).toContain('`/blend` mélange de 2 à 5 images');
  });
});

describe('Discord command sync', () => {
  it('registers /blend, in French too, where an older version left it out', async () => {
    await start();
    const rest = new REST({ api: fake.apiUrl, retries: 0 }).setToken(fake.botToken);
    const definitions = commandDefinitions(createModelCatalog());
    const blend = definitions.find((command) => command.name === 'blend') as
      | { description_localizations?: Record<string, string>; options?: unknown[] }
      | undefined;
    expect(blend?.description_localizations?.fr).toBe('Mélanger de 2 à 5 images en une seule');
    expect(blend?.options).toHaveLength(10);
    const route = Routes.applicationCommands(fake.applicationId);
    await rest.put(route, { body: definitions.filter((command) => command.name !== 'blend') });
    expect(await syncCommands(rest, fake.applicationId, [], definitions)).toEqual(['global']);
    expect(fake.commands(undefined).map((command) => command.name)).toContain('blend');
    // A changed French text of one of its options is written too.
    const changed = structuredClone(definitions);
    const option = (
      changed.find((command) => command.name === 'blend') as {
        options: { description_localizations: Record<string, string> }[];
      }
    ).options[0];
    if (option) option.description_localizations = { fr: 'Une autre image' };
    expect(await syncCommands(rest, fake.applicationId, [], changed)).toEqual(['global']);
    expect(await syncCommands(rest, fake.applicationId, [], changed)).toEqual([]);
  });
});
