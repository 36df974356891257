import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError, type Job, NanoBananaError, translate } from '../src/core/index.js';
import {
  type MockApi,
  type MockFailure,
  type RecordedCall,
  startMockApi,
} from '../src/mock-api/index.js';
import type { Delivery, FakeSlackMessage } from './fakes/slack/index.js';
import { type BothHarness, startBothHarness } from './helpers/both-harness.js';

/**
 * The load test: 500 requests from 50 users through both adapters of one service at once, while
 * the API answers 429 to one create in five and fails one in twenty (500 `api_error`, which a
 * create must not retry: the task may exist). Every request ends delivered or explained by its
 * cause, none twice, and the service still answers afterwards. Counts and waits are bounded; no
 * assertion is about time.
 */

const API_TOKEN = 'load-test-api-token';
const USERS_PER_PLATFORM = 25;
const REQUESTS_PER_USER = 10;
const TOTAL = 2 * USERS_PER_PLATFORM * REQUESTS_PER_USER;
const SLACK_CHANNEL = 'C0LOADCHN1';

/** Create index → fault: a steady, reproducible pattern, whatever the interleaving. */
function loadFaults(createIndex: number): MockFailure | undefined {
  // `Retry-After: 0` keeps the engine's pause after a 429 at its floor (250 ms), not 5 s.
  if (createIndex % 5 === 4) return { status: 429, retryAfter: 0 };
  if (createIndex % 20 === 2) return { status: 500, code: 'api_error' };
  return undefined;
}

const slackUser = (index: number) => `U0LOAD${String(index).padStart(4, '0')}`;
const discordUser = (index: number) => `71000000000000${String(index).padStart(4, '0')}`;

let api: MockApi;
let harness: BothHarness;
let resultPng: Buffer;
const downloads: string[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 30, createFaults: loadFaults });
  resultPng = await sharp({
    create: { width: 64, height: 64, channels: 3, background: '#ffd500' },
  })
    .png()
    .toBuffer();
  const users = Array.from({ length: USERS_PER_PLATFORM }, (_, index) => ({
    id: slackUser(index),
    name: `load${index}`,
    locale: 'en-US',
  }));
  harness = await startBothHarness({
    api,
    apiToken: API_TOKEN,
    // Fake, bot and the 500 senders share one event loop here: 250 interactions sent at once
    // wait for it (median 3.5 s on two busy cores), which says nothing of the bot's own speed.
    // The 3 s deadline is checked by every other Discord test.
    discord: { ackDeadlineMs: false },
    slack: { users, channels: [{ id: SLACK_CHANNEL, name: 'load' }] },
    // More slots than the default 8, so that 500 jobs fit the time budget on two cores; the
    // per-user limit and the fair queue stay as they ship.
    env: { NANO_BANANA_MAX_CONCURRENT_JOBS: '24' },
    // The mock draws a 1024×1024 PNG per task (about 170 ms of CPU): 500 of them would measure
    // the mock, not the bot. Each result is fetched from the mock's own link, as a small PNG.
    download: async (url) => {
      downloads.push(url);
      if (!url.startsWith(`${api.url}/images/`)) throw new Error(`unexpected result URL ${url}`);
      return { bytes: resultPng, mime: 'image/png', width: 64, height: 64 };
    },
  });
}, 60_000);

afterAll(async () => {
  await harness?.close();
  await api?.close();
});

