import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBot } from '../bench/support/bot-process.js';
import { JOB_STATES, type Job } from '../src/core/jobs/job.js';
import type { JobStore } from '../src/core/jobs/store.js';
import { openPostgresStore } from '../src/core/jobs/stores/postgres.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeInteraction } from './fakes/discord/index.js';
import { type FakeSlack, startFakeSlack } from './fakes/slack/index.js';
import { peakOverlap } from './helpers/peak-overlap.js';
import { type FreshDatabase, freshDatabase } from './helpers/postgres.js';

/**
 * Issue 12, the fleet: three `nano-banana start` processes (shard 0 of 2, shard 1 of 2, and a
 * gateway-less worker) over one PostgreSQL database, driven by the fake Discord and Slack and
 * served by the mock API; 300 requests from 60 users; the worker SIGKILLed halfway while it holds
 * jobs, one of them with its paid create sent and unanswered (`creating`). Everything is judged
 * from what the fakes and the mock API recorded and from the store itself.
 */

const API_TOKEN = 'fleet-api-token';
const SLACK_CHANNEL = 'C0FLEETCH1';
const FLEET_LIMIT = 6;
const PER_USER_LIMIT = 2;
const DAILY_IMAGES = 6;
const LEASE = '3s';
/** `(id >> 22) % 2` is the guild's shard. */
const guildOnShard = (shard: number, index: number) =>
  String(BigInt(1000 + index * 2 + shard) << 22n);
const GUILDS = [guildOnShard(0, 0), guildOnShard(0, 1), guildOnShard(1, 0), guildOnShard(1, 1)];

type Place =
  | { kind: 'guild'; guildId: string }
  | { kind: 'dm' }
  | { kind: 'slack' }
  /** Mentions of the bot in a Slack channel, each event delivered twice (to two processes). */
  | { kind: 'slack-mention' };

interface User {
  readonly id: string;
  readonly place: Place;
  /** Images asked for by each request, in the order sent. */
  readonly counts: readonly number[];
}

interface Request {
  readonly tag: string;
  readonly user: User;
  readonly count: number;
  readonly interaction?: FakeInteraction;
  dedupKey?: string;
  /** Slack: the id of the command's `response_url`, where private answers go. */
  responseId?: string;
  refused?: boolean;
  /**
   * Slack: the command went to the killed process's connection and was never acknowledged; Slack
   * shows the user its own timeout error. Its job exists if the process stored it before dying.
   */
  lost?: boolean;
}

/**
 * A pass-through to the mock API for the fleet (every process is given its address, as they all
 * call one API), able to keep back the answer to one create: the task is made (and paid) at the
 * API, the process that asked never learns of it, and its job stays `creating` until it dies.
 */
interface ApiProxy {
  readonly url: string;
  /**
   * Keeps back the answer to the next create `which` accepts (given the create's body); resolves
   * once one is kept, the task made.
   */
  holdNextCreate(which: (body: Record<string, unknown>) => Promise<boolean>): Promise<void>;
  close(): Promise<void>;
}

