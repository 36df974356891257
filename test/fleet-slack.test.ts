import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type Job, loadConfig } from '../src/core/index.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { type Service, startService } from '../src/service/service.js';
import { createSlackAdapter } from '../src/slack/index.js';
import { type FakeSlack, type FakeSlackMessage, startFakeSlack } from './fakes/slack/index.js';
import { eventually } from './helpers/eventually.js';
import { keepIdle } from './helpers/idle-owners.js';
import { type FreshDatabase, freshDatabase } from './helpers/postgres.js';
import { pngOf } from './helpers/slack-harness.js';

/**
 * Issue 12 on Slack: two whole services (Bolt in HTTP mode, engine, PostgreSQL store, HTTP
 * server) in this test process over one database, against one fake Slack and one mock API. Slack
 * redelivers an event to another connection when an ack is late, and behind a load balancer any
 * process may receive any request: what one process started, the other must handle as its own.
 */

const API_TOKEN = 'slack-fleet-api-token';

interface SlackBot {
  readonly service: Service;
  readonly url: string;
  readonly finished: Job[];
  readonly logs: string[];
}

let database: FreshDatabase;
let fake: FakeSlack | undefined;
let api: MockApi | undefined;
const services: Service[] = [];
const clients: pg.Client[] = [];

beforeEach(async () => {
  database = await freshDatabase();
});

afterEach(async () => {
  await Promise.allSettled(services.splice(0).map((service) => service.stop()));
  await fake?.close();
  fake = undefined;
  await api?.close();
  api = undefined;
  await Promise.allSettled(clients.splice(0).map((client) => client.end()));
  await database.drop();
});

async function startBot(
  slack: FakeSlack,
  mockApi: MockApi,
  mode: 'http' | 'socket' = 'http',
): Promise<SlackBot> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'nb-slack-fleet-'));
  const env: Record<string, string> = {
    ACEDATA_API_TOKEN: API_TOKEN,
    ACEDATA_BASE_URL: mockApi.url,
    DATA_DIR: dataDir,
    DATABASE_URL: database.url,
    PORT: '0',
    NANO_BANANA_POLL_INTERVAL_MS: '100',
    NANO_BANANA_SHUTDOWN_GRACE: '1s',
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_API_URL: slack.apiUrl,
    ...(mode === 'socket'
      ? { SLACK_APP_TOKEN: slack.appToken }
      : { SLACK_SIGNING_SECRET: slack.signingSecret }),
  };
  const config = loadConfig(env, dataDir);
  const logs: string[] = [];
  const logger = createLogger({
    level: 'warn',
    secrets: config.secrets,
    destination: { write: (line: string) => void logs.push(line) },
  });
  const service = await startService({
    config,
    env,
    logger,
    host: '127.0.0.1',
    adapters: [createSlackAdapter({ retryConfig: { retries: 0 }, progressIntervalMs: 50 })],
    client: {
      createRetry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
      retrieveRetry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
    },
  });
  services.push(service);
  const finished: Job[] = [];
  service.engine.on('finished', (job) => finished.push(job));
  return { service, url: `${service.http.url}/slack/events`, finished, logs };
}

async function startPair() {
  fake = await startFakeSlack();
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
  const [a, b] = await Promise.all([startBot(fake, api), startBot(fake, api)]);
  return { slack: fake, mockApi: api, a, b };
}

/** Two processes in Socket Mode: A holds the first connection, B the second. */
async function startSocketPair() {
  const slack = await startFakeSlack();
  fake = slack;
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
  const a = await startBot(slack, api, 'socket');
  await slack.waitFor(() => slack.socketConnections() === 1 || undefined);
  const b = await startBot(slack, api, 'socket');
  await slack.waitFor(() => slack.socketConnections() === 2 || undefined);
  return { slack, mockApi: api, a, b };
}

const A_CONNECTION = 0;
const B_CONNECTION = 1;

async function sql(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  clients.push(client);
  return client;
}

/** Posts one signed body to an app's endpoint, as Slack does. */
async function post(slack: FakeSlack, url: string, body: string): Promise<number> {
  const signed = slack.signedRequest(body);
  const response = await fetch(url, { method: 'POST', headers: signed.headers, body: signed.body });
  await response.arrayBuffer();
  return response.status;
}

const createsWith = (mockApi: MockApi, prompt: string) =>
  mockApi.creates().filter((call) => (call.body as { prompt?: string }).prompt === prompt);

