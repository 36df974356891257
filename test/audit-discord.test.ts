/**
 * The moderation log on Discord, end to end: the real discord.js against the fake Discord, the
 * mock API, the bot as `nano-banana start` runs it. A server's audit channel (its settings) gets a
 * line per accepted job, a line with the result's link or why it failed, and a line per
 * blocked-word refusal, private jobs included; the operator's channel (`DISCORD_AUDIT_CHANNEL_ID`)
 * gets every server's lines; posts keep to 5 per 5 s per channel, ping nobody, and never hold a
 * job up, even when the audit channel hangs or refuses the bot.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type RecordedRestCall } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';

const ASKER = '310000000000000001';
const GUILD_A = '320000000000000001';
const GUILD_B = '320000000000000002';
const A_GENERAL = '330000000000000001';
const A_LOG = '330000000000000002';
const B_GENERAL = '330000000000000003';
const B_LOG = '330000000000000004';
const OPERATOR_LOG = '330000000000000005';
const CHANNEL_POST = 'POST /channels/:channelId/messages';

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
});

async function start(env: Record<string, string> = {}) {
  fake = await FakeDiscord.start({
    // Thirty requests at once on a loaded machine: the 3 s answer deadline is not what is tested.
    ackDeadlineMs: false,
    guilds: [
      {
        id: GUILD_A,
        channels: [
          { id: A_GENERAL, name: 'general' },
          { id: A_LOG, name: 'mod-log' },
          { id: OPERATOR_LOG, name: 'operator-log' },
        ],
        members: [{ id: ASKER, username: 'asker' }],
      },
      {
        id: GUILD_B,
        channels: [
          { id: B_GENERAL, name: 'general' },
          { id: B_LOG, name: 'mod-log' },
        ],
        members: [{ id: ASKER, username: 'asker' }],
      },
    ],
  });
  finished = [];
  logLines = [];
  bot = await startDiscordBot(fake, api, {
    logLines,
    env: {
      NANO_BANANA_BLOCKED_WORDS: 'forbidden',
      NANO_BANANA_MAX_QUEUED_PER_USER: '100',
      NANO_BANANA_MAX_JOBS_PER_USER: '8',
      ...env,
    },
  });
  bot.service.engine.on('finished', (job) => finished.push(job));
  await fake.ready();
  await bot.service.engine.settings.saveServer('discord', GUILD_A, { auditChannelId: A_LOG });
  await bot.service.engine.settings.saveServer('discord', GUILD_B, { auditChannelId: B_LOG });
}

function imagine(
  prompt: string,
  where: { guildId?: string; channelId?: string; private?: boolean } = {},
) {
  return fake.sendSlashCommand({
    name: 'imagine',
    userId: ASKER,
    guildId: where.guildId ?? GUILD_A,
    channelId: where.channelId ?? A_GENERAL,
    options: { prompt, ...(where.private ? { private: true } : {}) },
  });
}

const jobDone = (prompt: string) =>
  fake.waitFor(() => finished.find((job) => job.prompt === prompt), {
    timeoutMs: 30_000,
    description: `the job “${prompt}” to finish`,
  });

/** The posts that reached a channel, as Discord answered them. */
function postsTo(channelId: string): RecordedRestCall[] {
  return fake.calls.filter(
    (call) =>
      call.route === CHANNEL_POST &&
      call.path === `/channels/${channelId}/messages` &&
      call.status < 300,
  );
}

/** Every line the bot posted in a channel, oldest first. */
function linesIn(channelId: string): string[] {
  return fake
    .messages(channelId)
    .filter((message) => message.author.id === fake.botUserId)
    .flatMap((message) => message.content.split('\n'));
}

function lineWaiting(channelId: string, predicate: (line: string) => boolean, what: string) {
  return fake.waitFor(() => linesIn(channelId).find(predicate), {
    timeoutMs: 30_000,
    description: what,
  });
}

/** The most posts within any `windowMs`, by the fake's arrival times. */
function mostWithin(calls: readonly RecordedRestCall[], windowMs: number): number {
  let most = 0;
  for (const call of calls) {
    const inWindow = calls.filter((other) => other.at >= call.at && other.at < call.at + windowMs);
    most = Math.max(most, inWindow.length);
  }
  return most;
}