async function startApiProxy(target: string): Promise<ApiProxy> {
  let holdNext: ((body: Record<string, unknown>) => Promise<boolean>) | undefined;
  let onHeld: (() => void) | undefined;
  const held: ServerResponse[] = [];
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const isCreate = request.method === 'POST' && request.url === '/nano-banana/images';
      const which = isCreate ? holdNext : undefined;
      let hold = false;
      if (which !== undefined) {
        hold = await which(JSON.parse(Buffer.concat(chunks).toString('utf8'))).catch(() => false);
        // Only the first: the next ones pass.
        if (hold && holdNext === which) holdNext = undefined;
        else if (hold) hold = false;
      }
      const headers: Record<string, string> = {};
      // The Host stays the proxy's: the mock names its image links after it, so the process
      // downloads them through here, from the address it trusts.
      for (const name of ['authorization', 'content-type', 'accept', 'host']) {
        const value = request.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      void undiciRequest(`${target}${request.url ?? '/'}`, {
        method: (request.method ?? 'GET') as 'GET',
        headers,
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      })
        .then(async (answer) => {
          const body = Buffer.from(await answer.body.arrayBuffer());
          if (hold) {
            held.push(response);
            onHeld?.();
            return;
          }
          const contentType = answer.headers['content-type'];
          response.writeHead(answer.statusCode, {
            'content-type': typeof contentType === 'string' ? contentType : 'application/json',
          });
          response.end(body);
        })
        .catch(() => response.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    holdNextCreate: (which) =>
      new Promise<void>((resolve) => {
        holdNext = which;
        onHeld = resolve;
      }),
    close: async () => {
      for (const response of held) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Polls until `check` returns something (every 50 ms, bounded), naming `what` on a timeout. */
async function until<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The requests of one user a daily limit admits, in order (no image ever given back). */
function admittedByQuota(counts: readonly number[]): boolean[] {
  let reserved = 0;
  return counts.map((count) => {
    if (reserved + count > DAILY_IMAGES) return false;
    reserved += count;
    return true;
  });
}

const REFUSAL = /daily limit of 6 images/;
const INTERRUPTED = /The bot restarted while sending your request/;

let database: FreshDatabase;
let store: JobStore;
let api: MockApi;
let proxy: ApiProxy;
let discord: FakeDiscord;
let slack: FakeSlack;
const bots: BotProcess[] = [];

beforeAll(async () => {
  database = await freshDatabase();
  api = await startMockApi({ token: API_TOKEN, delayMs: 500, drawBeforeFinish: true });
  proxy = await startApiProxy(api.url);
  discord = await FakeDiscord.start({
    guilds: GUILDS.map((id) => ({ id })),
    gatewayShards: 2,
    maxConcurrency: 2,
    // Three bots, PostgreSQL and this test share two cores: an interaction is judged by what
    // becomes of it, not by the 3 s acknowledgement (its own tests and benchmark cover that).
    ackDeadlineMs: 10_000,
  });
  slack = await startFakeSlack({
    users: Array.from({ length: 20 }, (_, index) => ({
      id: `U0F${String(index).padStart(7, '0')}`,
      name: `user${index}`,
      locale: 'en-US',
    })),
    channels: [{ id: SLACK_CHANNEL, name: 'general' }],
  });
});

afterAll(async () => {
  await Promise.allSettled(bots.map((bot) => bot.stop()));
  await store?.close();
  await Promise.allSettled([discord?.close(), slack?.close(), proxy?.close(), api?.close()]);
  await database?.drop();
}, 60_000);

describe('a fleet of three processes over one PostgreSQL', () => {
  it('delivers every request once or explains it, within the fleet’s limits and quotas, when a process is SIGKILLed halfway', async () => {
    const startedAt = Date.now();
    const common = {
      ACEDATA_API_TOKEN: API_TOKEN,
      DATABASE_URL: database.url,
      DISCORD_TOKEN: discord.botToken,
      DISCORD_API_URL: discord.apiUrl,
      DISCORD_SHARD_COUNT: '2',
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_API_URL: slack.apiUrl,
      SLACK_APP_TOKEN: slack.appToken,
      NANO_BANANA_LEASE: LEASE,
      NANO_BANANA_POLL_INTERVAL_MS: '200',
      NANO_BANANA_MAX_CONCURRENT_JOBS: String(FLEET_LIMIT),
      NANO_BANANA_MAX_JOBS_PER_USER: String(PER_USER_LIMIT),
      NANO_BANANA_DAILY_IMAGES_PER_USER: String(DAILY_IMAGES),
    };
    // Shard 0 first: it registers the commands, which typed options need.
    const shard0 = await startBot({
      env: { ...common, ACEDATA_BASE_URL: proxy.url, DISCORD_SHARD_IDS: '0' },
      readyTimeoutMs: 60_000,
    });
    bots.push(shard0);
    const [shard1, worker] = await Promise.all([
      startBot({
        env: { ...common, ACEDATA_BASE_URL: proxy.url, DISCORD_SHARD_IDS: '1' },
        readyTimeoutMs: 60_000,
      }),
      startBot({
        env: { ...common, ACEDATA_BASE_URL: proxy.url, DISCORD_SHARD_IDS: 'none' },
        readyTimeoutMs: 60_000,
      }),
    ]);
    bots.push(shard1, worker);
    await discord.waitFor(() => discord.commands().some((command) => command.name === 'imagine'), {
      timeoutMs: 20_000,
    });
    await slack.socketConnected({ count: 3, timeoutMs: 20_000 });
    store = await openPostgresStore({ url: database.url });
    const readyAt = Date.now();

    // 60 users: 24 in servers of both shards, 12 in DMs, 24 on Slack. Their requests ask for one
    // or two images; the daily limit of 6 refuses the last requests of the greediest.
    const countPatterns = [
      [1, 1, 1, 1, 1],
      [2, 1, 1, 1, 1],
      [2, 2, 1, 1, 1],
      [2, 2, 2, 1, 1],
    ];
    const users: User[] = Array.from({ length: 60 }, (_, index) => {
      const counts = countPatterns[index % countPatterns.length] ?? [];
      if (index < 24) {
        return {
          id: `7${String(index).padStart(17, '0')}`,
          place: { kind: 'guild', guildId: GUILDS[index % GUILDS.length] ?? '' },
          counts,
        };
      }
      if (index < 36)
        return { id: `7${String(index).padStart(17, '0')}`, place: { kind: 'dm' }, counts };
      const slackId = `U0G${String(index).padStart(7, '0')}`;
      slack.addUser({ id: slackId, name: `slack${index}`, locale: 'en-US' });
      // The last eight mention the bot, within their limit (a refusal answered by two processes
      // would be told twice: not what this test is about).
      if (index >= 52)
        return { id: slackId, place: { kind: 'slack-mention' }, counts: [1, 1, 1, 1, 1] };
      return { id: slackId, place: { kind: 'slack' }, counts };
    });

    const requests: Request[] = [];
    const jobOf = (request: Request) =>
      request.dedupKey === undefined ? undefined : store.getByDedupKey(request.dedupKey);
    const discordTexts = (interaction: FakeInteraction) => {
      const responses = discord.interactionResponses(interaction.id);
      return [responses.original, ...responses.followups]
        .filter((message) => message !== undefined)
        .map((message) => message.content);
    };
    /** What the Slack user saw of a request: private answers, and messages naming its tag. */
    const slackTexts = (request: Request) => [
      ...slack.responses
        .filter((response) => response.id === request.responseId)
        .map((response) => String((response.body as { text?: unknown }).text)),
      ...slack
        .messages(SLACK_CHANNEL)
        .filter((message) => message.text.includes(request.tag))
        .map((message) => message.text),
    ];
    /** What the user was told in the job's own Slack thread. */
    const slackThreadTexts = (job: Job) => {
      const threadTs = (job.destination as { threadTs?: string } | undefined)?.threadTs ?? '';
      return slack.thread(SLACK_CHANNEL, threadTs).map((message) => message.text);
    };

    /** Sends one request and waits (bounded) until it is accepted (a job) or refused. */
    const send = async (user: User, index: number, count: number): Promise<Request> => {
      const tag = `fleet-${user.id}-${index}`;
      // A short generation of its own (300-800 ms), and two images when asked.
      const delay = 300 + ((requests.length * 37) % 6) * 100;
      const text = `a banana ${tag} mock:delay=${delay}${count === 2 ? ' --n 2' : ''}`;
      let request: Request;
      if (user.place.kind === 'slack') {
        const lost = await slack
          .deliverSlashCommand(
            { command: '/imagine', text, userId: user.id, channelId: SLACK_CHANNEL },
            { timeoutMs: 10_000 },
          )
          .then(
            () => false,
            () => true,
          );
        const envelope = slack.envelopes.find(
          (candidate) => (candidate.payload as { text?: string }).text === text,
        );
        const payload = envelope?.payload as
          | { trigger_id?: string; response_url?: string }
          | undefined;
        request = {
          tag,
          user,
          count,
          dedupKey: `slack:cmd:${payload?.trigger_id}`,
          responseId: payload?.response_url?.split('/').at(-1) ?? '',
          ...(lost ? { lost } : {}),
        };
      } else if (user.place.kind === 'slack-mention') {
        const message = slack.userMessage({
          channel: SLACK_CHANNEL,
          user: user.id,
          text: `<@${slack.botUserId}> ${text}`,
        });
        const event = slack.appMentionEvent(SLACK_CHANNEL, message);
        // Slack redelivers an event it thinks was missed, possibly to another connection: the
        // fake sends envelopes to the connections in turn, so the two go to two processes.
        const acks = await Promise.allSettled([
          slack.deliverEvent(event, { timeoutMs: 10_000 }),
          slack.deliverEvent(event, { timeoutMs: 10_000, retryNum: 1, retryReason: 'timeout' }),
        ]);
        // One went to the killed process: Slack tries again, elsewhere.
        if (acks.some((ack) => ack.status === 'rejected')) {
          await slack.deliverEvent(event, {
            timeoutMs: 10_000,
            retryNum: 2,
            retryReason: 'timeout',
          });
        }
        request = { tag, user, count, dedupKey: `slack:${SLACK_CHANNEL}:${message.ts}` };
      } else {
        const interaction = discord.sendSlashCommand({
          name: 'imagine',
          userId: user.id,
          options: { prompt: text },
          ...(user.place.kind === 'guild'
            ? { guildId: user.place.guildId }
            : { channelId: discord.openDm(user.id) }),
        });
        request = {
          tag,
          user,
          count,
          interaction,
          dedupKey: `discord:interaction:${interaction.id}`,
        };
      }
      requests.push(request);
      if (request.lost) return request;
      await until(
        async () => {
          if ((await jobOf(request)) !== undefined) return true;
          const texts =
            request.interaction === undefined
              ? slackTexts(request)
              : discordTexts(request.interaction);
          if (texts.some((content) => REFUSAL.test(content))) {
            request.refused = true;
            return true;
          }
          return false;
        },
        30_000,
        `request ${tag} to be accepted or refused`,
      ).catch((error: unknown) => {
        const seen =
          request.interaction === undefined
            ? slackTexts(request)
            : JSON.stringify({
                ...discord.interactionResponses(request.interaction.id),
                calls: discord.calls
                  .filter((call) => call.path.includes(request.interaction?.id ?? '-'))
                  .map((call) => ({ route: call.route, status: call.status, at: call.at })),
              });
        throw new Error(`${String(error)}; the user saw ${String(seen).slice(0, 2000)}`);
      });
      return request;
    };

    // Each user sends their requests one after the other (so the quota's verdicts are known in
    // advance), the users side by side, starting a little apart.
    const sending = Promise.all(
      users.map(async (user, userIndex) => {
        await sleep(userIndex * 60);
        for (const [index, count] of user.counts.entries()) {
          await send(user, index, count);
          await sleep(100);
        }
      }),
    );
    // Awaited below; handled now, so that a failure meanwhile is not reported as unhandled.
    sending.catch(() => undefined);

    // Halfway through the work, the worker's next create is made at the API but its answer kept
    // back; once the worker also has a job whose task runs, it is killed.
    const workerOwner = `${worker.pid}-`;
    const ownedByWorker = async () =>
      (await store.listByState(JOB_STATES)).filter((job) =>
        job.leaseOwner?.startsWith(workerOwner),
      );
    await until(
      async () => (await store.listByState(['done'])).length >= 100,
      90_000,
      'a hundred jobs done',
    );
    const workersCreate = async (body: Record<string, unknown>) => {
      const tag = /fleet-\S+-\d/.exec(String(body.prompt))?.[0];
      const request = requests.find((candidate) => candidate.tag === tag);
      const job = request === undefined ? undefined : await jobOf(request);
      return job?.leaseOwner?.startsWith(workerOwner) ?? false;
    };
    await Promise.race([
      proxy.holdNextCreate(workersCreate),
      sleep(30_000).then(() => {
        throw new Error('the worker made no create in 30 s');
      }),
    ]);
    // A job whose task has a while to run yet: the worker cannot finish it before the kill.
    const runsAWhile = (job: Job) => {
      const task = job.taskId === undefined ? undefined : api.tasks.get(job.taskId);
      return (
        job.state === 'running' &&
        task !== undefined &&
        task.finishedAt === undefined &&
        task.startedAt * 1000 + task.delayMs - Date.now() > 250
      );
    };
    await until(
      async () => (await ownedByWorker()).some(runsAWhile),
      30_000,
      'the worker to run a job besides the one creating',
    );
    process.kill(worker.pid, 'SIGKILL');
    const killedAt = Date.now();
    await worker.stop();
    // What the worker held when it died: its leases are still in the store.
    const heldAtKill = (await ownedByWorker()).filter(
      (job) => !['done', 'failed', 'cancelled', 'undelivered'].includes(job.state),
    );
    const creatingAtKill = heldAtKill.filter((job) => job.state === 'creating');
    expect(creatingAtKill.length).toBeGreaterThan(0);
    expect(heldAtKill.length).toBeGreaterThan(creatingAtKill.length);

    await sending;
    expect(requests).toHaveLength(300);
    // Every accepted job ends (bounded), on the two live processes.
    const settled = await until(
      async () => {
        const jobs = await store.listByState(JOB_STATES);
        return jobs.length > 0 &&
          jobs.every((job) => ['done', 'failed', 'cancelled', 'undelivered'].includes(job.state))
          ? jobs
          : undefined;
      },
      120_000,
      'every job to end',
    );
    const finishedAt = Date.now();
    const jobsById = new Map(settled.map((job) => [job.id, job]));
    const jobByDedup = new Map(settled.map((job) => [job.dedupKey, job]));

    // ----- Every request delivered exactly once, or explained.
    const discordImageCalls = discord.calls.filter(
      (call) =>
        call.status < 300 && call.files.some((file) => file.name.startsWith('nano-banana-')),
    );
    const deliveredImages = new Map<string, number>();
    const problems: string[] = [];
    for (const request of requests) {
      const job = jobByDedup.get(request.dedupKey);
      if (request.refused) {
        if (job !== undefined) problems.push(`${request.tag}: refused, yet a job ${job.state}`);
        continue;
      }
      if (job === undefined) {
        if (request.lost) continue;
        problems.push(`${request.tag}: neither a job nor a refusal`);
        continue;
      }
      let posts: number;
      let images: number;
      if (request.interaction === undefined) {
        const files = slack
          .files()
          .filter((file) => file.name?.startsWith(`nano-banana-${job.id}-`));
        // One upload (files.completeUploadExternal) per post; a second would be a second post.
        posts = slack
          .callsTo('files.completeUploadExternal')
          .filter((call) =>
            files.some((file) => JSON.stringify(call.args).includes(file.id)),
          ).length;
        images = files.length;
      } else {
        const prefix = `nano-banana-${job.id.slice(0, 8)}-`;
        const calls = discordImageCalls.filter((call) =>
          call.files.some((file) => file.name.startsWith(prefix)),
        );
        // An edit of the same message is one post; two messages would be two.
        posts = new Set(calls.map((call) => (call.response as { id?: string } | undefined)?.id))
          .size;
        images = calls.at(-1)?.files.length ?? 0;
      }
      deliveredImages.set(job.id, images);
      if (job.state === 'done') {
        if (posts !== 1) problems.push(`${request.tag}: done with ${posts} result posts`);
        if (images !== request.count)
          problems.push(`${request.tag}: ${images} images of ${request.count}`);
      } else {
        if (posts !== 0) problems.push(`${request.tag}: ${job.state} with ${posts} result posts`);
        const texts =
          request.interaction === undefined
            ? [...slackTexts(request), ...slackThreadTexts(job)]
            : discordTexts(request.interaction);
        if (job.error?.code === 'interrupted' && !texts.some((text) => INTERRUPTED.test(text))) {
          problems.push(`${request.tag}: interrupted, and the user was not told`);
        }
        if (job.error?.code !== 'interrupted') {
          problems.push(
            `${request.tag}: ended ${job.state} (${JSON.stringify(job.error)}), ` +
              `${heldAtKill.some((held) => held.id === job.id) ? 'held by the worker at the kill' : 'not the worker’s at the kill'}`,
          );
        }
      }
    }
    expect(problems).toEqual([]);

    // ----- At most one create per job, exactly one per delivered job.
    const createsByTag = new Map<string, number>();
    for (const call of api.creates()) {
      const prompt = String((call.body as { prompt?: unknown }).prompt);
      const tag = /fleet-\S+-\d/.exec(prompt)?.[0] ?? prompt;
      createsByTag.set(tag, (createsByTag.get(tag) ?? 0) + 1);
    }
    for (const request of requests) {
      const job = jobByDedup.get(request.dedupKey);
      const creates = createsByTag.get(request.tag) ?? 0;
      if (job === undefined) expect(creates, request.tag).toBe(0);
      else if (job.state === 'done') expect(creates, request.tag).toBe(1);
      else expect(creates, request.tag).toBeLessThanOrEqual(1);
    }

    // ----- The jobs the worker was creating end interrupted, the user told (checked above), and
    // were never created twice.
    for (const job of creatingAtKill) {
      const ended = jobsById.get(job.id);
      expect(ended?.state, job.id).toBe('failed');
      expect(ended?.error?.code, job.id).toBe('interrupted');
      // Taken over once its lease (NANO_BANANA_LEASE, 3 s) ran out, not the default 30 s.
      expect((ended?.finishedAt ?? Number.POSITIVE_INFINITY) - killedAt, job.id).toBeLessThan(
        15_000,
      );
    }
    const takenOver = heldAtKill.filter((job) => jobsById.get(job.id)?.state === 'done');
    expect(takenOver.length).toBeGreaterThan(0);

    // ----- The fleet's limits, from the API's own start and finish times.
    const tasks = [...api.tasks.values()].filter((task) =>
      String(task.request.prompt).includes('fleet-'),
    );
    expect(tasks.every((task) => task.finishedAt !== undefined)).toBe(true);
    expect(peakOverlap(tasks)).toBeLessThanOrEqual(FLEET_LIMIT);
    for (const user of users) {
      const own = tasks.filter((task) => String(task.request.prompt).includes(`fleet-${user.id}-`));
      expect(peakOverlap(own), user.id).toBeLessThanOrEqual(PER_USER_LIMIT);
    }

    // ----- Quotas exact: what the store holds is what was delivered, within the limit, and the
    // refusals are the ones the limit calls for.
    const day = settled[0]?.quotaDay ?? '';
    for (const user of users) {
      const own = requests.filter((request) => request.user === user);
      const reserved = await store.reservedImages({ day, requesterId: user.id });
      const delivered = own.reduce((sum, request) => {
        const job = jobByDedup.get(request.dedupKey);
        return sum + (job?.state === 'done' ? (deliveredImages.get(job.id) ?? 0) : 0);
      }, 0);
      expect(reserved, user.id).toBe(delivered);
      expect(reserved, user.id).toBeLessThanOrEqual(DAILY_IMAGES);
      const interrupted = own.some(
        (request) => jobByDedup.get(request.dedupKey)?.error?.code === 'interrupted',
      );
      // An interrupted job gives its images back, which may admit a later request; a command
      // lost with the killed process may have reserved nothing.
      if (!interrupted && !own.some((request) => request.lost)) {
        expect(
          own.map((request) => !request.refused),
          user.id,
        ).toEqual(admittedByQuota(user.counts));
      }
    }

    // Slack spread the commands among the three processes' connections, as it does.
    expect(
      new Set(slack.envelopes.map((envelope) => envelope.connection)).size,
    ).toBeGreaterThanOrEqual(3);

    // The mentions delivered twice reached two processes (most of them: the turn is shared with
    // the slash commands), and still made one job and one create each (checked above).
    const connectionsByEvent = new Map<string, Set<number>>();
    for (const envelope of slack.envelopes.filter((candidate) => candidate.type === 'events_api')) {
      const ts = (envelope.payload as { event?: { ts?: string } }).event?.ts ?? '';
      connectionsByEvent.set(
        ts,
        (connectionsByEvent.get(ts) ?? new Set()).add(envelope.connection),
      );
    }
    const mentions = requests.filter((request) => request.user.place.kind === 'slack-mention');
    expect(connectionsByEvent.size).toBe(mentions.length);
    const twoProcesses = [...connectionsByEvent.values()].filter((set) => set.size === 2).length;
    expect(twoProcesses).toBeGreaterThanOrEqual(mentions.length / 2);

    const refused = requests.filter((request) => request.refused).length;
    const lost = requests.filter((request) => request.lost).length;
    console.log(
      `fleet: 300 requests, ${settled.length} jobs (${refused} refused by the quota, ${lost} lost with the killed process's Slack connection), ` +
        `start ${((readyAt - startedAt) / 1000).toFixed(1)} s, work ${((finishedAt - readyAt) / 1000).toFixed(1)} s; ` +
        `worker killed after ${((killedAt - readyAt) / 1000).toFixed(1)} s holding ${heldAtKill.length} jobs ` +
        `(${creatingAtKill.length} creating), ${takenOver.length} taken over and delivered, ` +
        `${Math.round((finishedAt - killedAt) / 100) / 10} s from the kill to the last job`,
    );
  }, 240_000);
});
