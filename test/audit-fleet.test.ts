/**
 * The moderation log in a fleet: two whole Discord services over one PostgreSQL database, one
 * holding the gateway (every request arrives there and is logged there), the other a
 * gateway-less worker. Lines are written by whichever process saw the event and posted by one
 * process at a time (the store's lock `audit-poster:discord`): each line reaches the log once.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';
import { eventually } from './helpers/eventually.js';
import { type FreshDatabase, freshDatabase } from './helpers/postgres.js';

const GUILD = '420000000000000001';
const GENERAL = '430000000000000001';
const OPERATOR_LOG = '430000000000000002';

let database: FreshDatabase;
let fake: FakeDiscord | undefined;
let api: MockApi | undefined;
const bots: DiscordBot[] = [];
let client: pg.Client | undefined;

beforeEach(async () => {
  database = await freshDatabase();
});

afterEach(async () => {
  await Promise.allSettled(bots.splice(0).map((bot) => bot.stop()));
  await fake?.close();
  fake = undefined;
  await api?.close();
  api = undefined;
  await client?.end();
  client = undefined;
  await database.drop();
});

describe('the moderation log in a fleet', () => {
  it('posts each line once, whichever process wrote it', async () => {
    const discord = await FakeDiscord.start({
      guilds: [
        {
          id: GUILD,
          channels: [
            { id: GENERAL, name: 'general' },
            { id: OPERATOR_LOG, name: 'operator-log' },
          ],
        },
      ],
    });
    fake = discord;
    const mockApi = await startMockApi({ token: API_TOKEN, delayMs: 50 });
    api = mockApi;
    const finished: Job[] = [];
    const env = {
      NANO_BANANA_SHUTDOWN_GRACE: '1s',
      NANO_BANANA_MAX_JOBS_PER_USER: '8',
      DISCORD_AUDIT_CHANNEL_ID: OPERATOR_LOG,
    };
    for (const extra of [{}, { DISCORD_SHARD_IDS: 'none' }]) {
      const bot = await startDiscordBot(discord, mockApi, {
        databaseUrl: database.url,
        env: { ...env, ...extra },
      });
      bot.service.engine.on('finished', (job) => finished.push(job));
      bots.push(bot);
    }
    await discord.ready();

    const prompts = Array.from({ length: 8 }, (_, index) => `fleet job ${index}`);
    for (const prompt of prompts) {
      discord.sendSlashCommand({ name: 'imagine', channelId: GENERAL, options: { prompt } });
    }
    const jobs = await discord.waitFor(
      () => {
        const done = prompts.map((prompt) => finished.find((job) => job.prompt === prompt));
        return done.every((job) => job !== undefined) ? (done as Job[]) : undefined;
      },
      { timeoutMs: 30_000, description: 'every job to finish' },
    );
    // Every line posted: the outbox is empty.
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const outbox = client;
    await eventually(
      async () => {
        const { rows } = await outbox.query<{ count: string }>(
          'SELECT count(*) AS count FROM audit_lines',
        );
        return rows[0]?.count === '0';
      },
      { timeoutMs: 30_000, description: 'the outbox to empty' },
    );
    const lines = discord.messages(OPERATOR_LOG).flatMap((message) => message.content.split('\n'));
    for (const job of jobs) {
      expect(lines.filter((line) => line.includes(`\`${job.id}\``))).toHaveLength(2);
    }
    expect(lines).toHaveLength(16);
  }, 90_000);
});
