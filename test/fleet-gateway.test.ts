import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBot } from '../bench/support/bot-process.js';
import { FINAL_STATES, JOB_STATES, type Job } from '../src/core/jobs/job.js';
import type { JobStore } from '../src/core/jobs/store.js';
import { openPostgresStore } from '../src/core/jobs/stores/postgres.js';
import { shardLockName } from '../src/discord/shard-claims.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeInteraction } from './fakes/discord/index.js';
import { type FreshDatabase, freshDatabase } from './helpers/postgres.js';

/**
 * Issue 12, a gateway process lost and replaced: two `nano-banana start` processes, shard 0 and
 * shard 1 (of 2), over one PostgreSQL database; the shard-0 process is SIGKILLed while it runs
 * jobs, and a new shard-0 process is started as a supervisor would (refused while the dead one's
 * claim lives, then started again). The new process gets shard 0 once the claim expires, the events
 * of shard 0's servers and the DMs are served again, and the dead process's jobs are taken over
 * and delivered once: nothing is lost. Kept apart from test/fleet.test.ts to bound its run time.
 */

const API_TOKEN = 'fleet-gateway-api-token';
const LEASE_MS = 3_000;
const FLEET_LIMIT = 4;
/** `(id >> 22) % 2` is the guild's shard. */
const guildOnShard = (shard: number) => String(BigInt(2000 + shard) << 22n);
const GUILD_0 = guildOnShard(0);
const GUILD_1 = guildOnShard(1);
const INTERRUPTED = /The bot restarted while sending your request/;
const REFUSED = /already run by another process/;

type Place = { kind: 'guild'; guildId: string } | { kind: 'dm' };

interface Request {
  readonly tag: string;
  readonly userId: string;
  readonly interaction: FakeInteraction;
  readonly dedupKey: string;
}

let database: FreshDatabase;
let store: JobStore;
let api: MockApi;
let discord: FakeDiscord;
const bots: BotProcess[] = [];

beforeAll(async () => {
  database = await freshDatabase();
  api = await startMockApi({ token: API_TOKEN, delayMs: 1_500 });
  discord = await FakeDiscord.start({
    guilds: [{ id: GUILD_0 }, { id: GUILD_1 }],
    gatewayShards: 2,
    maxConcurrency: 2,
    // Two bots, PostgreSQL and this test share two cores with other test files: a request is
    // judged by what becomes of it, not by the 3 s acknowledgement.
    ackDeadlineMs: 10_000,
  });
});

afterAll(async () => {
  await Promise.allSettled(bots.map((bot) => bot.stop()));
  await store?.close();
  await Promise.allSettled([discord?.close(), api?.close()]);
  await database?.drop();
}, 60_000);

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