describe('Slack across processes', () => {
  it('runs an event delivered to both processes once', async () => {
    const { slack, mockApi, a, b } = await startPair();
    const channel = 'C0FAKECHN1';
    const mention = slack.userMessage({
      channel,
      user: 'U0FAKEUSR1',
      text: `<@${slack.botUserId}> a paper boat`,
    });
    // The same envelope (one event_id), to each process at once.
    const body = slack.eventBody(slack.appMentionEvent(channel, mention));
    expect(await Promise.all([post(slack, a.url, body), post(slack, b.url, body)])).toEqual([
      200, 200,
    ]);

    const done = await slack.waitFor(() => [...a.finished, ...b.finished].find(Boolean), {
      timeoutMs: 15_000,
    });
    expect(done.state).toBe('done');
    const client = await sql();
    expect((await client.query('SELECT id FROM jobs')).rows).toHaveLength(1);
    expect(createsWith(mockApi, 'a paper boat')).toHaveLength(1);
    const uploads = () =>
      slack.files().filter((file) => file.user === slack.botUserId && file.name.includes(done.id));
    await slack.waitFor(() => uploads().length > 0 || undefined);
    expect(uploads()).toHaveLength(1);
    // One status message in the thread: the other process's, if it posted one, was taken back.
    await slack.waitFor(
      () =>
        slack
          .thread(channel, mention.ts)
          .filter(
            (message) => message.user === slack.botUserId && message.text.includes('a paper boat'),
          ).length === 1 || undefined,
      { timeoutMs: 10_000 },
    );
    // One process took the event (the store's claim on it): one status message, none taken back.
    expect(slack.callsTo('chat.delete')).toHaveLength(0);
    expect([...a.finished, ...b.finished]).toHaveLength(1);
  });

  it('answers an event delivered to both processes once: one help text, one refusal', async () => {
    const { slack, mockApi, a, b } = await startPair();
    const channel = 'C0FAKECHN1';
    const user = 'U0FAKEUSR1';
    const ephemeralsTo = () =>
      slack.messages(channel).filter((message) => message.ephemeralTo === user);
    const both = async (text: string) => {
      const message = slack.userMessage({ channel, user, text: `<@${slack.botUserId}> ${text}` });
      const body = slack.eventBody(slack.appMentionEvent(channel, message));
      expect(await Promise.all([post(slack, a.url, body), post(slack, b.url, body)])).toEqual([
        200, 200,
      ]);
    };
    await both('--help');
    await slack.waitFor(() => ephemeralsTo().length === 1 || undefined, { timeoutMs: 10_000 });
    await both('a boat --count 9');
    await slack.waitFor(() => ephemeralsTo().length === 2 || undefined, { timeoutMs: 10_000 });
    // Both processes have answered whatever they were going to: no second copy came.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(ephemeralsTo()).toHaveLength(2);
    expect(mockApi.creates()).toHaveLength(0);
  });

  it('runs an event redelivered to the other Socket Mode connection once', async () => {
    const { slack, mockApi, a, b } = await startSocketPair();
    const channel = 'C0FAKECHN1';
    const mention = slack.userMessage({
      channel,
      user: 'U0FAKEUSR1',
      text: `<@${slack.botUserId}> a kite`,
    });
    // One event (one event_id): to A, then again to B, as Slack retries on another connection.
    const payload = slack.eventCallback(slack.appMentionEvent(channel, mention));
    await Promise.all([
      slack.sendEnvelope('events_api', payload, { connection: A_CONNECTION }),
      slack.sendEnvelope('events_api', payload, {
        connection: B_CONNECTION,
        retryAttempt: 1,
        retryReason: 'timeout',
      }),
    ]);
    const done = await slack.waitFor(() => [...a.finished, ...b.finished].find(Boolean), {
      timeoutMs: 15_000,
    });
    expect(done.state).toBe('done');
    const client = await sql();
    expect((await client.query('SELECT id FROM jobs')).rows).toHaveLength(1);
    expect(createsWith(mockApi, 'a kite')).toHaveLength(1);
    const uploads = () =>
      slack.files().filter((file) => file.user === slack.botUserId && file.name.includes(done.id));
    await slack.waitFor(() => uploads().length > 0 || undefined);
    expect(uploads()).toHaveLength(1);
    await slack.waitFor(
      () =>
        slack
          .thread(channel, mention.ts)
          .filter((message) => message.user === slack.botUserId && message.text.includes('a kite'))
          .length === 1 || undefined,
      { timeoutMs: 10_000 },
    );
    expect([...a.finished, ...b.finished]).toHaveLength(1);
  });

  it('cancels, through the other connection, a job whose file A is still fetching: nothing created', async () => {
    const { slack, mockApi, a, b } = await startSocketPair();
    const client = await sql();
    await keepIdle(client, [b.service.engine.owner]);
    const channel = 'C0FAKECHN1';
    const user = 'U0FAKEUSR1';
    const photo = slack.addFile({
      name: 'photo.png',
      mimetype: 'image/png',
      bytes: await pngOf('#22aa66'),
      userId: user,
    });
    const mention = slack.userMessage({
      channel,
      user,
      text: `<@${slack.botUserId}> make it winter`,
      files: [photo],
    });
    const release = slack.holdNextDownload();
    await slack.sendEnvelope(
      'events_api',
      slack.eventCallback(slack.appMentionEvent(channel, mention)),
      {
        connection: A_CONNECTION,
      },
    );
    await slack.waitFor(
      () => slack.downloads.some((download) => download.status === 0) || undefined,
      {
        timeoutMs: 10_000,
      },
    );
    const jobs = await client.query<{ id: string; state: string; lease_owner: string }>(
      'SELECT id, state, lease_owner FROM jobs',
    );
    expect(jobs.rows).toHaveLength(1);
    const job = jobs.rows[0] as { id: string; state: string; lease_owner: string };
    expect(job).toMatchObject({ state: 'queued', lease_owner: a.service.engine.owner });
    const status = slack
      .thread(channel, mention.ts)
      .find((message) => message.user === slack.botUserId);
    if (status === undefined) throw new Error('no status message');

    await slack.sendEnvelope(
      'interactive',
      slack.blockActionsPayload({
        userId: user,
        channel,
        message: status,
        actionId: 'nb_cancel',
        value: job.id,
      }),
      { connection: B_CONNECTION },
    );
    await eventually(
      async () => {
        const row = await client.query<{ state: string }>('SELECT state FROM jobs WHERE id = $1', [
          job.id,
        ]);
        return row.rows[0]?.state === 'cancelled' || undefined;
      },
      { description: 'the job cancelled' },
    );
    // A stops fetching: its work on the job ends although the file has not come yet.
    await slack.waitFor(() => (a.service.engine.stats.inFlight === 0 ? true : undefined));
    release();
    expect(mockApi.creates()).toHaveLength(0);
    // B, where the click arrived, ended the job.
    await slack.waitFor(() => b.finished[0]);
    expect(b.finished.map((cancelled) => cancelled.state)).toEqual(['cancelled']);
    // ... once: A, whose work stopped, does not end it a second time.
    expect(a.finished).toEqual([]);
  });
  it('handles Re-roll, Edit and Delete at the connection of the process that did not deliver the result', async () => {
    const { slack, mockApi, a, b } = await startSocketPair();
    await keepIdle(await sql(), [b.service.engine.owner]);
    const channel = 'C0FAKECHN1';
    const user = 'U0FAKEUSR1';
    // The command reaches A's connection; A runs and delivers the job.
    await slack.sendEnvelope(
      'slash_commands',
      slack.slashCommandPayload({
        command: '/imagine',
        text: 'a windmill',
        userId: user,
        channelId: channel,
      }),
      { connection: A_CONNECTION },
    );
    const original = await slack.waitFor(
      () => a.finished.find((job) => job.prompt === 'a windmill'),
      {
        timeoutMs: 15_000,
      },
    );
    const destination = original.destination as { channel: string; threadTs: string };
    const buttons = slack
      .thread(destination.channel, destination.threadTs)
      .find((message) => JSON.stringify(message.blocks ?? []).includes(`"value":"${original.id}"`));
    if (buttons === undefined) throw new Error('no buttons');
    // Every click reaches B's connection.
    const toB = (payload: object) =>
      slack.sendEnvelope('interactive', payload, { connection: B_CONNECTION });
    const press = (actionId: string) =>
      toB(
        slack.blockActionsPayload({
          userId: user,
          channel,
          message: buttons as FakeSlackMessage,
          actionId,
          value: original.id,
        }),
      );

    await press('nb_reroll');
    const rerolled = await slack.waitFor(
      () => a.finished.find((job) => job.parentJobId === original.id && job.action === 'generate'),
      { timeoutMs: 15_000 },
    );
    expect(rerolled.state).toBe('done');
    expect(createsWith(mockApi, 'a windmill')).toHaveLength(2);

    await press('nb_edit');
    const view = await slack.waitFor(() =>
      slack.views().find((candidate) => candidate.callback_id === 'nb_edit_result'),
    );
    await toB(
      slack.viewSubmissionPayload({
        userId: user,
        view,
        values: { nb_prompt: { prompt: { type: 'plain_text_input', value: 'at dusk' } } },
      }),
    );
    const edited = await slack.waitFor(() => a.finished.find((job) => job.prompt === 'at dusk'), {
      timeoutMs: 15_000,
    });
    expect(edited).toMatchObject({ state: 'done', parentJobId: original.id, action: 'edit' });

    await press('nb_delete');
    const resultFiles = () =>
      slack
        .files()
        .filter((file) => file.user === slack.botUserId && file.name.includes(original.id));
    await slack.waitFor(() => resultFiles().length === 0 || undefined);
    expect(b.finished).toEqual([]);
    expect([...a.logs, ...b.logs].filter((line) => line.includes('"level":50'))).toEqual([]);
  });
});
