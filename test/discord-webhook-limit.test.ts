import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';

/**
 * Issue 12: Discord's global limit (about 50 requests per second) binds the bot token, not the
 * interaction webhooks a result is posted through. A global 429 on a bot-token call (here: the
 * thread opened under a result) must not hold the next member's images, as it did while webhook
 * calls went through the same discord.js REST client, whose limiter then stops every call.
 */

const THREADS = 'POST /channels/:channelId/messages/:messageId/threads';
const GLOBAL_LIMIT_SECONDS = 10;

let api: MockApi;
let fake: FakeDiscord;
let bot: DiscordBot | undefined;

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 60_000 });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  await bot?.stop();
  bot = undefined;
  await fake?.close();
});

function taskOf(prompt: string): string {
  const task = [...api.tasks.values()].find((candidate) => candidate.request.prompt === prompt);
  if (task === undefined) throw new Error(`no task for ${prompt}`);
  return task.id;
}

describe('interaction webhooks and the bot token’s global limit', () => {
  it('posts a result while the bot token is globally rate limited', async () => {
    fake = await FakeDiscord.start();
    bot = await startDiscordBot(fake, api);
    await fake.ready();
    const first = fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'a red kite' } });
    const second = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'a blue kite' },
      userId: '700000000000000002',
    });
    await fake.waitFor(() => api.creates().length === 2 || undefined, {
      description: 'both creates',
    });
    await fake.waitFor(
      () =>
        (fake.interactionResponses(first.id).original?.content &&
          fake.interactionResponses(second.id).original?.content) ||
        undefined,
      { description: 'both queued replies' },
    );

    // The first result's thread meets Discord's global limit for ten seconds.
    fake.failNextGlobally(THREADS, GLOBAL_LIMIT_SECONDS);
    api.finishTask(taskOf('a red kite'));
    const limited = await fake.waitFor(
      () => fake.calls.find((call) => call.route === THREADS && call.status === 429),
      { description: 'the thread call answered 429 global', timeoutMs: 20_000 },
    );

    api.finishTask(taskOf('a blue kite'));
    const delivered = await fake.waitFor(
      () =>
        fake.calls.find(
          (call) => call.files.length > 0 && call.status < 300 && call.path.includes(second.token),
        ),
      { description: 'the second result', timeoutMs: 20_000 },
    );
    // Posted while the bot token is still held (its retry comes ten seconds after the 429).
    expect(delivered.at - limited.at).toBeLessThan((GLOBAL_LIMIT_SECONDS / 2) * 1000);
    expect(
      fake.calls.filter(
        (call) => call.route === THREADS && call.status < 300 && call.at < delivered.at,
      ),
    ).toHaveLength(0);
  });
});
