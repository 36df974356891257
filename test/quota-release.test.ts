import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Config, createLogger, type Job, loadConfig, translate } from '../src/core/index.js';
import { openSqliteStore } from '../src/core/jobs/stores/sqlite.js';
import { discordAdapter } from '../src/discord/index.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { type Service, startService } from '../src/service/service.js';
import { createSlackAdapter } from '../src/slack/index.js';
import { FakeDiscord } from './fakes/discord/index.js';
import { type FakeSlack, startFakeSlack } from './fakes/slack/index.js';

/**
 * Images are reserved when a request is accepted and must come back when the request ends without
 * images: here a delivery the platform refused, a job a restart interrupted mid-create, and a job
 * that timed out while waiting in line. Each is read back the way users read it: `/usage` on
 * Discord, `/imagine --usage` on Slack, against one service running both adapters.
 */

const API_TOKEN = 'quota-release-api-token';
const DAILY_IMAGES = 4;
const SLACK_CHANNEL = 'C0QUOTAREL';
const SLACK_USERS = ['U0QUOTA001', 'U0QUOTA002'];
const DISCORD_USERS = ['730000000000000001', '730000000000000002'];

let api: MockApi;
let discord: FakeDiscord;
let slack: FakeSlack;
let service: Service | undefined;
let finished: Job[] = [];
const logs: string[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  await service?.stop();
  service = undefined;
  await Promise.allSettled([discord?.close(), slack?.close()]);
  api.setDelay(50);
});

async function startFakes(): Promise<void> {
  discord = await FakeDiscord.start();
  slack = await startFakeSlack({
    users: SLACK_USERS.map((id, index) => ({ id, name: `user${index}`, locale: 'en-US' })),
    channels: [{ id: SLACK_CHANNEL, name: 'general' }],
  });
}

/**
 * The service with both adapters over `dataDir`, as `nano-banana start` runs it. `engine` overrides
 * engine limits below what the settings allow (a job timeout of seconds, not minutes).
 */
async function startBot(dataDir: string, engine: Partial<Config['engine']> = {}): Promise<Service> {
  const env: Record<string, string> = {
    ACEDATA_API_TOKEN: API_TOKEN,
    ACEDATA_BASE_URL: api.url,
    DATA_DIR: dataDir,
    PORT: '0',
    NANO_BANANA_POLL_INTERVAL_MS: '100',
    NANO_BANANA_SHUTDOWN_GRACE: '1s',
    NANO_BANANA_DAILY_IMAGES_PER_USER: String(DAILY_IMAGES),
    DISCORD_TOKEN: discord.botToken,
    DISCORD_API_URL: discord.apiUrl,
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_API_URL: slack.apiUrl,
    SLACK_SIGNING_SECRET: slack.signingSecret,
  };
  const loaded = loadConfig(env, dataDir);
  const config: Config = { ...loaded, engine: { ...loaded.engine, ...engine } };
  const logger = createLogger({
    level: process.env.TEST_LOG_LEVEL ?? 'warn',
    secrets: [...config.secrets, discord.botToken, slack.botToken, slack.signingSecret],
    destination: { write: (line: string) => void logs.push(line) },
  });
  const started = await startService({
    config,
    env,
    logger,
    host: '127.0.0.1',
    adapters: [
      discordAdapter,
      createSlackAdapter({ retryConfig: { retries: 0 }, progressIntervalMs: 50 }),
    ],
    client: {
      createRetry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
      retrieveRetry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
    },
  });
  started.engine.on('finished', (job) => finished.push(job));
  slack.deliverTo({ url: `${started.http.url}/slack/events` });
  await discord.ready();
  return started;
}

function newDataDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'nb-quota-release-'));
}

const left = (images: number) => translate('en', 'usage.remaining', { images });

/** The answer's first line: what is left today (the week's images follow on the next). */
const today = (answer: string) => answer.split('\n')[0] ?? '';

/** What `/usage` tells a Discord user (a private reply). */
async function discordUsage(userId: string): Promise<string> {
  const interaction = discord.sendSlashCommand({ name: 'usage', userId });
  const reply = await discord.waitFor(
    () => discord.interactionResponses(interaction.id).original?.content || undefined,
    { description: `the /usage answer for ${userId}` },
  );
  return today(reply);
}

/** What `/imagine --usage` tells a Slack user (a private answer). */
async function slackUsage(userId: string): Promise<string> {
  const before = slack.responses.length;
  const ack = await slack.deliverSlashCommand({
    command: '/imagine',
    text: '--usage',
    userId,
    channelId: SLACK_CHANNEL,
  });
  expect(ack.status).toBe(200);
  const ackText = (ack.body as { text?: unknown } | undefined)?.text;
  if (typeof ackText === 'string') return today(ackText);
  const answer = await slack.waitFor(
    () =>
      slack.responses
        .slice(before)
        .map((response) => (response.body as { text?: unknown }).text)
        .find((text): text is string => typeof text === 'string'),
    { timeoutMs: 10_000 },
  );
  return today(answer);
}

const createsFor = (prompt: string) =>
  api.creates().filter((call) => (call.body as { prompt?: string }).prompt === prompt);

async function untilFinished(prompt: string, timeoutMs = 20_000): Promise<Job> {
  return discord.waitFor(() => finished.find((job) => job.prompt === prompt), {
    timeoutMs,
    description: `the job “${prompt}” to end`,
  });
}

