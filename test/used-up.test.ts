import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Job, translate } from '../src/core/index.js';
import { type MockApi, type RecordedCall, startMockApi } from '../src/mock-api/index.js';
import { type BothHarness, startBothHarness } from './helpers/both-harness.js';
import { API_TOKEN, createEngine, type EngineFixture, request } from './helpers/engine-fixture.js';

/**
 * The API answers `used_up` (the account's balance is spent): the engine must hold every create
 * for the pause, tell the people waiting, and go on by itself once the pause is over. Times come
 * from the mock API's own records of when each create arrived.
 */

const SLACK_USER = 'U0USEDUP01';
const SLACK_CHANNEL = 'C0USEDUP01';

let api: MockApi;

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
});
afterAll(async () => {
  await api.close();
});

const promptOf = (call: RecordedCall) => String((call.body as { prompt?: unknown }).prompt);
const createsFor = (prompt: string) => api.creates().filter((call) => promptOf(call) === prompt);

function onlyCreate(prompt: string): RecordedCall {
  const calls = createsFor(prompt);
  expect(calls, prompt).toHaveLength(1);
  return calls[0] as RecordedCall;
}

describe('used_up in the engine', () => {
  let fixture: EngineFixture | undefined;
  afterEach(async () => {
    await fixture?.close();
    fixture = undefined;
  });

  it('sends the next create no sooner than the pause after the used_up answer, then resumes alone', async () => {
    const pauseMs = 600;
    fixture = await createEngine(api, { limits: { maxConcurrentJobs: 1, usedUpPauseMs: pauseMs } });
    const { engine, adapter } = fixture;
    await engine.start();
    const broke = await engine.submit(request('engine broke mock:error=used_up'));
    const waiting = [
      await engine.submit(request('engine waits one', { requesterId: 'bob' })),
      await engine.submit(request('engine waits two', { requesterId: 'carol' })),
    ];
    await adapter.until(async () => (await engine.getJob(broke.job.id))?.state === 'failed');
    expect((await engine.getJob(broke.job.id))?.error?.code).toBe('balance_used_up');
    const usedUp = onlyCreate('engine broke mock:error=used_up');
    expect(usedUp.status).toBe(403);
    for (const { job } of waiting) {
      await adapter.until(() => adapter.eventsOf(job.id).some((event) => event.kind === 'paused'));
    }
    // Nothing new is submitted: the pause must end on its own timer.
    await adapter.until(
      async () =>
        (await Promise.all(waiting.map(({ job }) => engine.getJob(job.id)))).every(
          (job) => job?.state === 'done',
        ),
      10_000,
    );
    for (const prompt of ['engine waits one', 'engine waits two']) {
      const create = onlyCreate(prompt);
      expect(create.at - usedUp.at, prompt).toBeGreaterThanOrEqual(pauseMs);
    }
    expect(engine.stats.paused).toBe(false);
  });
});

describe('used_up through Discord and Slack', () => {
  let harness: BothHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    api.setDelay(50);
  });

  it('tells the waiting users on both platforms, holds their creates for the pause, then delivers', async () => {
    const pauseMs = 3000;
    harness = await startBothHarness({
      api,
      apiToken: API_TOKEN,
      slack: {
        users: [{ id: SLACK_USER, name: 'slackuser', locale: 'en-US' }],
        channels: [{ id: SLACK_CHANNEL, name: 'general' }],
      },
      env: {
        NANO_BANANA_MAX_CONCURRENT_JOBS: '1',
        // Longer than Discord's progress throttle (1.5 s), so the notice is not replaced by the
        // next progress edit before it is shown.
        NANO_BANANA_USED_UP_PAUSE: `${pauseMs / 1000}s`,
      },
    });
    const { discord, slack, service } = harness;
    const finishedJob = (prompt: string) =>
      harness?.finished.find((job: Job) => job.prompt === prompt);

    // One job holds the only slot while the others line up behind it.
    api.setDelay(60_000);
    discord.sendSlashCommand({
      name: 'imagine',
      userId: '720000000000000001',
      options: { prompt: 'holds the slot' },
    });
    await discord.waitFor(() => createsFor('holds the slot').length === 1 || undefined, {
      description: 'the first create',
    });
    api.setDelay(50);
    discord.sendSlashCommand({
      name: 'imagine',
      userId: '720000000000000002',
      options: { prompt: 'spends the last credit mock:error=used_up' },
    });
    await discord.waitFor(() => service.engine.stats.queued === 1 || undefined, {
      description: 'the used_up job in line',
    });
    const ack = await slack.deliverSlashCommand({
      command: '/imagine',
      text: 'waits on slack',
      userId: SLACK_USER,
      channelId: SLACK_CHANNEL,
    });
    expect(ack.status).toBe(200);
    await discord.waitFor(() => service.engine.stats.queued === 2 || undefined);
    const discordWaiting = discord.sendSlashCommand({
      name: 'imagine',
      userId: '720000000000000003',
      options: { prompt: 'waits on discord' },
    });
    await discord.waitFor(() => service.engine.stats.queued === 3 || undefined, {
      description: 'three jobs in line',
    });

    const holder = [...api.tasks.values()].find((task) => task.request.prompt === 'holds the slot');
    api.finishTask(holder?.id ?? '');
    const broke = await discord.waitFor(
      () => finishedJob('spends the last credit mock:error=used_up'),
      { timeoutMs: 15_000, description: 'the used_up job to end' },
    );
    expect(broke).toMatchObject({ state: 'failed', error: { code: 'balance_used_up' } });
    const usedUp = onlyCreate('spends the last credit mock:error=used_up');
    expect(usedUp.status).toBe(403);

    // The pause ends by itself: both waiting jobs are delivered.
    const slackJob = await slack.waitFor(() => finishedJob('waits on slack'), {
      timeoutMs: pauseMs + 15_000,
    });
    const discordJob = await discord.waitFor(() => finishedJob('waits on discord'), {
      timeoutMs: 15_000,
      description: 'the Discord job after the pause',
    });
    expect(slackJob.state).toBe('done');
    expect(discordJob.state).toBe('done');
    for (const prompt of ['waits on slack', 'waits on discord']) {
      expect(onlyCreate(prompt).at - usedUp.at, prompt).toBeGreaterThanOrEqual(pauseMs);
    }

    // Each waiting user was shown the pause, in the message that tracks their request.
    const paused = translate('en', 'job.paused');
    const discordEdits = discord.calls.filter(
      (call) => call.method === 'PATCH' && call.path.includes(discordWaiting.token),
    );
    expect(
      discordEdits.some((call) => JSON.stringify(call.json).includes(paused)),
      'a Discord edit shows the pause',
    ).toBe(true);
    const statusTs = (slackJob.destination as { statusTs: string }).statusTs;
    const slackEdits = slack
      .callsTo('chat.update')
      .filter((call) => call.args.ts === statusTs && call.args.channel === SLACK_CHANNEL);
    expect(
      slackEdits.some((call) => JSON.stringify(call.args).includes(paused)),
      'a Slack status update shows the pause',
    ).toBe(true);
  });
});
