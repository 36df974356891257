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
    ).toEqual(['Edit image', 'blend', 'help', 'history', 'imagine', 'prefer', 'settings', 'usage']);
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
    // Today's row, then the image's own Upscale (2K, 4K) and Vary.
    expect(buttonIds(result).map((id) => id.split(':')[1])).toEqual([
      'reroll',
      'edit',
      'delete',
      'upscale',
      'upscale',
      'vary',
    ]);
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

describe('Discord edits from messages', () => {
  it('edits the bot’s own image when a reply mentions it, posting the result as a reply', async () => {
    await start();
    const interaction = fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'a teapot' } });
    const result = await resultOf(interaction.id);
    const attachmentId = result.attachments[0]?.id ?? 'missing';
    const message = fake.postUserMessage({
      content: `<@${fake.botUserId}> make it gold --ar 3:2`,
      referenceMessageId: result.id,
    });
    const reply = await fake.waitFor(
      () =>
        fake
          .messages(fake.channelId)
          .find(
            (candidate) =>
              candidate.message_reference?.message_id === message.id &&
              candidate.attachments.length > 0,
          ),
      { timeoutMs: 15_000, description: 'the reply with the edit' },
    );
    const body = createsWith('make it gold')[0]?.body as {
      action: string;
      image_urls: string[];
      aspect_ratio: string;
    };
    expect(body.action).toBe('edit');
    expect(body.aspect_ratio).toBe('3:2');
    expect(body.image_urls[0]).toContain(`/${attachmentId}/`);
    expect(reply.author.id).toBe(fake.botUserId);
  });

  it('explains how to edit another user’s image without the Message Content intent, and spends nothing', async () => {
    await start();
    const theirs = fake.postUserMessage({
      content: 'look',
      attachments: [{ filename: 'dog.png', bytes: await png('#00ff00') }],
    });
    const before = api.creates().length;
    const ask = fake.postUserMessage({
      content: `<@${fake.botUserId}> add a hat`,
      referenceMessageId: theirs.id,
      replyPing: false,
      mentionsBot: true,
    });
    const answer = await fake.waitFor(() =>
      fake
        .messages(fake.channelId)
        .find(
          (candidate) =>
            candidate.message_reference?.message_id === ask.id &&
            candidate.author.id === fake.botUserId,
        ),
    );
    expect(answer.content).toMatch(/Edit image/);
    expect(api.creates().length).toBe(before);
  });

  it('edits anyone’s image through the Edit image context menu and its modal', async () => {
    await start();
    const theirs = fake.postUserMessage({
      content: 'my photo',
      attachments: [{ filename: 'dog.png', bytes: await png('#0000ff') }],
    });
    const menu = fake.sendMessageContextCommand({ name: 'Edit image', targetMessageId: theirs.id });
    const modal = await fake.waitFor(() => fake.interactionResponses(menu.id).modal);
    const submit = fake.sendModalSubmit({
      customId: String(modal.custom_id),
      fields: { change: 'add sunglasses' },
    });
    await resultOf(submit.id);
    const body = createsWith('add sunglasses')[0]?.body as { image_urls: string[] };
    expect(body.image_urls[0]).toContain(
      `/${fake.message(theirs.id)?.attachments[0]?.id ?? 'missing'}/`,
    );
  });

  it('edits the latest image of a result thread from a mention there', async () => {
    await start();
    const interaction = fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'a castle' } });
    const result = await resultOf(interaction.id);
    const thread = await fake.waitFor(() => fake.thread(result.id));
    fake.postUserMessage({ channelId: thread.id, content: `<@${fake.botUserId}> at night` });
    const edited = await fake.waitFor(
      () =>
        fake
          .messages(thread.id)
          .find(
            (candidate) =>
              candidate.author.id === fake.botUserId && candidate.attachments.length > 0,
          ),
      { timeoutMs: 15_000, description: 'the edit in the thread' },
    );
    const body = createsWith('at night')[0]?.body as { image_urls: string[] };
    expect(body.image_urls[0]).toContain(`/${result.attachments[0]?.id ?? 'missing'}/`);
    expect(edited.content).toContain('at night');
  });
});

