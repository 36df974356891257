import pg from 'pg';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';
import { eventually } from './helpers/eventually.js';
import { keepIdle } from './helpers/idle-owners.js';
import { type FreshDatabase, freshDatabase } from './helpers/postgres.js';

/**
 * Issue 12, what must hold across processes, with two whole services (discord.js, engine,
 * PostgreSQL store, HTTP server) in this test process over one PostgreSQL database, against one
 * fake Discord and one mock API. Process A is a gateway-less worker (`DISCORD_SHARD_IDS=none`)
 * that runs the jobs; process B holds the gateway, so every interaction arrives at B.
 *
 * To make "A runs the job" certain rather than a race, a test-only trigger in the database
 * refuses B's claims (as if B were busy): the bot's code is untouched.
 */

const REFRESH_ROUTE = 'POST /attachments/refresh-urls';
const COMMANDS_ROUTE = 'PUT /applications/:applicationId/commands';

let database: FreshDatabase;
let fake: FakeDiscord | undefined;
let api: MockApi | undefined;
const bots: DiscordBot[] = [];
const clients: pg.Client[] = [];

beforeEach(async () => {
  database = await freshDatabase();
});

afterEach(async () => {
  await Promise.allSettled(bots.splice(0).map((bot) => bot.stop()));
  await fake?.close();
  fake = undefined;
  await api?.close();
  api = undefined;
  await Promise.allSettled(clients.splice(0).map((client) => client.end()));
  await database.drop();
});

async function startFake(): Promise<FakeDiscord> {
  fake = await FakeDiscord.start();
  return fake;
}

async function startApi(delayMs = 50): Promise<MockApi> {
  api = await startMockApi({ token: API_TOKEN, delayMs });
  return api;
}

/** A service over the shared database, with its own data folder and port. */
async function startBot(
  discord: FakeDiscord,
  mockApi: MockApi,
  env: Record<string, string> = {},
  databaseUrl = database.url,
): Promise<DiscordBot & { finished: Job[] }> {
  const bot = await startDiscordBot(discord, mockApi, {
    databaseUrl,
    env: { NANO_BANANA_SHUTDOWN_GRACE: '1s', ...env },
  });
  bots.push(bot);
  const finished: Job[] = [];
  bot.service.engine.on('finished', (job) => finished.push(job));
  return Object.assign(bot, { finished });
}

/** A (worker, runs the jobs) and B (gateway, receives every interaction). */
async function startPair(discord: FakeDiscord, mockApi: MockApi, env: Record<string, string> = {}) {
  const gateway = await startBot(discord, mockApi, env);
  const worker = await startBot(discord, mockApi, { DISCORD_SHARD_IDS: 'none', ...env });
  await discord.ready();
  return { a: worker, b: gateway };
}

async function sql(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  clients.push(client);
  return client;
}

function buttonIds(message: FakeMessage): string[] {
  return message.components.flatMap((row) =>
    ((row.components ?? []) as { custom_id?: string }[]).map(
      (component) => component.custom_id ?? '',
    ),
  );
}

const createsWith = (mockApi: MockApi, prompt: string) =>
  mockApi.creates().filter((call) => (call.body as { prompt?: string }).prompt === prompt);

/** The reply of an interaction once it carries images. */
function resultOf(discord: FakeDiscord, interactionId: string): Promise<FakeMessage> {
  return discord.waitFor(
    () => {
      const original = discord.interactionResponses(interactionId).original;
      return original !== undefined && original.attachments.length > 0 ? original : undefined;
    },
    { timeoutMs: 20_000, description: `the result of ${interactionId}` },
  );
}

async function png(color: string): Promise<Buffer> {
  return sharp({ create: { width: 32, height: 32, channels: 3, background: color } })
    .png()
    .toBuffer();
}

