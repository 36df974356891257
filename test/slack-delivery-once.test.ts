import { afterEach, describe, expect, it } from 'vitest';
import { type BotProcess, startBot } from '../bench/support/bot-process.js';
import type { ResultImageFile } from '../src/core/index.js';
import type { Job } from '../src/core/jobs/job.js';
import type { JobStore } from '../src/core/jobs/store.js';
import { openPostgresStore } from '../src/core/jobs/stores/postgres.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { type FakeSlack, startFakeSlack } from './fakes/slack/index.js';
import { type FreshDatabase, freshDatabase } from './helpers/postgres.js';
import { pngOf, type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

/**
 * A Slack result is posted once, even when the process posting it never learns that Slack took
 * the upload: Slack has no idempotency key, so the bot saves a mark in the job before it uploads,
 * and whoever delivers the job again (a later attempt, or another process after a death) looks in
 * the thread for the result's files and buttons before posting them.
 */

const ALICE = 'U0ALICE001';
const GENERAL = 'C0GENERAL1';
const API_TOKEN = 'slack-once-api-token';

let harness: SlackHarness | undefined;
let database: FreshDatabase | undefined;
let store: JobStore | undefined;
let fake: FakeSlack | undefined;
let api: MockApi | undefined;
const bots: BotProcess[] = [];

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  await Promise.allSettled(bots.splice(0).map((bot) => bot.stop()));
  await store?.close();
  store = undefined;
  await fake?.close();
  fake = undefined;
  await api?.close();
  api = undefined;
  await database?.drop();
  database = undefined;
});

/** What of a job's result the thread shows: the uploads of its files and its buttons messages. */
function resultPosts(slack: FakeSlack, job: Job) {
  const { channel, threadTs } = job.destination as { channel: string; threadTs: string };
  const thread = slack.thread(channel, threadTs);
  const prefix = `nano-banana-${job.id}-`;
  return {
    uploads: thread.filter((message) =>
      (message.files ?? []).some((file) => file.name.startsWith(prefix)),
    ),
    buttons: thread.filter((message) => JSON.stringify(message.blocks ?? []).includes(job.id)),
    completes: slack
      .callsTo('files.completeUploadExternal')
      .filter((call) => JSON.stringify(call.response ?? {}).includes(prefix)),
    files: slack.files().filter((file) => file.name.startsWith(prefix)),
  };
}