/** Polls until `predicate` gives a value; bounded. */
async function until<T>(
  predicate: () => T | undefined | false,
  timeoutMs: number,
  description: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${description}`);
    await sleep(25);
  }
}

function createsByPrompt(): Map<string, RecordedCall[]> {
  const byPrompt = new Map<string, RecordedCall[]>();
  for (const call of api.creates()) {
    const prompt = (call.body as { prompt?: unknown } | undefined)?.prompt;
    if (typeof prompt !== 'string') continue;
    byPrompt.set(prompt, [...(byPrompt.get(prompt) ?? []), call]);
  }
  return byPrompt;
}

/** The sentence a user must get for an upstream failure: the catalogue's, with the trace id. */
function upstreamText(job: Job): string {
  return describeError(
    new NanoBananaError('upstream_error', 'load test', { traceId: job.error?.traceId }),
    'en',
  );
}

interface SlackDestination {
  readonly channel: string;
  readonly threadTs: string;
  readonly statusTs: string;
}

describe('500 requests through Discord and Slack at once, with a flaky API', () => {
  it('delivers or explains every one, none twice, and keeps answering', async () => {
    const { discord, slack, service } = harness;
    const startedAt = Date.now();
    const discordRequests = new Map<string, { interactionId: string; userId: string }>();
    const slackRequests = new Map<string, string>();
    const answered: Delivery[] = [];
    // Round-robin over users and platforms, as traffic from many people interleaves: a round of
    // 50 requests at once, the next as soon as Slack has its acks, so the queue fills in seconds.
    // (All 500 in one instant: over a third of the 250 Slack acks came just past 3 s, at
    // 3.0–3.1 s, in one run, since the fakes, the 500 senders and the bot share one event loop
    // on two cores; the ack benchmark measures the bot in a process of its own.)
    for (let round = 0; round < REQUESTS_PER_USER; round++) {
      const acks: Promise<Delivery>[] = [];
      for (let user = 0; user < USERS_PER_PLATFORM; user++) {
        const discordPrompt = `load discord u${user} r${round}`;
        const interaction = discord.sendSlashCommand({
          name: 'imagine',
          userId: discordUser(user),
          options: { prompt: discordPrompt },
        });
        discordRequests.set(discordPrompt, {
          interactionId: interaction.id,
          userId: discordUser(user),
        });
        const slackPrompt = `load slack u${user} r${round}`;
        slackRequests.set(slackPrompt, slackUser(user));
        acks.push(
          slack.deliverSlashCommand({
            command: '/imagine',
            text: slackPrompt,
            userId: slackUser(user),
            channelId: SLACK_CHANNEL,
          }),
        );
      }
      answered.push(...(await Promise.all(acks)));
    }
    expect(answered.map((ack) => ack.status)).toEqual(answered.map(() => 200));
    // Each within Slack's 3 s, under the load too: a later ack shows the user an error.
    expect(slack.lateAcks).toEqual([]);
    expect(answered.filter((ack) => ack.late)).toEqual([]);

    await until(() => harness.finished.length >= TOTAL, 80_000, `${TOTAL} finished jobs`);
    const settledAt = Date.now();

    // One job per request, each finished once, and each either delivered or failed.
    const jobsByPrompt = new Map<string, Job[]>();
    for (const job of harness.finished) {
      jobsByPrompt.set(job.prompt, [...(jobsByPrompt.get(job.prompt) ?? []), job]);
    }
    expect(harness.finished).toHaveLength(TOTAL);
    expect(jobsByPrompt.size).toBe(TOTAL);
    const creates = createsByPrompt();
    const outcomes = { delivered: 0, explained: 0 };
    for (const [prompt, jobs] of jobsByPrompt) {
      expect(jobs, prompt).toHaveLength(1);
      const job = jobs[0] as Job;
      const statuses = (creates.get(prompt) ?? []).map((call) => call.status);
      // Refusals (429) first, then one answer: 200 made the task, 500 ended the request.
      expect(
        statuses.slice(0, -1).every((status) => status === 429),
        prompt,
      ).toBe(true);
      if (job.state === 'done') {
        outcomes.delivered += 1;
        expect(statuses.at(-1), prompt).toBe(200);
      } else {
        outcomes.explained += 1;
        expect(job, prompt).toMatchObject({ state: 'failed', error: { code: 'upstream_error' } });
        expect(statuses.at(-1), prompt).toBe(500);
        expect(job.taskId, prompt).toBeUndefined();
      }
    }
    const allCreates = api.creates();
    const count = (status: number) => allCreates.filter((call) => call.status === status).length;
    // No task was created twice, and every create the API saw belongs to one of the requests.
    expect(count(200)).toBe(outcomes.delivered);
    expect(count(500)).toBe(outcomes.explained);
    expect(count(200) + count(429) + count(500)).toBe(allCreates.length);
    expect(api.tasks.size).toBe(outcomes.delivered);
    // The fault plan bit exactly as planned: one create in five refused, one in twenty failed.
    expect(count(429)).toBe(Math.floor(allCreates.length / 5));
    expect(count(500)).toBe(Math.floor((allCreates.length + 17) / 20));
    expect(outcomes.delivered).toBeGreaterThan(0);

    // Discord: each interaction shows its own images, or its requester the upstream failure.
    const discordMessages = discord.messages(discord.channelId);
    for (const [prompt, { interactionId, userId }] of discordRequests) {
      const job = jobsByPrompt.get(prompt)?.[0] as Job;
      expect(job.requesterId, prompt).toBe(userId);
      const responses = discord.interactionResponses(interactionId);
      expect(
        responses.callbacks.map((callback) => callback.type),
        prompt,
      ).toEqual([5]);
      if (job.state === 'done') {
        const original = responses.original;
        expect(original?.channel_id, prompt).toBe(discord.channelId);
        expect(original?.attachments, prompt).toHaveLength(1);
        expect(original?.content, prompt).toContain(prompt);
        expect(original?.content, prompt).toContain(`<@${userId}>`);
      } else {
        const text = `<@${userId}> ${upstreamText(job)}`;
        await discord.waitFor(
          () => discord.interactionResponses(interactionId).original?.content === text,
          { timeoutMs: 10_000, description: `the failure notice for ${prompt}` },
        );
        expect(text).toContain(translate('en', 'error.upstream_error'));
        expect(responses.original?.attachments ?? [], prompt).toEqual([]);
      }
      expect(responses.followups.filter((message) => message.attachments.length > 0)).toEqual([]);
    }
    const discordDone = [...discordRequests.keys()].filter(
      (prompt) => jobsByPrompt.get(prompt)?.[0]?.state === 'done',
    ).length;
    // Nothing posted twice: as many messages with images as delivered jobs.
    expect(discordMessages.filter((message) => message.attachments.length > 0)).toHaveLength(
      discordDone,
    );

    // Slack: each job's thread holds its image and buttons, or its requester's failure notice.
    const botFiles = slack.files().filter((file) => file.user === slack.botUserId);
    let slackDone = 0;
    for (const [prompt, userId] of slackRequests) {
      const job = jobsByPrompt.get(prompt)?.[0] as Job;
      expect(job.requesterId, prompt).toBe(userId);
      const destination = job.destination as SlackDestination;
      expect(destination.channel).toBe(SLACK_CHANNEL);
      const thread = () => slack.thread(SLACK_CHANNEL, destination.threadTs);
      const files = botFiles.filter((file) => file.name.includes(job.id));
      const status = () =>
        slack.messages(SLACK_CHANNEL).find((message) => message.ts === destination.statusTs);
      if (job.state === 'done') {
        expect(JSON.stringify(status()?.blocks ?? []), prompt).toContain('✅');
        slackDone += 1;
        expect(files, prompt).toHaveLength(1);
        expect(files[0]?.threadTs, prompt).toBe(destination.threadTs);
        const buttons = thread().filter((message) =>
          JSON.stringify(message.blocks ?? []).includes(`"value":"${job.id}"`),
        );
        expect(buttons, prompt).toHaveLength(1);
      } else {
        const text = `<@${userId}> ${upstreamText(job)}`;
        const notices = await slack.waitFor(
          () => {
            const found = thread().filter(
              (message: FakeSlackMessage) =>
                message.user === slack.botUserId && message.text === text,
            );
            return found.length > 0 ? found : undefined;
          },
          { timeoutMs: 10_000 },
        );
        expect(notices, prompt).toHaveLength(1);
        await slack.waitFor(() => status()?.text.includes(`❌ ${upstreamText(job)}`), {
          timeoutMs: 10_000,
        });
        expect(files, prompt).toEqual([]);
      }
    }
    expect(botFiles).toHaveLength(slackDone);
    // Each delivered job downloaded its one image once.
    expect(downloads).toHaveLength(outcomes.delivered);
    expect(new Set(downloads).size).toBe(outcomes.delivered);

    // Progress edits stay in proportion to the requests, whatever the length of the line: telling
    // every waiting job its place at every start would be hundreds of edits per request.
    const slackEdits = slack.callsTo('chat.update').length;
    const discordEdits = discord.calls.filter((call) => call.route.startsWith('PATCH ')).length;
    expect(slackEdits).toBeLessThan(20 * slackRequests.size);
    expect(discordEdits).toBeLessThan(20 * discordRequests.size);

    // Still up and answering, on both platforms.
    const health = await fetch(`${service.http.url}/healthz`);
    expect(health.status).toBe(200);
    const afterDiscord = discord.sendSlashCommand({
      name: 'imagine',
      userId: discordUser(0),
      options: { prompt: 'after the load, discord' },
    });
    await slack.deliverSlashCommand({
      command: '/imagine',
      text: 'after the load, slack',
      userId: slackUser(0),
      channelId: SLACK_CHANNEL,
    });
    const after = await until(
      () => {
        const done = harness.finished.filter((job) => job.prompt.startsWith('after the load'));
        return done.length === 2 ? done : undefined;
      },
      20_000,
      'the requests after the load',
    );
    for (const job of after) {
      // The fault plan still runs: a request may meet a 500 here too, and must then say so.
      if (job.state === 'done') continue;
      expect(job.error?.code).toBe('upstream_error');
    }
    const afterJob = after.find((job) => job.platform === 'discord') as Job;
    await discord.waitFor(
      () => {
        const original = discord.interactionResponses(afterDiscord.id).original;
        return afterJob.state === 'done'
          ? original?.attachments.length === 1
          : original?.content === `<@${afterJob.requesterId}> ${upstreamText(afterJob)}`;
      },
      { timeoutMs: 10_000, description: 'the answer after the load' },
    );

    const refusedCreates = harness.logs.filter((line) =>
      line.includes('Create refused; the job waits for another turn'),
    ).length;
    console.log(
      [
        `load: ${TOTAL} requests (${discordRequests.size} Discord, ${slackRequests.size} Slack) ` +
          `from ${2 * USERS_PER_PLATFORM} users in ${((settledAt - startedAt) / 1000).toFixed(1)} s`,
        `  delivered ${outcomes.delivered}, explained ${outcomes.explained} (upstream_error)`,
        `  creates ${allCreates.length}: ${count(200)} × 200, ${count(429)} × 429 ` +
          `(${refusedCreates} put back in line by the engine), ${count(500)} × 500`,
        `  progress edits: ${slackEdits} on Slack, ${discordEdits} on Discord`,
      ].join('\n'),
    );
  }, 150_000);
});
