import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job, ResultImageFile } from '../src/core/index.js';
import { discordText } from '../src/discord/texts.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';

/**
 * Issue 10 §4: a deleted message, a lost permission or a refused webhook never swallow a result.
 * The real discord.js against the fake Discord; the mock API holds each task until the test has
 * disturbed Discord, then finishes it.
 */

let api: MockApi;
let fake: FakeDiscord;
let bot: DiscordBot | undefined;
let finished: Job[] = [];
let logLines: string[] = [];

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

async function start(env: Record<string, string> = {}) {
  fake = await FakeDiscord.start();
  finished = [];
  logLines = [];
  bot = await startDiscordBot(fake, api, { env, logLines });
  bot.service.engine.on('finished', (job) => finished.push(job));
  await fake.ready();
}

/** Sends `/imagine`, waits for its create, lets `disturb` act, then lets the task finish. */
async function imagineThen(
  prompt: string,
  disturb: (interactionId: string) => void,
  options: { private?: boolean } = {},
) {
  api.setDelay(60_000);
  const interaction = fake.sendSlashCommand({
    name: 'imagine',
    options: { prompt, ...(options.private ? { private: true } : {}) },
  });
  await fake.waitFor(() => createOf(prompt), { description: `the create of “${prompt}”` });
  // The queued reply is in place (the engine's progress edits go to it).
  await fake.waitFor(
    () => fake.interactionResponses(interaction.id).original?.content || undefined,
  );
  disturb(interaction.id);
  api.finishTask(taskOf(prompt));
  return interaction;
}

function createOf(prompt: string) {
  return api.creates().find((call) => String((call.body as { prompt?: string }).prompt) === prompt);
}

function taskOf(prompt: string): string {
  const task = [...api.tasks.values()].find((candidate) => candidate.request.prompt === prompt);
  if (task === undefined) throw new Error(`no task for ${prompt}`);
  return task.id;
}

/** The bot's messages holding images in a channel. */
function botImages(channelId: string): FakeMessage[] {
  return fake
    .messages(channelId)
    .filter((message) => message.author.id === fake.botUserId && message.attachments.length > 0);
}

function buttonIds(message: FakeMessage): string[] {
  return message.components.flatMap((row) =>
    ((row.components ?? []) as { custom_id?: string }[]).map(
      (component) => component.custom_id ?? '',
    ),
  );
}