describe('a fleet whose gateway process is SIGKILLed and started again', () => {
  it('gives shard 0 to the new process once the claim expires, serves its servers and DMs again, and delivers the dead process’s jobs once', async () => {
    const env = {
      ACEDATA_API_TOKEN: API_TOKEN,
      ACEDATA_BASE_URL: api.url,
      DATABASE_URL: database.url,
      DISCORD_TOKEN: discord.botToken,
      DISCORD_API_URL: discord.apiUrl,
      DISCORD_SHARD_COUNT: '2',
      NANO_BANANA_LEASE: `${LEASE_MS / 1000}s`,
      NANO_BANANA_POLL_INTERVAL_MS: '200',
      NANO_BANANA_MAX_CONCURRENT_JOBS: String(FLEET_LIMIT),
    };
    // Shard 0 first: it registers the commands.
    const shard0 = await startBot({
      env: { ...env, DISCORD_SHARD_IDS: '0' },
      readyTimeoutMs: 60_000,
    });
    bots.push(shard0);
    const shard1 = await startBot({
      env: { ...env, DISCORD_SHARD_IDS: '1' },
      readyTimeoutMs: 60_000,
    });
    bots.push(shard1);
    await discord.waitFor(() => discord.commands().some((command) => command.name === 'imagine'), {
      timeoutMs: 20_000,
    });
    store = await openPostgresStore({ url: database.url });

    const requests: Request[] = [];
    const send = (userId: string, place: Place, tag: string): Request => {
      const interaction = discord.sendSlashCommand({
        name: 'imagine',
        userId,
        options: { prompt: `a kite ${tag}` },
        ...(place.kind === 'guild'
          ? { guildId: place.guildId }
          : { channelId: discord.openDm(userId) }),
      });
      const request = {
        tag,
        userId,
        interaction,
        dedupKey: `discord:interaction:${interaction.id}`,
      };
      requests.push(request);
      return request;
    };
    const accepted = (batch: readonly Request[]) =>
      until(
        async () => {
          for (const request of batch) {
            if ((await store.getByDedupKey(request.dedupKey)) === undefined) return false;
          }
          return true;
        },
        30_000,
        'every request to become a job',
      );

    // Users in a server of each shard, and in DMs (shard 0's).
    const users: { id: string; place: Place }[] = [
      ...Array.from({ length: 4 }, (_, index) => ({
        id: `8${String(index).padStart(17, '0')}`,
        place: { kind: 'guild', guildId: GUILD_0 } as Place,
      })),
      ...Array.from({ length: 2 }, (_, index) => ({
        id: `8${String(10 + index).padStart(17, '0')}`,
        place: { kind: 'dm' } as Place,
      })),
      ...Array.from({ length: 3 }, (_, index) => ({
        id: `8${String(20 + index).padStart(17, '0')}`,
        place: { kind: 'guild', guildId: GUILD_1 } as Place,
      })),
    ];
    const before = users.flatMap((user) =>
      [0, 1].map((index) => send(user.id, user.place, `before-${user.id}-${index}`)),
    );
    await accepted(before);

    // Once the shard-0 process runs a task with a while to go, it dies.
    const owner = `${shard0.pid}-`;
    const ownedByShard0 = async () =>
      (await store.listByState(JOB_STATES)).filter(
        (job) => job.leaseOwner?.startsWith(owner) && !FINAL_STATES.includes(job.state),
      );
    // A job whose task has a while to run yet: the process cannot finish it before the kill.
    const runsAWhile = (job: Job) => {
      const task = job.taskId === undefined ? undefined : api.tasks.get(job.taskId);
      return (
        job.state === 'running' &&
        task !== undefined &&
        task.finishedAt === undefined &&
        task.startedAt * 1000 + task.delayMs - Date.now() > 500
      );
    };
    await until(
      async () => (await ownedByShard0()).some(runsAWhile),
      30_000,
      'the shard-0 process to run a task',
    );
    process.kill(shard0.pid, 'SIGKILL');
    const killedAt = Date.now();
    await shard0.stop();
    const heldAtKill = await ownedByShard0();
    expect(heldAtKill.some((job) => job.state === 'running')).toBe(true);
    // The dead process's claim on shard 0 outlives it, until its lease runs out.
    const shardLock = shardLockName(0, 2);
    expect(await store.lockHolder(shardLock, killedAt)).toMatch(new RegExp(`^${owner}`));

    // Shard 1's servers are served meanwhile.
    const during = users
      .filter((user) => user.place.kind === 'guild' && user.place.guildId === GUILD_1)
      .map((user) => send(user.id, user.place, `during-${user.id}`));
    await accepted(during);

    // A new shard-0 process, as a supervisor starts one: a start refused while the dead one's claim
    // lives is tried again (bounded).
    let refusals = 0;
    let replacement: BotProcess | undefined;
    while (replacement === undefined) {
      if (Date.now() - killedAt > 30_000) throw new Error('no new shard-0 process in 30 s');
      try {
        replacement = await startBot({
          env: { ...env, DISCORD_SHARD_IDS: '0' },
          readyTimeoutMs: 60_000,
        });
      } catch (error) {
        expect(String(error)).toMatch(REFUSED);
        refusals += 1;
        await sleep(500);
      }
    }
    bots.push(replacement);
    const claimedAfterMs = Date.now() - killedAt;
    // The claim is the new process's now.
    expect(await store.lockHolder(shardLock, Date.now())).toMatch(
      new RegExp(`^${replacement.pid}-`),
    );
    // Its claim is the new one, not a second session beside a live one.
    await until(
      () =>
        discord.identifies().filter((identify) => identify.shard[0] === 0).length === 2 &&
        discord.connectedShards().filter((shard) => shard[0] === 0).length === 1,
      20_000,
      'shard 0 connected again, once',
    );

    // Shard 0's servers and DMs are served again.
    const after = users
      .filter((user) => user.place.kind === 'dm' || user.place.guildId === GUILD_0)
      .map((user) => send(user.id, user.place, `after-${user.id}`));
    await accepted(after);

    const settled = await until(
      async () => {
        const jobs = await store.listByState(JOB_STATES);
        return jobs.length === requests.length &&
          jobs.every((job) => FINAL_STATES.includes(job.state))
          ? jobs
          : undefined;
      },
      90_000,
      'every job to end',
    );
    const byDedup = new Map(settled.map((job) => [job.dedupKey, job]));

    // Every request delivered once, or (a create cut by the kill) explained.
    const imageCalls = discord.calls.filter(
      (call) =>
        call.status < 300 && call.files.some((file) => file.name.startsWith('nano-banana-')),
    );
    const creates = api.creates();
    const problems: string[] = [];
    for (const request of requests) {
      const job = byDedup.get(request.dedupKey) as Job;
      const prefix = `nano-banana-${job.id.slice(0, 8)}-`;
      const posts = new Set(
        imageCalls
          .filter((call) => call.files.some((file) => file.name.startsWith(prefix)))
          .map((call) => (call.response as { id?: string } | undefined)?.id),
      ).size;
      const created = creates.filter((call) =>
        String((call.body as { prompt?: unknown }).prompt).endsWith(request.tag),
      ).length;
      if (job.state === 'done') {
        if (posts !== 1) problems.push(`${request.tag}: done with ${posts} result posts`);
        if (created !== 1) problems.push(`${request.tag}: done with ${created} creates`);
        continue;
      }
      const responses = discord.interactionResponses(request.interaction.id);
      const told = [responses.original, ...responses.followups].some((message) =>
        INTERRUPTED.test(message?.content ?? ''),
      );
      if (job.error?.code !== 'interrupted' || !told || posts !== 0 || created > 1) {
        problems.push(
          `${request.tag}: ${job.state} ${JSON.stringify(job.error)}, told ${told}, ${posts} posts, ${created} creates`,
        );
      }
    }
    expect(problems).toEqual([]);

    // The dead process's running and delivering jobs were taken over and delivered.
    const resumable = heldAtKill.filter(
      (job) => job.state === 'running' || job.state === 'delivering',
    );
    expect(resumable.length).toBeGreaterThan(0);
    for (const held of resumable) {
      expect(byDedup.get(held.dedupKey)?.state, held.id).toBe('done');
    }
    // Everything asked while shard 0 was down (shard 1) and after the restart was delivered.
    for (const request of after)
      expect(byDedup.get(request.dedupKey)?.state, request.tag).toBe('done');

    console.log(
      `fleet-gateway: ${requests.length} requests; shard 0 killed holding ${heldAtKill.length} jobs ` +
        `(${resumable.length} running or delivering); new shard-0 process refused ${refusals} time(s), ` +
        `ready ${(claimedAfterMs / 1000).toFixed(1)} s after the kill`,
    );
  }, 180_000);
});
