/**
 * The interaction token works 15 minutes after the command; the bot stops using it 90 s before
 * (an upload takes time) and delivers with its own token instead. Time passes on the fake's
 * clock, which the bot shares (see the harness): nobody waits real minutes, and nothing tells
 * Discord to refuse the token early, so a webhook call the bot should not make would succeed and
 * be seen.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';

const MINUTE = 60_000;
const LOADING = 1 << 7;

let api: MockApi;
let fake: FakeDiscord;
let bot: DiscordBot | undefined;
let finished: Job[] = [];

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

async function start() {
  fake = await FakeDiscord.start();
  bot = await startDiscordBot(fake, api);
  finished = [];
  bot.service.engine.on('finished', (job) => finished.push(job));
  await fake.ready();
}

/**
 * Sends /imagine, waits until the job is running at the API and the reply shows it, then moves
 * time on by `minutes` and finishes the task. Returns the index of the first REST call made after
 * the clock moved.
 */
async function imagineAndAge(prompt: string, minutes: number) {
  api.setDelay(10 * MINUTE);
  const interaction = fake.sendSlashCommand({ name: 'imagine', options: { prompt } });
  const task = await fake.waitFor(
    () => [...api.tasks.values()].find((candidate) => candidate.request.prompt === prompt),
    { description: 'the task at the API' },
  );
  // The reply's first edit stores its message id with the job: wait for it, it is not late.
  await fake.waitFor(() => {
    const original = fake.interactionResponses(interaction.id).original;
    return original !== undefined && (original.flags & LOADING) === 0;
  });
  const mark = fake.calls.length;
  fake.advanceClock(minutes * MINUTE);
  api.finishTask(task.id);
  return { interaction, mark };
}

const webhookCallsSince = (mark: number) =>
  fake.calls.slice(mark).filter((call) => call.route.includes('/webhooks/'));

const botImagesInChannel = (): FakeMessage | undefined =>
  fake
    .messages(fake.channelId)
    .find(
      (message) =>
        message.author.id === fake.botUserId &&
        message.webhook_id === undefined &&
        message.attachments.length > 0,
    );

describe('Discord interaction token expiry by time', () => {
  it('at 14 minutes delivers as a channel message mentioning the requester, trying no webhook call', async () => {
    await start();
    const { interaction, mark } = await imagineAndAge('fourteen minutes later', 14);
    const posted = await fake.waitFor(botImagesInChannel, {
      timeoutMs: 20_000,
      description: 'the images in a channel message',
    });
    expect(posted.content).toContain(`<@${fake.userId}> here are your images:`);
    expect(posted.mentions.map((user) => user.id)).toEqual([fake.userId]);
    // It answers the reply the token can no longer edit.
    const original = fake.interactionResponses(interaction.id).original;
    expect(posted.message_reference?.message_id).toBe(original?.id);
    expect(original?.attachments).toHaveLength(0);
    expect(webhookCallsSince(mark)).toEqual([]);
    const job = await fake.waitFor(() =>
      finished.find((entry) => entry.prompt === 'fourteen minutes later'),
    );
    expect(job.state).toBe('done');
  });

  it('at 13 minutes still edits the reply through the token', async () => {
    await start();
    const { interaction, mark } = await imagineAndAge('thirteen minutes later', 13);
    const original = await fake.waitFor(
      () => {
        const current = fake.interactionResponses(interaction.id).original;
        return current !== undefined && current.attachments.length > 0 ? current : undefined;
      },
      { timeoutMs: 20_000, description: 'the images in the reply' },
    );
    expect(original.content).toContain('thirteen minutes later');
    expect(webhookCallsSince(mark).length).toBeGreaterThan(0);
    expect(botImagesInChannel()).toBeUndefined();
  });
});