describe('Discord delivery falls back instead of dropping a result', () => {
  it('posts a new channel message mentioning the requester when the progress message was deleted (10008)', async () => {
    await start();
    const interaction = await imagineThen('a deleted reply', (id) => {
      const original = fake.interactionResponses(id).original;
      fake.deleteMessage(original?.id ?? 'missing');
    });
    const posted = await fake.waitFor(() => botImages(fake.channelId)[0], {
      timeoutMs: 20_000,
      description: 'the images in a new channel message',
    });
    expect(posted.webhook_id).toBeUndefined();
    expect(posted.attachments).toHaveLength(1);
    expect(posted.content).toContain(`<@${fake.userId}>`);
    expect(posted.mentions.map((user) => user.id)).toContain(fake.userId);
    expect(posted.content).toMatch(/message showing your request was deleted/);
    expect(posted.content).not.toMatch(/permission/i);
    expect(buttonIds(posted).map((id) => id.split(':')[1])).toEqual([
      'reroll',
      'edit',
      'delete',
      'upscale',
      'upscale',
      'vary',
    ]);
    const job = await fake.waitFor(() =>
      finished.find((entry) => entry.prompt === 'a deleted reply'),
    );
    expect(job.state).toBe('done');
    expect(fake.interactionResponses(interaction.id).original?.deleted).toBe(true);
  });

  it('replies anew to a message request whose progress reply was deleted (10008)', async () => {
    await start();
    api.setDelay(60_000);
    const request = fake.postUserMessage({ content: `<@${fake.botUserId}> a moderated fox` });
    const progress = await fake.waitFor(
      () =>
        fake
          .messages(fake.channelId)
          .find(
            (message) =>
              message.author.id === fake.botUserId &&
              message.message_reference?.message_id === request.id,
          ),
      { description: 'the progress reply' },
    );
    await fake.waitFor(() => createOf('a moderated fox'));
    fake.deleteMessage(progress.id);
    api.finishTask(taskOf('a moderated fox'));
    const posted = await fake.waitFor(() => botImages(fake.channelId)[0], {
      timeoutMs: 20_000,
      description: 'the images in a new reply',
    });
    expect(posted.id).not.toBe(progress.id);
    expect(posted.message_reference?.message_id).toBe(request.id);
    expect(posted.content).toContain(`<@${fake.userId}>`);
    expect(posted.content).toMatch(/message showing your request was deleted/);
  });

  it('posts in the channel when the interaction webhook is refused (10015), saying so', async () => {
    await start();
    await imagineThen('a removed webhook', (id) => fake.removeInteractionWebhook(id));
    const posted = await fake.waitFor(() => botImages(fake.channelId)[0], {
      timeoutMs: 20_000,
      description: 'the images in a new channel message',
    });
    expect(posted.webhook_id).toBeUndefined();
    expect(posted.content).toContain(`<@${fake.userId}>`);
    expect(posted.content).toMatch(/could no longer update the reply/);
  });

  it('posts in the channel when the interaction token is refused (50027), saying so', async () => {
    await start();
    await imagineThen('a refused token', (id) => fake.expireInteractionToken(id));
    const posted = await fake.waitFor(() => botImages(fake.channelId)[0], {
      timeoutMs: 20_000,
      description: 'the images in a new channel message',
    });
    expect(posted.content).toMatch(/could no longer update the reply/);
  });

  it('posts a result once when a process that took the job over posts it again (enforced nonce)', async () => {
    await start();
    await imagineThen('posted twice', (id) => fake.expireInteractionToken(id));
    const posted = await fake.waitFor(() => botImages(fake.channelId)[0], {
      timeoutMs: 20_000,
      description: 'the images in a new channel message',
    });
    await fake.waitFor(() => finished.find((job) => job.prompt === 'posted twice'), {
      description: 'the job done',
    });
    // A process that died after Discord made the message, before the job was marked done: the
    // process taking it over delivers the same job again.
    const job = await bot?.service.engine.getJob(
      finished.find((candidate) => candidate.prompt === 'posted twice')?.id ?? '',
    );
    const discord = bot?.service.adapters.find((adapter) => adapter.name === 'discord');
    if (job === undefined || discord === undefined) throw new Error('no job or no adapter');
    const bytes = await sharp({
      create: { width: 32, height: 32, channels: 3, background: '#3366ff' },
    })
      .png()
      .toBuffer();
    const image: ResultImageFile = {
      bytes,
      mime: 'image/png',
      width: 32,
      height: 32,
      index: 0,
      sourceUrl: '',
    };
    await discord.platform.deliver(job, [image], new AbortController().signal);
    expect(botImages(fake.channelId).map((message) => message.id)).toEqual([posted.id]);
  });

  it('sends the files by DM when the channel refuses the post (50013), saying why', async () => {
    await start();
    await imagineThen('a closed channel', (id) => {
      fake.removeInteractionWebhook(id);
      fake.denyPermission(fake.channelId, 'SEND_MESSAGES');
    });
    const dm = fake.openDm(fake.userId);
    const sent = await fake.waitFor(() => botImages(dm)[0], {
      timeoutMs: 20_000,
      description: 'the images by DM',
    });
    expect(sent.attachments).toHaveLength(1);
    expect(sent.content).toContain(`<#${fake.channelId}>`);
    expect(sent.content).toMatch(/missing permissions/);
    expect(botImages(fake.channelId)).toHaveLength(0);
    const job = await fake.waitFor(() =>
      finished.find((entry) => entry.prompt === 'a closed channel'),
    );
    expect(job.state).toBe('done');
  });

  it('sends the files by DM when the channel is hidden from the bot (50001)', async () => {
    await start();
    await imagineThen('a hidden channel', () => {
      // The token has aged out (the bot's clock is the fake's): the channel is the next step.
      fake.advanceClock(15 * 60_000);
      fake.denyPermission(fake.channelId, 'VIEW_CHANNEL');
    });
    const dm = fake.openDm(fake.userId);
    const sent = await fake.waitFor(() => botImages(dm)[0], {
      timeoutMs: 20_000,
      description: 'the images by DM',
    });
    expect(sent.content).toMatch(/missing permissions/);
  });

  it('skips the channel for a private request: straight to a DM with the files', async () => {
    await start();
    await imagineThen('a private one', (id) => fake.removeInteractionWebhook(id), {
      private: true,
    });
    const dm = fake.openDm(fake.userId);
    const sent = await fake.waitFor(() => botImages(dm)[0], {
      timeoutMs: 20_000,
      description: 'the images by DM',
    });
    expect(sent.content).toMatch(/private request/);
    expect(botImages(fake.channelId)).toHaveLength(0);
    const channelPosts = fake.calls.filter(
      (call) =>
        call.route === 'POST /channels/:channelId/messages' && call.path.includes(fake.channelId),
    );
    expect(channelPosts).toHaveLength(0);
  });

  it('does not blame permissions when Discord refuses the upload itself (413 40005)', async () => {
    await start();
    const interaction = await imagineThen('too big for the server', () => fake.setUploadLimit(100));
    const told = await fake.waitFor(
      () => {
        const original = fake.interactionResponses(interaction.id).original;
        return original?.content.includes('refused') ? original : undefined;
      },
      { timeoutMs: 20_000, description: 'the failure' },
    );
    expect(told.content).toMatch(/Discord refused to post them/);
    expect(told.content).not.toMatch(/permission/i);
  });

  it('ends the job undelivered, keeping its result URLs and warning the operator, when even the DM is refused (50007)', async () => {
    await start();
    await imagineThen('nowhere to go', (id) => {
      fake.removeInteractionWebhook(id);
      fake.denyPermission(fake.channelId, 'SEND_MESSAGES');
      fake.refuseDms(fake.userId);
    });
    const job = await fake.waitFor(
      () => finished.find((entry) => entry.prompt === 'nowhere to go'),
      {
        timeoutMs: 20_000,
        description: 'the job to end',
      },
    );
    expect(job.state).toBe('undelivered');
    expect(job.error?.code).toBe('undeliverable');
    const stored = await bot?.service.engine.getJob(job.id);
    expect(stored?.state).toBe('undelivered');
    const urls = stored?.result?.images.map((image) => image.url) ?? [];
    expect(urls).toHaveLength(1);
    const warning = logLines
      .map((line) => JSON.parse(line) as { level: number; msg: string; resultUrls?: string[] })
      .find((entry) => entry.msg.startsWith('Job undelivered'));
    expect(warning?.level).toBe(40);
    expect(warning?.resultUrls).toEqual(urls);
    expect(botImages(fake.openDm(fake.userId))).toHaveLength(0);
  });
});