async function metricValue(url: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('buttons across processes (Discord)', () => {
  it('re-rolls, edits and deletes through the gateway process a result the worker delivered', async () => {
    const discord = await startFake();
    const mockApi = await startApi();
    const { a, b } = await startPair(discord, mockApi);
    await keepIdle(await sql(), [b.service.engine.owner]);

    const interaction = discord.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'a lighthouse' },
    });
    const result = await resultOf(discord, interaction.id);
    const [reroll, edit, remove] = buttonIds(result);
    await discord.waitFor(() => a.finished[0], { description: 'the job finished in A' });
    expect(a.finished.map((job) => job.prompt)).toEqual(['a lighthouse']);

    const rerolled = discord.sendButton({ customId: reroll ?? '', messageId: result.id });
    await resultOf(discord, rerolled.id);
    expect(createsWith(mockApi, 'a lighthouse')).toHaveLength(2);

    const editClick = discord.sendButton({ customId: edit ?? '', messageId: result.id });
    const modal = await discord.waitFor(() => discord.interactionResponses(editClick.id).modal);
    const submit = discord.sendModalSubmit({
      customId: String(modal.custom_id),
      fields: { change: 'paint it red' },
    });
    await resultOf(discord, submit.id);
    const editBody = createsWith(mockApi, 'paint it red')[0]?.body as { action?: string };
    expect(editBody.action).toBe('edit');

    discord.sendButton({ customId: remove ?? '', messageId: result.id });
    await discord.waitFor(
      () =>
        discord.messages(discord.channelId).some((message) => message.id === result.id)
          ? undefined
          : true,
      { description: 'the deleted result' },
    );
    // Every job ran in A; B only received the clicks.
    await discord.waitFor(() => a.finished[2], { description: 'the three jobs finished in A' });
    expect(a.finished.map((job) => job.state)).toEqual(['done', 'done', 'done']);
    expect(b.finished).toEqual([]);
    expect(discord.internalErrors).toEqual([]);
  });

  it('cancels through the gateway a job the worker has claimed and is preparing: nothing created', async () => {
    const discord = await startFake();
    const mockApi = await startApi();
    const { a, b } = await startPair(discord, mockApi, { NANO_BANANA_MAX_CONCURRENT_JOBS: '1' });
    const client = await sql();
    await keepIdle(client, [b.service.engine.owner]);

    // A first job holds the one slot while the edit waits in line.
    mockApi.hold();
    discord.sendSlashCommand({ name: 'imagine', options: { prompt: 'keeps the slot' } });
    await discord.waitFor(() => createsWith(mockApi, 'keeps the slot')[0], {
      description: 'the first create',
    });
    const theirs = discord.postUserMessage({
      content: 'my photo',
      attachments: [{ filename: 'photo.png', bytes: await png('#3366ff') }],
      mentionsBot: false,
    });
    const menu = discord.sendMessageContextCommand({
      name: 'Edit image',
      targetMessageId: theirs.id,
    });
    const modal = await discord.waitFor(() => discord.interactionResponses(menu.id).modal);
    const submit = discord.sendModalSubmit({
      customId: String(modal.custom_id),
      fields: { change: 'make it night' },
    });
    const queued = await discord.waitFor(
      () => {
        const original = discord.interactionResponses(submit.id).original;
        const cancel = original && buttonIds(original).find((id) => id.startsWith('nb:cancel:'));
        // A copy: what the member's screen shows now, whatever later edits do to the message.
        return original && cancel ? { message: structuredClone(original), cancel } : undefined;
      },
      { description: 'the edit in line, with its Cancel button' },
    );
    // A day later its image link has expired: preparing the job starts with asking Discord for
    // a fresh one, which the test holds.
    discord.advanceClock(25 * 3_600_000);
    const releaseRefresh = discord.holdNext(REFRESH_ROUTE);
    mockApi.release();
    await discord.waitFor(
      () => discord.heldCalls.some((call) => call.route === REFRESH_ROUTE) || undefined,
      { timeoutMs: 15_000, description: 'the worker preparing the input' },
    );
    const jobId = queued.cancel.split(':')[2] ?? '';
    const claimed = await client.query<{ state: string; lease_owner: string }>(
      'SELECT state, lease_owner FROM jobs WHERE id = $1',
      [jobId],
    );
    expect(claimed.rows[0]).toEqual({ state: 'queued', lease_owner: a.service.engine.owner });

    // Its turn came: the "started" edit takes Cancel off the message, and may or may not have
    // reached the member yet. The click is on the message as they saw it, with Cancel.
    const click = discord.sendButton({
      customId: queued.cancel,
      messageId: queued.message.id,
      shown: queued.message,
    });
    await eventually(
      async () => {
        const row = await client.query<{ state: string }>('SELECT state FROM jobs WHERE id = $1', [
          jobId,
        ]);
        return row.rows[0]?.state === 'cancelled' || undefined;
      },
      { description: 'the job cancelled' },
    );
    // The click was taken (a deferred update), not refused.
    const answer = await discord.waitFor(() => discord.interactionResponses(click.id).callbacks[0]);
    expect(answer.type).toBe(6);
    // A stops its preparation: its work on the job ends although Discord has not answered yet.
    await discord.waitFor(() => (a.service.engine.stats.inFlight === 0 ? true : undefined), {
      description: 'A no longer working on the job',
    });
    releaseRefresh();
    await discord.waitFor(() => a.finished.find((job) => job.prompt === 'keeps the slot'), {
      description: 'the first job done',
    });
    expect(createsWith(mockApi, 'make it night')).toHaveLength(0);
    expect(mockApi.creates()).toHaveLength(1);
    // The cancelled job ended once, in B where the click arrived; A only stopped its work.
    expect(a.finished.map((job) => job.prompt)).toEqual(['keeps the slot']);
    expect(b.finished.map((job) => [job.prompt, job.state])).toEqual([
      ['make it night', 'cancelled'],
    ]);
  });
});