function imagineOnDiscord(userId: string, prompt: string, count: number) {
  return discord.sendSlashCommand({ name: 'imagine', userId, options: { prompt, count } });
}

async function imagineOnSlack(userId: string, prompt: string, count: number): Promise<void> {
  const ack = await slack.deliverSlashCommand({
    command: '/imagine',
    text: `${prompt} --n ${count}`,
    userId,
    channelId: SLACK_CHANNEL,
  });
  expect(ack.status).toBe(200);
}

describe('images come back to the daily quota', () => {
  it('after a delivery the platform refused, on Discord and on Slack', async () => {
    await startFakes();
    finished = [];
    service = await startBot(newDataDir());
    const [discordUser = '', slackUser = ''] = [DISCORD_USERS[0], SLACK_USERS[0]];
    api.setDelay(60_000);
    imagineOnDiscord(discordUser, 'refused on discord', 2);
    await imagineOnSlack(slackUser, 'refused on slack', 3);
    await discord.waitFor(
      () =>
        (createsFor('refused on discord').length === 1 &&
          createsFor('refused on slack').length === 1) ||
        undefined,
      { description: 'both creates' },
    );
    // Reserved while the work is under way.
    expect(await discordUsage(discordUser)).toBe(left(DAILY_IMAGES - 2));
    expect(await slackUsage(slackUser)).toBe(left(DAILY_IMAGES - 3));

    // Discord refuses the upload as too large; Slack's file upload fails.
    discord.setUploadLimit(100);
    slack.failNext('files.getUploadURLExternal', 'missing_scope');
    for (const task of api.tasks.values()) if (task.response === undefined) api.finishTask(task.id);
    const discordJob = await untilFinished('refused on discord');
    const slackJob = await untilFinished('refused on slack');
    expect(discordJob).toMatchObject({ state: 'failed', error: { code: 'delivery_failed' } });
    expect(slackJob).toMatchObject({ state: 'failed', error: { code: 'delivery_failed' } });

    expect(await discordUsage(discordUser)).toBe(left(DAILY_IMAGES));
    expect(await slackUsage(slackUser)).toBe(left(DAILY_IMAGES));
  });

  it('after timing out in line, and after a restart interrupted the create, on both platforms', async () => {
    await startFakes();
    finished = [];
    const dataDir = newDataDir();
    // Two slots, both held by creates the API never answers; two more jobs wait in line.
    service = await startBot(dataDir, { maxConcurrentJobs: 2, jobTimeoutMs: 1500 });
    const [discordHolder = '', discordWaiter = ''] = DISCORD_USERS;
    const [slackHolder = '', slackWaiter = ''] = SLACK_USERS;
    api.failNextCreates('hang', 'hang');
    imagineOnDiscord(discordHolder, 'held on discord', 2);
    await imagineOnSlack(slackHolder, 'held on slack', 3);
    await discord.waitFor(
      () =>
        (createsFor('held on discord').length === 1 && createsFor('held on slack').length === 1) ||
        undefined,
      { description: 'both hanging creates' },
    );
    imagineOnDiscord(discordWaiter, 'waits on discord', 1);
    await imagineOnSlack(slackWaiter, 'waits on slack', 2);
    await discord.waitFor(() => service?.engine.stats.queued === 2 || undefined, {
      description: 'two jobs in line',
    });
    expect(await discordUsage(discordWaiter)).toBe(left(DAILY_IMAGES - 1));
    expect(await slackUsage(slackWaiter)).toBe(left(DAILY_IMAGES - 2));

    // The waiting jobs end at their timeout, without a create, and give their images back.
    const discordTimedOut = await untilFinished('waits on discord', 15_000);
    const slackTimedOut = await untilFinished('waits on slack', 15_000);
    for (const job of [discordTimedOut, slackTimedOut]) {
      expect(job).toMatchObject({ state: 'failed', error: { code: 'timeout' } });
      expect(createsFor(job.prompt)).toHaveLength(0);
    }
    expect(await discordUsage(discordWaiter)).toBe(left(DAILY_IMAGES));
    expect(await slackUsage(slackWaiter)).toBe(left(DAILY_IMAGES));
    // The held ones still have theirs reserved: their creates may have made paid tasks.
    expect(await discordUsage(discordHolder)).toBe(left(DAILY_IMAGES - 2));
    expect(await slackUsage(slackHolder)).toBe(left(DAILY_IMAGES - 3));

    // Stopped mid-create, the held jobs are ended as interrupted by the next start.
    await service.stop();
    const store = await openSqliteStore({ path: path.join(dataDir, 'jobs.db') });
    const held = await store.listByState(['creating']);
    await store.close();
    expect(held.map((job) => job.prompt).sort()).toEqual(['held on discord', 'held on slack']);
    service = await startBot(dataDir, { maxConcurrentJobs: 2, jobTimeoutMs: 1500 });
    for (const job of held) {
      // Settled as the service starts, before a listener could see it finish.
      expect(await service.engine.getJob(job.id)).toMatchObject({
        state: 'failed',
        error: { code: 'interrupted' },
      });
    }
    expect(await discordUsage(discordHolder)).toBe(left(DAILY_IMAGES));
    expect(await slackUsage(slackHolder)).toBe(left(DAILY_IMAGES));
  });
});
