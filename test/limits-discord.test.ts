import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';
import { eventually } from './helpers/eventually.js';

/**
 * Issue 9 §6 on Discord, end to end through the real discord.js against the fake Discord: limits
 * and costs that could be sidestepped (a DM past the server's quota, a webhook's post, a blocked
 * word spelled with invisible or look-alike letters, another member's modal, a burst of clicks,
 * a reply that only pings the bot).
 */

/** A member without Administrator (the fake's first member owns the guild). */
const MEMBER = '770000000000000001';

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
  api.setDelay(0);
  for (const task of api.tasks.values()) api.finishTask(task.id);
  await bot?.stop();
  bot = undefined;
  await fake?.close();
  api.setDelay(100);
});

async function start(env: Record<string, string> = {}) {
  fake = await FakeDiscord.start();
  bot = await startDiscordBot(fake, api, { env: { NANO_BANANA_SHUTDOWN_GRACE: '1s', ...env } });
  await fake.ready();
}

const createsWith = (text: string) =>
  api.creates().filter((call) => String((call.body as { prompt?: string }).prompt).includes(text));

const png = (color: string) =>
  sharp({ create: { width: 32, height: 32, channels: 3, background: color } })
    .png()
    .toBuffer();

/** The interaction's reply once it holds images. */
function resultOf(interactionId: string): Promise<FakeMessage> {
  return fake.waitFor(
    () => {
      const original = fake.interactionResponses(interactionId).original;
      return original !== undefined && original.attachments.length > 0 ? original : undefined;
    },
    { timeoutMs: 15_000, description: 'the result' },
  );
}

/** The private answer an interaction got at once (a refusal). */
async function privateAnswer(interactionId: string): Promise<string> {
  const callback = await fake.waitFor(() => fake.interactionResponses(interactionId).callbacks[0], {
    description: 'a private answer',
  });
  expect(callback.type).toBe(4);
  const data = callback.data as { content: string; flags: number };
  expect(data.flags & 64).toBe(64);
  return data.content;
}

/**
 * A refusal, at once or, when the check passed before a concurrent request took the last place,
 * as the deferred reply's text.
 */
function refusalOf(interactionId: string): string | undefined {
  const responses = fake.interactionResponses(interactionId);
  const callback = responses.callbacks[0];
  if (callback?.type === 4) return (callback.data as { content: string }).content;
  const original = responses.original;
  return original !== undefined && original.attachments.length === 0 ? original.content : undefined;
}

function buttonIds(message: FakeMessage): string[] {
  return message.components.flatMap((row) =>
    ((row.components ?? []) as { custom_id?: string }[]).map(
      (component) => component.custom_id ?? '',
    ),
  );
}

/** The bot's reply (with images, or any) to a message, once there. */
function botReplyTo(channelId: string, messageId: string, withImages: boolean) {
  return fake
    .messages(channelId)
    .find(
      (candidate) =>
        candidate.author.id === fake.botUserId &&
        candidate.message_reference?.message_id === messageId &&
        (!withImages || candidate.attachments.length > 0),
    );
}