describe('a Slack result posted once', () => {
  it('is not uploaded again when Slack took the upload but its answer was lost', async () => {
    harness = await startSlackHarness({
      mode: 'http',
      fake: {
        users: [{ id: ALICE, name: 'alice', locale: 'en-US' }],
        channels: [{ id: GENERAL, name: 'general' }],
      },
    });
    const slack = harness.fake;
    // Slack shares the files in the thread, and the connection drops before the bot hears so:
    // the delivery fails as a network error, which is retried.
    slack.failNext('files.completeUploadExternal', { afterApplying: 'drop' });
    await slack.deliverSlashCommand({
      command: '/imagine',
      text: 'a lighthouse at dusk',
      userId: ALICE,
      channelId: GENERAL,
    });
    const job = await harness.waitForJob(
      (candidate) => candidate.prompt === 'a lighthouse at dusk',
      20_000,
    );
    expect(job.state).toBe('done');
    const posts = resultPosts(slack, job);
    expect(posts.completes).toHaveLength(1);
    expect(posts.uploads).toHaveLength(1);
    expect(posts.files).toHaveLength(1);
    expect(posts.buttons).toHaveLength(1);
    // The record points at the one upload (the Delete button removes it).
    const delivered = job.delivery as { files: { id: string }[]; buttonsTs?: string };
    expect(delivered.files.map((file) => file.id)).toEqual(posts.files.map((file) => file.id));
    expect(delivered.buttonsTs).toBe(posts.buttons[0]?.ts);
  });

  it('is finished from what was saved: neither the saved files nor the buttons found are posted again', async () => {
    harness = await startSlackHarness({
      mode: 'http',
      fake: {
        users: [{ id: ALICE, name: 'alice', locale: 'en-US' }],
        channels: [{ id: GENERAL, name: 'general' }],
      },
    });
    const slack = harness.fake;
    await slack.deliverSlashCommand({
      command: '/imagine',
      text: 'a tin robot',
      userId: ALICE,
      channelId: GENERAL,
    });
    const done = await harness.waitForJob(
      (candidate) => candidate.prompt === 'a tin robot',
      20_000,
    );
    const record = done.delivery as { files: { id: string; url: string; name: string }[] };
    const slackAdapter = harness.service.adapters.find((adapter) => adapter.name === 'slack');
    if (slackAdapter === undefined) throw new Error('no Slack adapter');
    const image: ResultImageFile = {
      bytes: await pngOf('#ffcc00'),
      mime: 'image/png',
      width: 16,
      height: 16,
      index: 0,
      sourceUrl: '',
    };
    const uploadsBefore = slack.callsTo('files.completeUploadExternal').length;
    const postsBefore = slack.callsTo('chat.postMessage').length;
    // A process died after saving the upload (and posting the buttons), before the job was done:
    // the next one starts from the saved files, and finds the buttons in the thread.
    const again = await slackAdapter.platform.deliver(
      {
        ...done,
        state: 'delivering',
        delivery: { startedAt: done.startedAt ?? done.createdAt, files: record.files },
      },
      [image],
      new AbortController().signal,
    );
    expect(slack.callsTo('files.completeUploadExternal')).toHaveLength(uploadsBefore);
    expect(slack.callsTo('chat.postMessage')).toHaveLength(postsBefore);
    expect(again).toEqual(done.delivery);
    const posts = resultPosts(slack, done);
    expect(posts.uploads).toHaveLength(1);
    expect(posts.buttons).toHaveLength(1);
  });

  it('is not uploaded again by the process that takes the job over after a SIGKILL', async () => {
    database = await freshDatabase();
    fake = await startFakeSlack({
      users: [{ id: ALICE, name: 'alice', locale: 'en-US' }],
      channels: [{ id: GENERAL, name: 'general' }],
    });
    const slack = fake;
    api = await startMockApi({ token: API_TOKEN, delayMs: 100 });
    const env = {
      ACEDATA_API_TOKEN: API_TOKEN,
      ACEDATA_BASE_URL: api.url,
      DATABASE_URL: database.url,
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_API_URL: slack.apiUrl,
      SLACK_APP_TOKEN: slack.appToken,
      // The dead process's job is taken over once its lease runs out: keep that short.
      NANO_BANANA_LEASE: '3s',
      NANO_BANANA_POLL_INTERVAL_MS: '200',
    };
    const first = await startBot({ env, readyTimeoutMs: 60_000 });
    bots.push(first);
    await slack.socketConnected({ count: 1, timeoutMs: 20_000 });

    // Slack takes the upload and shares the files; the answer never comes, and the process dies.
    slack.failNext('files.completeUploadExternal', { afterApplying: 'hold' });
    await slack.deliverSlashCommand(
      { command: '/imagine', text: 'a paper lantern', userId: ALICE, channelId: GENERAL },
      { timeoutMs: 10_000 },
    );
    await slack.waitFor(
      () =>
        slack.callsTo('files.completeUploadExternal').some((call) => call.response !== undefined),
      { timeoutMs: 30_000 },
    );
    process.kill(first.pid, 'SIGKILL');
    await first.stop();

    store = await openPostgresStore({ url: database.url });
    const [held] = await store.listByState(['delivering']);
    expect(held?.prompt).toBe('a paper lantern');

    const second = await startBot({ env, readyTimeoutMs: 60_000 });
    bots.push(second);
    const openStore = store;
    const heldId = held?.id ?? '';
    const deadline = Date.now() + 30_000;
    let job = await openStore.get(heldId);
    while (job?.state !== 'done' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      job = await openStore.get(heldId);
    }
    expect(job?.state).toBe('done');
    if (job === undefined) return;
    const posts = resultPosts(slack, job);
    expect(posts.completes).toHaveLength(1);
    expect(posts.uploads).toHaveLength(1);
    expect(posts.files).toHaveLength(1);
    expect(posts.buttons).toHaveLength(1);
    const delivered = job.delivery as { files: { id: string }[] };
    expect(delivered.files.map((file) => file.id)).toEqual(posts.files.map((file) => file.id));
    // The status message says it is done.
    const { channel, statusTs } = job.destination as { channel: string; statusTs: string };
    const status = slack.messages(channel).find((message) => message.ts === statusTs);
    expect(JSON.stringify(status?.blocks ?? [])).toContain('✅');
  }, 120_000);
});