describe('Discord buttons and restarts', () => {
  it('re-rolls, edits through the modal, and deletes only for the requester, also after a restart', async () => {
    await start();
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'a lighthouse' },
    });
    const result = await resultOf(interaction.id);
    const [reroll, edit, remove] = buttonIds(result);

    // The bot restarts: buttons keep working, their state is in the store.
    const dataDir = bot?.dataDir;
    await bot?.stop();
    bot = await startDiscordBot(fake, api, { dataDir: dataDir ?? '' });

    const rerolled = fake.sendButton({ customId: reroll ?? '', messageId: result.id });
    await resultOf(rerolled.id);
    expect(createsWith('a lighthouse')).toHaveLength(2);

    const editClick = fake.sendButton({ customId: edit ?? '', messageId: result.id });
    const modal = await fake.waitFor(() => fake.interactionResponses(editClick.id).modal);
    const submit = fake.sendModalSubmit({
      customId: String(modal.custom_id),
      fields: { change: 'paint it red' },
    });
    await resultOf(submit.id);
    const editBody = createsWith('paint it red')[0]?.body as { action: string } | undefined;
    expect(editBody?.action).toBe('edit');

    const stranger = fake.sendButton({
      customId: remove ?? '',
      messageId: result.id,
      userId: 'someone-else',
    });
    const refused = await fake.waitFor(() => fake.interactionResponses(stranger.id).callbacks[0]);
    expect((refused.data as { content: string }).content).toMatch(/Only the person/);
    expect(fake.messages(fake.channelId).some((message) => message.id === result.id)).toBe(true);

    const owner = fake.sendButton({ customId: remove ?? '', messageId: result.id });
    await fake.waitFor(
      () =>
        fake.messages(fake.channelId).some((message) => message.id === result.id)
          ? undefined
          : true,
      {
        description: 'the deleted result',
      },
    );
    expect(fake.interactionResponses(owner.id).callbacks[0]?.type).toBe(5);
  });

  it('delivers as a channel message mentioning the user once the interaction token has expired', async () => {
    api.setDelay(60_000);
    await start();
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'a slow one' },
    });
    await fake.waitFor(() => createsWith('a slow one')[0]);
    // The reply shows the job (its message id is stored) before the 15 minutes pass.
    await fake.waitFor(() => {
      const original = fake.interactionResponses(interaction.id).original;
      return original !== undefined && (original.flags & (1 << 7)) === 0;
    });
    const mark = fake.calls.length;
    fake.advanceClock(15 * 60_000 + 1_000);
    const task = [...api.tasks.values()].find(
      (candidate) => candidate.request.prompt === 'a slow one',
    );
    api.finishTask(task?.id ?? '');
    const message = await fake.waitFor(
      () =>
        fake
          .messages(fake.channelId)
          .find(
            (candidate) => candidate.webhook_id === undefined && candidate.attachments.length > 0,
          ),
      { timeoutMs: 15_000, description: 'the late delivery' },
    );
    expect(message.content).toContain(`<@${fake.userId}>`);
    // The bot knew the token was spent: it tried no webhook call.
    expect(fake.calls.slice(mark).filter((call) => call.route.includes('/webhooks/'))).toEqual([]);
  });

  it('still delivers when the bot restarts between the request and the result', async () => {
    api.setDelay(60_000);
    await start();
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'across a restart' },
    });
    await fake.waitFor(() => createsWith('across a restart')[0]);
    const dataDir = bot?.dataDir ?? '';
    await bot?.stop();
    bot = await startDiscordBot(fake, api, { dataDir });
    const task = [...api.tasks.values()].find(
      (candidate) => candidate.request.prompt === 'across a restart',
    );
    api.finishTask(task?.id ?? '');
    const result = await resultOf(interaction.id);
    expect(result.attachments).toHaveLength(1);
    expect(createsWith('across a restart')).toHaveLength(1);
  });

  it('explains a missing Attach Files permission at once, and a missing thread permission on the result', async () => {
    await start();
    fake.denyPermission(fake.channelId, 'ATTACH_FILES');
    const before = api.creates().length;
    const refused = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'no files allowed' },
    });
    const callback = await fake.waitFor(() => fake.interactionResponses(refused.id).callbacks[0]);
    expect((callback.data as { content: string }).content).toMatch(/Attach Files/);
    expect(api.creates().length).toBe(before);

    fake.allowPermission(fake.channelId, 'ATTACH_FILES');
    fake.denyPermission(fake.channelId, 'CREATE_PUBLIC_THREADS');
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'no threads allowed' },
    });
    await resultOf(interaction.id);
    await fake.waitFor(() =>
      fake.interactionResponses(interaction.id).original?.content.includes('Create Public Threads')
        ? true
        : undefined,
    );
  });

  it('explains by DM when it cannot post where the request was made (an archived thread)', async () => {
    await start();
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'a quiet harbour' },
    });
    const result = await resultOf(interaction.id);
    const thread = await fake.waitFor(() => fake.thread(result.id));
    // Locked, so that the member's own message does not reopen it (as on Discord).
    fake.archiveThread(thread.id, { locked: true });
    fake.postUserMessage({ channelId: thread.id, content: `<@${fake.botUserId}> with boats` });
    const dm = fake.openDm(fake.userId);
    const explained = await fake.waitFor(
      () => fake.messages(dm).find((message) => message.author.id === fake.botUserId),
      { timeoutMs: 20_000, description: 'the explanation by DM' },
    );
    expect(explained.content).toMatch(/archived/);
  });
});