describe('Discord direct messages', () => {
  it('count against their own daily bucket: the server’s limit spent, DMs stop at theirs', async () => {
    await start({ NANO_BANANA_DAILY_IMAGES_PER_SERVER: '1' });
    await resultOf(
      fake.sendSlashCommand({
        name: 'imagine',
        userId: MEMBER,
        options: { prompt: 'in the server' },
      }).id,
    );
    const inServer = fake.sendSlashCommand({
      name: 'imagine',
      userId: MEMBER,
      options: { prompt: 'second in the server' },
    });
    expect(await privateAnswer(inServer.id)).toMatch(/This server has reached its daily limit/);

    const dm = fake.openDm(MEMBER);
    await resultOf(
      fake.sendSlashCommand({ name: 'imagine', channelId: dm, options: { prompt: 'first dm' } }).id,
    );
    const secondDm = fake.sendSlashCommand({
      name: 'imagine',
      channelId: dm,
      options: { prompt: 'second dm' },
    });
    expect(await privateAnswer(secondDm.id)).toMatch(
      /Direct messages have reached their daily limit of 1 images/,
    );
    expect(createsWith('second dm')).toHaveLength(0);
    expect(createsWith('second in the server')).toHaveLength(0);
  });

  it('are refused under a server allow-list unless it holds dm', async () => {
    await start({ NANO_BANANA_ALLOWED_SERVERS: 'someone-elses-guild' });
    const dm = fake.openDm(fake.userId);
    const refused = fake.sendSlashCommand({
      name: 'imagine',
      channelId: dm,
      options: { prompt: 'a dm outside the list' },
    });
    expect(await privateAnswer(refused.id)).toMatch(/not enabled here/);
    await bot?.stop();
    bot = await startDiscordBot(fake, api, {
      env: {
        NANO_BANANA_ALLOWED_SERVERS: `someone-elses-guild, dm`,
        NANO_BANANA_SHUTDOWN_GRACE: '1s',
      },
    });
    const allowed = fake.sendSlashCommand({
      name: 'imagine',
      channelId: dm,
      options: { prompt: 'a dm on the list' },
    });
    await resultOf(allowed.id);
    const inServer = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'a server off the list' },
    });
    expect(await privateAnswer(inServer.id)).toMatch(/not enabled here/);
    expect(createsWith('a dm outside the list')).toHaveLength(0);
    expect(createsWith('a server off the list')).toHaveLength(0);
  });
});

describe('Discord messages that are not requests', () => {
  it('ignores a webhook’s post that mentions the bot', async () => {
    await start();
    const hooked = fake.postUserMessage({
      content: `<@${fake.botUserId}> a relayed cat`,
      webhookId: '990000000000000001',
    });
    // A member's request after it: once that one is answered, the webhook's had its turn.
    const asked = fake.postUserMessage({ content: `<@${fake.botUserId}> a member’s cat` });
    await fake.waitFor(() => botReplyTo(fake.channelId, asked.id, true), {
      timeoutMs: 15_000,
      description: 'the member’s result',
    });
    expect(createsWith('a relayed cat')).toHaveLength(0);
    expect(botReplyTo(fake.channelId, hooked.id, false)).toBeUndefined();
  });

  it('costs nothing for "thanks!" replying to a result with the default ping; an explicit mention still edits', async () => {
    await start();
    const result = await resultOf(
      fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'a paper boat' } }).id,
    );
    // Result messages say how to ask for an edit, now that a plain reply is not one.
    expect(result.content).toContain('To edit: reply mentioning me');
    const before = api.creates().length;
    const thanks = fake.postUserMessage({ content: 'thanks!', referenceMessageId: result.id });
    expect(thanks.mentions.some((user) => user.id === fake.botUserId)).toBe(true);
    const asked = fake.postUserMessage({
      content: `<@${fake.botUserId}> make it a steamboat`,
      referenceMessageId: result.id,
    });
    await fake.waitFor(() => botReplyTo(fake.channelId, asked.id, true), {
      timeoutMs: 15_000,
      description: 'the edit',
    });
    expect(api.creates().length).toBe(before + 1);
    expect(createsWith('thanks!')).toHaveLength(0);
    expect(botReplyTo(fake.channelId, thanks.id, false)).toBeUndefined();
  });

  it('with NANO_BANANA_THREAD_REPLIES=any, a reply that pings the bot is an edit again', async () => {
    await start({ NANO_BANANA_THREAD_REPLIES: 'any' });
    const result = await resultOf(
      fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'a tin robot' } }).id,
    );
    const asked = fake.postUserMessage({ content: 'now in gold', referenceMessageId: result.id });
    await fake.waitFor(() => botReplyTo(fake.channelId, asked.id, true), {
      timeoutMs: 15_000,
      description: 'the edit',
    });
    expect(createsWith('now in gold')).toHaveLength(1);
  });
});