describe('Discord permissions checked before the work starts', () => {
  it('tells the member at once, before deferring, when View Channel is missing', async () => {
    await start();
    fake.denyPermission(fake.channelId, 'VIEW_CHANNEL');
    const before = api.creates().length;
    const interaction = fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'unseen' } });
    const callback = await fake.waitFor(
      () => fake.interactionResponses(interaction.id).callbacks[0],
    );
    expect(callback.type).toBe(4);
    const data = callback.data as { content: string; flags: number };
    expect(data.flags & 64).toBe(64);
    expect(data.content).toMatch(/View Channel/);
    expect(api.creates().length).toBe(before);
  });

  it('tells the member of a message request by DM when Send Messages is missing, and spends nothing', async () => {
    await start();
    fake.denyPermission(fake.channelId, 'SEND_MESSAGES');
    const before = api.creates().length;
    fake.postUserMessage({ content: `<@${fake.botUserId}> a mute cat` });
    const dm = fake.openDm(fake.userId);
    const told = await fake.waitFor(
      () => fake.messages(dm).find((message) => message.author.id === fake.botUserId),
      { description: 'the DM' },
    );
    expect(told.content).toMatch(/Send Messages/);
    expect(told.content).toContain(`<#${fake.channelId}>`);
    expect(api.creates().length).toBe(before);
    expect(bot?.service.engine.stats.queued).toBe(0);
  });

  it('answers a message request in the channel when only Attach Files is missing, and spends nothing', async () => {
    await start();
    fake.denyPermission(fake.channelId, 'ATTACH_FILES');
    const before = api.creates().length;
    const request = fake.postUserMessage({ content: `<@${fake.botUserId}> a fileless cat` });
    const told = await fake.waitFor(
      () =>
        fake
          .messages(fake.channelId)
          .find(
            (message) =>
              message.author.id === fake.botUserId &&
              message.message_reference?.message_id === request.id,
          ),
      { description: 'the reply' },
    );
    expect(told.content).toMatch(/Attach Files/);
    expect(api.creates().length).toBe(before);
    expect(bot?.service.engine.stats.queued).toBe(0);
  });

  it('tells the member now when a request must wait in line and Send Messages is missing', async () => {
    await start({ NANO_BANANA_MAX_CONCURRENT_JOBS: '1' });
    api.setDelay(60_000);
    fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'holding the slot' } });
    await fake.waitFor(() => createOf('holding the slot'));
    fake.denyPermission(fake.channelId, 'SEND_MESSAGES');
    const interaction = fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'waiting' } });
    const callback = await fake.waitFor(
      () => fake.interactionResponses(interaction.id).callbacks[0],
    );
    expect(callback.type).toBe(4);
    expect((callback.data as { content: string }).content).toMatch(/Send Messages/);
    expect(bot?.service.engine.stats.queued).toBe(0);
    api.finishTask(taskOf('holding the slot'));
  });
});