describe('callbacks across processes', () => {
  it('wakes the job’s owner when the callback reaches the other process', async () => {
    const discord = await startFake();
    const mockApi = await startApi(300);
    // A follows its task with a 60 s poll: only the callback, received by B, can wake it soon.
    const gateway = await startBot(discord, mockApi);
    const worker = await startBot(discord, mockApi, {
      DISCORD_SHARD_IDS: 'none',
      NANO_BANANA_POLL_INTERVAL_MS: '60000',
      PUBLIC_URL: gateway.service.http.url,
    });
    await discord.ready();
    await keepIdle(await sql(), [gateway.service.engine.owner]);

    const interaction = discord.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'called back' },
    });
    await resultOf(discord, interaction.id);
    await discord.waitFor(() => worker.finished[0], { description: 'the job finished in A' });
    expect(worker.finished.map((job) => job.state)).toEqual(['done']);
    const [callback] = mockApi.callbacks;
    expect(callback?.url.startsWith(`${gateway.service.http.url}/`)).toBe(true);
    expect(callback?.status).toBe(204);
    const posted = discord.calls.find(
      (call) => call.path.includes('/messages/@original') && call.files.length > 0,
    );
    const task = [...mockApi.tasks.values()][0];
    // Task finished (the callback sent) → images at the fake.
    const latencyMs = (posted?.at ?? Number.NaN) - (callback?.at ?? Number.NaN);
    console.log(`callback to another process: task done → images posted in ${latencyMs} ms`);
    expect(task?.mode).toBe('callback');
    expect(latencyMs).toBeLessThan(2_000);
  });
});

describe('the used_up pause across processes', () => {
  it('holds the other process’s queued job until the pause ends', async () => {
    const discord = await startFake();
    const mockApi = await startApi();
    const pauseMs = 3_000;
    const { a, b } = await startPair(discord, mockApi, {
      NANO_BANANA_USED_UP_PAUSE: `${pauseMs}ms`,
    });
    const client = await sql();
    await keepIdle(client, [b.service.engine.owner]);

    mockApi.failNextCreates({ status: 403, code: 'used_up' });
    const first = discord.sendSlashCommand({ name: 'imagine', options: { prompt: 'the first' } });
    await discord.waitFor(() => createsWith(mockApi, 'the first')[0], {
      description: 'A’s create answered used_up',
    });
    const usedUpAt = createsWith(mockApi, 'the first')[0]?.at ?? 0;
    // From now on only B may claim.
    await keepIdle(client, [a.service.engine.owner]);
    const second = discord.sendSlashCommand({ name: 'imagine', options: { prompt: 'the second' } });
    await resultOf(discord, second.id);
    const secondCreate = createsWith(mockApi, 'the second')[0];
    await discord.waitFor(() => b.finished[0], { description: 'the second finished in B' });
    expect(b.finished.map((job) => job.prompt)).toContain('the second');
    // A little slack for the two clocks' rounding.
    expect((secondCreate?.at ?? 0) - usedUpAt).toBeGreaterThanOrEqual(pauseMs - 50);
    expect(first.id).toBeDefined();
  });
});