describe('Discord blocked words', () => {
  it('refuses a blocked word hidden by a soft hyphen, a zero-width space or a Cyrillic о', async () => {
    await start({ NANO_BANANA_BLOCKED_WORDS: 'forbidden' });
    const disguises = [
      'a forbid\u00ADden ocelot',
      'a forbid\u200Bden dingo',
      'a f\u043Erbidden kestrel',
      'a ＦＯＲＢＩＤＤＥＮ fennec',
    ];
    for (const prompt of disguises) {
      const interaction = fake.sendSlashCommand({ name: 'imagine', options: { prompt } });
      expect(await privateAnswer(interaction.id), prompt).toMatch(/isn’t allowed/);
    }
    // Whole words only, still: a word that merely contains it passes.
    await resultOf(
      fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'unforbiddenness' } }).id,
    );
    for (const animal of ['ocelot', 'dingo', 'kestrel', 'fennec']) {
      expect(createsWith(animal), animal).toHaveLength(0);
    }
  });
});

describe('Discord edit modals', () => {
  it('accepts a modal submission only from the member, and in the channel, that opened it', async () => {
    await start();
    const theirs = fake.postUserMessage({
      content: 'my photo',
      attachments: [{ filename: 'dog.png', bytes: await png('#0000ff') }],
    });
    const menu = fake.sendMessageContextCommand({ name: 'Edit image', targetMessageId: theirs.id });
    const modal = await fake.waitFor(() => fake.interactionResponses(menu.id).modal, {
      description: 'the context menu modal',
    });
    const customId = String(modal.custom_id);

    const stranger = fake.sendModalSubmit({
      customId,
      userId: '880000000000000001',
      fields: { change: 'a stranger’s hat' },
    });
    expect(await privateAnswer(stranger.id)).toMatch(/opened by someone else/);

    const result = await resultOf(
      fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'a windmill' } }).id,
    );
    const edit = buttonIds(result).find((id) => id.startsWith('nb:edit:')) ?? '';
    // Its delivery stored (the Edit button reads the images from it).
    const jobId = edit.split(':')[2] ?? '';
    await eventually(async () => (await bot?.service.engine.getJob(jobId))?.state === 'done', {
      description: 'the delivered job',
    });
    const click = fake.sendButton({ customId: edit, messageId: result.id });
    const editModal = await fake.waitFor(() => fake.interactionResponses(click.id).modal, {
      description: 'the Edit modal',
    });
    const thread = await fake.waitFor(() => fake.thread(result.id), {
      description: 'the result thread',
    });
    const elsewhere = fake.sendModalSubmit({
      customId: String(editModal.custom_id),
      channelId: thread.id,
      fields: { change: 'from another channel' },
    });
    expect(await privateAnswer(elsewhere.id)).toMatch(/opened by someone else/);

    // The member who opened it, where they opened it: accepted.
    const owner = fake.sendModalSubmit({ customId, fields: { change: 'the owner’s sunglasses' } });
    await resultOf(owner.id);
    expect(createsWith('a stranger’s hat')).toHaveLength(0);
    expect(createsWith('from another channel')).toHaveLength(0);
    expect(createsWith('the owner’s sunglasses')).toHaveLength(1);
  });
});

describe('Discord queued work per user', () => {
  it('refuses the 11th unfinished request of one member: ten Re-roll clicks at once are the cap', async () => {
    await start();
    const result = await resultOf(
      fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'a slow snail' } }).id,
    );
    api.setDelay(60_000);
    const reroll = buttonIds(result).find((id) => id.startsWith('nb:reroll:')) ?? '';
    const clicks = Array.from({ length: 11 }, () =>
      fake.sendButton({ customId: reroll, messageId: result.id }),
    );
    const refusal = await fake.waitFor(
      () =>
        clicks
          .map((click) => refusalOf(click.id))
          .find((text) => text?.includes('already have 10 requests waiting')),
      { timeoutMs: 15_000, description: 'the refusal of the 11th' },
    );
    expect(refusal).toBe(
      'You already have 10 requests waiting. Wait for some to finish, then try again.',
    );
    // Ten stored and counted: two in the member's slots, eight waiting; one create per slot.
    const engine = bot?.service.engine;
    expect((engine?.stats.queued ?? 0) + (engine?.stats.inFlight ?? 0)).toBe(10);
    await fake.waitFor(() => createsWith('a slow snail').length >= 3, {
      description: 'the creates of the two re-rolls in the member’s slots',
    });
    expect(createsWith('a slow snail')).toHaveLength(3);
  });
});