describe('the moderation log on Discord', () => {
  it('logs an accepted job, then its result’s link, a failure, a private job and a blocked word, pinging nobody', async () => {
    await start();
    imagine('a lighthouse at dusk <@310000000000000009> @everyone');
    const job = await jobDone('a lighthouse at dusk <@310000000000000009> @everyone');
    const accepted = await lineWaiting(
      A_LOG,
      (line) => line.includes(job.id) && line.startsWith('📝'),
      'the accepted line',
    );
    expect(accepted).toContain(`<@${ASKER}> asked in <#${A_GENERAL}>`);
    expect(accepted).toContain('`a lighthouse at dusk <@310000000000000009> @everyone`');
    const resultMessage = (job.delivery as { messages: { messageId: string }[] }).messages[0];
    const result = await lineWaiting(
      A_LOG,
      (line) => line.includes(job.id) && line.startsWith('✅'),
      'the result line',
    );
    expect(result).toContain(
      `https://discord.com/channels/${GUILD_A}/${A_GENERAL}/${resultMessage?.messageId}`,
    );

    imagine('a storm mock:fail');
    const failed = await jobDone('a storm mock:fail');
    const failure = await lineWaiting(
      A_LOG,
      (line) => line.includes(failed.id) && line.startsWith('❌'),
      'the failure line',
    );
    expect(failure).toContain(`(${failed.error?.code})`);

    imagine('a secret garden', { private: true });
    const secret = await jobDone('a secret garden');
    expect(secret.state).toBe('done');
    const privateLine = await lineWaiting(
      A_LOG,
      (line) => line.includes(secret.id) && line.startsWith('📝'),
      'the private job’s line',
    );
    expect(privateLine).toContain('(private)');
    const privateResult = await lineWaiting(
      A_LOG,
      (line) => line.includes(secret.id) && line.startsWith('✅'),
      'the private job’s result line',
    );
    expect(privateResult).toContain(`<${secret.result?.images[0]?.url}>`);

    const refused = imagine('a forbidden thing');
    await fake.waitFor(() => fake.interactionResponses(refused.id).callbacks[0], {
      description: 'the refusal',
    });
    const refusal = await lineWaiting(A_LOG, (line) => line.startsWith('🚫'), 'the refusal line');
    expect(refusal).toBe(
      `🚫 <@${ASKER}> was refused in <#${A_GENERAL}>: blocked word “forbidden”: \`a forbidden thing\``,
    );

    // Told once, though the request is checked before it is acknowledged and again as it is made.
    expect(linesIn(A_LOG).filter((line) => line.startsWith('🚫'))).toHaveLength(1);
    // Lines of server A stay out of server B's log; no operator channel was set.
    expect(linesIn(B_LOG)).toEqual([]);
    expect(linesIn(OPERATOR_LOG)).toEqual([]);
    // Nobody was pinged by the log: no mention parsed, whatever the lines hold.
    const posts = postsTo(A_LOG);
    expect(posts.length).toBeGreaterThan(0);
    for (const post of posts) {
      expect((post.json as { allowed_mentions?: unknown }).allowed_mentions).toEqual({ parse: [] });
      const answered = post.response as {
        mentions: unknown[];
        mention_roles: unknown[];
        mention_everyone: boolean;
      };
      expect([answered.mentions, answered.mention_roles, answered.mention_everyone]).toEqual([
        [],
        [],
        false,
      ]);
    }
  });

  it('gives the operator’s channel the lines of every server', async () => {
    await start({ DISCORD_AUDIT_CHANNEL_ID: OPERATOR_LOG });
    imagine('a red kite over server A');
    imagine('a blue kite over server B', { guildId: GUILD_B, channelId: B_GENERAL });
    const first = await jobDone('a red kite over server A');
    const second = await jobDone('a blue kite over server B');
    for (const job of [first, second]) {
      await lineWaiting(OPERATOR_LOG, (line) => line.startsWith(`✅ \`${job.id}\``), 'a result');
    }
    const operator = linesIn(OPERATOR_LOG);
    expect(operator.filter((line) => line.includes(first.id))).toHaveLength(2);
    expect(operator.filter((line) => line.includes(second.id))).toHaveLength(2);
    // Each server's own log has its own lines only.
    await lineWaiting(B_LOG, (line) => line.includes(second.id) && line.startsWith('✅'), 'B');
    expect(linesIn(B_LOG).some((line) => line.includes(first.id))).toBe(false);
    expect(linesIn(A_LOG).some((line) => line.includes(second.id))).toBe(false);
  });

  it('posts 30 jobs’ lines within 5 messages per 5 s, every line arriving', async () => {
    await start();
    const prompts = Array.from(
      { length: 30 },
      (_, index) => `job ${index} of the burst, ${'a long and detailed description'.repeat(4)}`,
    );
    for (const prompt of prompts) imagine(prompt);
    const jobs = await Promise.all(prompts.map((prompt) => jobDone(prompt)));
    await fake.waitFor(
      () => {
        const lines = linesIn(A_LOG);
        return jobs.every(
          (job) =>
            lines.some((line) => line.startsWith(`📝 \`${job.id}\``)) &&
            lines.some((line) => line.startsWith(`✅ \`${job.id}\``)),
        );
      },
      { timeoutMs: 60_000, description: 'every line of the 30 jobs' },
    );
    expect(linesIn(A_LOG)).toHaveLength(60);
    const posts = postsTo(A_LOG);
    // More than one window's worth: the pace was needed, and kept.
    expect(posts.length).toBeGreaterThan(5);
    expect(mostWithin(posts, 5000)).toBeLessThanOrEqual(5);
    for (const post of posts) {
      expect((post.json as { content: string }).content.length).toBeLessThanOrEqual(2000);
    }
  }, 120_000);

  it('a hanging audit channel does not delay the jobs’ results', async () => {
    await start();
    const release = fake.holdNext(CHANNEL_POST);
    const prompts = ['first while the log hangs', 'second while the log hangs', 'third'];
    imagine(prompts[0] ?? '');
    await fake.waitFor(() => fake.heldCalls.find((call) => call.path.includes(A_LOG)), {
      timeoutMs: 30_000,
      description: 'the audit post to hang',
    });
    for (const prompt of prompts.slice(1)) imagine(prompt);
    const jobs = await Promise.all(prompts.map((prompt) => jobDone(prompt)));
    expect(jobs.map((job) => job.state)).toEqual(['done', 'done', 'done']);
    // Every result was delivered while the audit post was still held.
    expect(fake.heldCalls.some((call) => call.path.includes(A_LOG))).toBe(true);
    release();
    await fake.waitFor(
      () => jobs.every((job) => linesIn(A_LOG).some((line) => line.startsWith(`✅ \`${job.id}\``))),
      { timeoutMs: 60_000, description: 'the lines, once the channel answers' },
    );
  });

  it('posts after a restart the lines a stop left in the store', async () => {
    await start();
    const hold = fake.holdNext(CHANNEL_POST);
    imagine('logged across a restart');
    const job = await jobDone('logged across a restart');
    await fake.waitFor(() => fake.heldCalls.find((call) => call.path.includes(A_LOG)), {
      description: 'the audit post to hang',
    });
    if (bot === undefined) throw new Error('no bot');
    const dataDir = bot.dataDir;
    await bot.stop();
    expect(linesIn(A_LOG)).toEqual([]);
    bot = await startDiscordBot(fake, api, {
      dataDir,
      logLines,
      env: { NANO_BANANA_BLOCKED_WORDS: 'forbidden' },
    });
    for (const mark of ['📝', '✅']) {
      await lineWaiting(A_LOG, (line) => line.startsWith(`${mark} \`${job.id}\``), mark);
    }
    hold();
  });

  it('drops the lines of an audit channel the bot may not post in, with one warning', async () => {
    await start({ DISCORD_AUDIT_CHANNEL_ID: OPERATOR_LOG });
    fake.denyPermission(A_LOG, 'SEND_MESSAGES');
    imagine('one in a closed log');
    imagine('two in a closed log');
    const jobs = await Promise.all([
      jobDone('one in a closed log'),
      jobDone('two in a closed log'),
    ]);
    // The operator's log has them all; the closed channel was tried once.
    await fake.waitFor(
      () =>
        jobs.every((job) =>
          linesIn(OPERATOR_LOG).some((line) => line.startsWith(`✅ \`${job.id}\``)),
        ),
      { timeoutMs: 30_000, description: 'the operator’s lines' },
    );
    const warned = () =>
      logLines.filter((line) => line.includes('may not post in this audit channel'));
    await fake.waitFor(() => warned().length > 0, { description: 'the warning' });
    const refusedPosts = fake.calls.filter(
      (call) => call.route === CHANNEL_POST && call.path === `/channels/${A_LOG}/messages`,
    );
    expect(refusedPosts).toHaveLength(1);
    expect(refusedPosts[0]?.status).toBe(403);
    expect(warned()).toHaveLength(1);
    expect(warned()[0]).toContain(A_LOG);
    expect(linesIn(A_LOG)).toEqual([]);
  });
});