describe('singletons across processes', () => {
  it('registers the commands once when two services start together', async () => {
    const discord = await startFake();
    const mockApi = await startApi();
    // The first write waits until both have started: without the lock the other would read "no
    // commands" meanwhile, and write them too.
    const release = discord.holdNext(COMMANDS_ROUTE);
    const starts = [
      startBot(discord, mockApi),
      startBot(discord, mockApi, { DISCORD_SHARD_IDS: 'none' }),
    ];
    await Promise.race(starts);
    release();
    await Promise.all(starts);
    expect(discord.calls.filter((call) => call.route === COMMANDS_ROUTE)).toHaveLength(1);
  });

  it('prunes in one process at a time', async () => {
    const discord = await startFake();
    const mockApi = await startApi();
    const { a, b } = await startPair(discord, mockApi);
    const client = await sql();
    // Every prune's DELETE, timed; each takes a second, so that two at once would overlap.
    await client.query(`
      CREATE TABLE test_prunes (pid int, txid bigint, started timestamptz, ended timestamptz);
      CREATE FUNCTION test_prune_started() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO test_prunes VALUES (pg_backend_pid(), txid_current(), clock_timestamp(), NULL);
        PERFORM pg_sleep(1);
        RETURN NULL;
      END $$;
      CREATE FUNCTION test_prune_ended() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE test_prunes SET ended = clock_timestamp() WHERE txid = txid_current();
        RETURN NULL;
      END $$;
      CREATE TRIGGER test_prune_started BEFORE DELETE ON jobs
        FOR EACH STATEMENT EXECUTE FUNCTION test_prune_started();
      CREATE TRIGGER test_prune_ended AFTER DELETE ON jobs
        FOR EACH STATEMENT EXECUTE FUNCTION test_prune_ended();`);

    await Promise.all([a.service.engine.prune(), b.service.engine.prune()]);
    const prunes = await client.query<{ started: Date; ended: Date }>(
      'SELECT started, ended FROM test_prunes ORDER BY started',
    );
    expect(prunes.rows).toHaveLength(1);
    // Both asked again, one after the other: each runs (the lock was released).
    await a.service.engine.prune();
    await b.service.engine.prune();
    const after = await client.query('SELECT 1 FROM test_prunes');
    expect(after.rows).toHaveLength(3);
  });
});

describe('/readyz and /metrics across processes', () => {
  it('reports the database in /readyz, false once it is gone', async () => {
    const discord = await startFake();
    const mockApi = await startApi();
    const own = await freshDatabase();
    try {
      const bot = await startBot(discord, mockApi, {}, own.url);
      await discord.ready();
      const ready = await fetch(`${bot.service.http.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { checks: { database: boolean } }).checks.database).toBe(
        true,
      );
      await own.drop();
      const gone = await fetch(`${bot.service.http.url}/readyz`);
      expect(gone.status).toBe(503);
      expect(((await gone.json()) as { checks: { database: boolean } }).checks.database).toBe(
        false,
      );
    } finally {
      await own.drop();
    }
  });

  it('shows the same fleet-wide gauges in both processes, as the store counts them', async () => {
    const discord = await startFake();
    const mockApi = await startApi();
    mockApi.hold();
    const { a, b } = await startPair(discord, mockApi, {
      NANO_BANANA_MAX_CONCURRENT_JOBS: '1',
      NANO_BANANA_MAX_JOBS_PER_USER: '1',
    });
    for (const prompt of ['one', 'two', 'three']) {
      discord.sendSlashCommand({ name: 'imagine', options: { prompt } });
    }
    await discord.waitFor(() => mockApi.creates()[0], { description: 'the first create' });
    const client = await sql();
    // The first job running (its task held), the two others in line.
    await eventually(
      async () => {
        const states = await client.query<{ state: string }>('SELECT state FROM jobs');
        const count = (state: string) => states.rows.filter((row) => row.state === state).length;
        return (count('queued') === 2 && count('running') === 1) || undefined;
      },
      { description: 'one job running, two in line' },
    );
    const store = await client.query<{ state: string; count: string }>(
      "SELECT state, COUNT(*) AS count FROM jobs WHERE state IN ('queued', 'running') GROUP BY state",
    );
    const stored = Object.fromEntries(store.rows.map((row) => [row.state, Number(row.count)]));
    expect(stored).toEqual({ queued: 2, running: 1 });
    for (const url of [a.service.http.url, b.service.http.url]) {
      expect(await metricValue(url, 'nano_banana_fleet_queue_depth'), url).toBe(2);
      expect(await metricValue(url, 'nano_banana_fleet_jobs_running'), url).toBe(1);
      expect(await metricValue(url, 'nano_banana_fleet_jobs_late'), url).toBe(0);
    }
    mockApi.release();
  });
});