describe('Discord permissions inside a result thread', () => {
  it('checks Send Messages in Threads for a request that must wait there', async () => {
    await start({ NANO_BANANA_MAX_CONCURRENT_JOBS: '1' });
    const first = fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'a thread maker' } });
    const result = await fake.waitFor(
      () => {
        const original = fake.interactionResponses(first.id).original;
        return original !== undefined && original.attachments.length > 0 ? original : undefined;
      },
      { timeoutMs: 15_000, description: 'the result' },
    );
    const thread = await fake.waitFor(() => fake.thread(result.id), { description: 'its thread' });
    api.setDelay(60_000);
    fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'holding the slot' } });
    await fake.waitFor(() => createOf('holding the slot'));
    fake.denyPermission(thread.id, 'SEND_MESSAGES_IN_THREADS');
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      channelId: thread.id,
      options: { prompt: 'waiting in a thread' },
    });
    const callback = await fake.waitFor(
      () => fake.interactionResponses(interaction.id).callbacks[0],
    );
    expect(callback.type).toBe(4);
    expect((callback.data as { content: string }).content).toMatch(/Send Messages in Threads/);
    api.finishTask(taskOf('holding the slot'));
  });
});

describe('Discord Delete removes the result’s thread', () => {
  async function resultWithThread(prompt: string) {
    const interaction = fake.sendSlashCommand({ name: 'imagine', options: { prompt } });
    const result = await fake.waitFor(
      () => {
        const original = fake.interactionResponses(interaction.id).original;
        return original !== undefined && original.attachments.length > 0 ? original : undefined;
      },
      { timeoutMs: 15_000, description: 'the result' },
    );
    const thread = await fake.waitFor(() => fake.thread(result.id), { description: 'its thread' });
    const job = await fake.waitFor(() => finished.find((entry) => entry.prompt === prompt));
    return { result, thread, job };
  }

  it('deletes the thread where the bot has Manage Threads', async () => {
    await start();
    fake.grantPermission(fake.channelId, 'MANAGE_THREADS');
    const { result, thread } = await resultWithThread('a thread to delete');
    const deleteId = buttonIds(result).find((id) => id.startsWith('nb:delete:')) ?? 'missing';
    fake.sendButton({ customId: deleteId, messageId: result.id });
    await fake.waitFor(() => fake.thread(thread.id) === undefined || undefined, {
      description: 'the thread deleted',
    });
    expect(fake.message(result.id)?.deleted).toBe(true);
  });

  it('closes a thread Discord already archived (it takes edits only while unarchiving)', async () => {
    await start();
    const { result, thread } = await resultWithThread('an idle thread');
    fake.archiveThread(thread.id);
    const deleteId = buttonIds(result).find((id) => id.startsWith('nb:delete:')) ?? 'missing';
    fake.sendButton({ customId: deleteId, messageId: result.id });
    await fake.waitFor(
      () => {
        const current = fake.thread(thread.id);
        return current?.thread_metadata.archived && current.thread_metadata.locked
          ? current
          : undefined;
      },
      { description: 'the thread archived and locked' },
    );
  });

  it('answers “still being posted” to a Delete pressed before the result is recorded, then deletes', async () => {
    await start();
    fake.grantPermission(fake.channelId, 'MANAGE_THREADS');
    // The result is on screen; opening its thread (the last step of the delivery) waits.
    const release = fake.holdNext('POST /channels/:channelId/messages/:messageId/threads');
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'deleted too soon' },
    });
    const result = await fake.waitFor(
      () => {
        const original = fake.interactionResponses(interaction.id).original;
        return original !== undefined && original.attachments.length > 0 ? original : undefined;
      },
      { timeoutMs: 15_000, description: 'the result' },
    );
    const deleteId = buttonIds(result).find((id) => id.startsWith('nb:delete:')) ?? 'missing';
    const early = fake.sendButton({ customId: deleteId, messageId: result.id });
    const answer = await fake.waitFor(() => fake.interactionResponses(early.id).callbacks[0], {
      description: 'the answer to the early Delete',
    });
    expect((answer.data as { content: string }).content).toBe(discordText('en', 'delete.not_yet'));
    expect(fake.message(result.id)?.deleted).not.toBe(true);

    release();
    await fake.waitFor(() => finished.find((entry) => entry.prompt === 'deleted too soon'));
    const thread = fake.thread(result.id);
    expect(thread).toBeDefined();
    fake.sendButton({ customId: deleteId, messageId: result.id });
    await fake.waitFor(() => fake.message(result.id)?.deleted === true || undefined, {
      description: 'the result deleted once recorded',
    });
    await fake.waitFor(() => fake.thread(thread?.id ?? '') === undefined || undefined, {
      description: 'its thread deleted too',
    });
  });

  it('archives and locks the thread it owns without Manage Threads', async () => {
    await start();
    const { result, thread } = await resultWithThread('a thread to close');
    const deleteId = buttonIds(result).find((id) => id.startsWith('nb:delete:')) ?? 'missing';
    fake.sendButton({ customId: deleteId, messageId: result.id });
    const closed = await fake.waitFor(
      () => {
        const current = fake.thread(thread.id);
        return current?.thread_metadata.archived && current.thread_metadata.locked
          ? current
          : undefined;
      },
      { description: 'the thread archived and locked' },
    );
    expect(closed.id).toBe(thread.id);
  });
});
