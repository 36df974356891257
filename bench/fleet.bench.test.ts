import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FakeDiscord, FakeInteraction } from '../test/fakes/discord/index.js';
import { type FreshDatabase, freshDatabase } from '../test/helpers/postgres.js';
import { type BotProcess, freePort, waitUntil } from './support/bot-process.js';
import { report } from './support/report.js';
import { formatMs, formatPercentiles, type Summary, summarize } from './support/stats.js';
import {
  createdAt,
  discordUser,
  finishedAt,
  firstCallback,
  startWorld,
  taskTagged,
  type World,
} from './support/world.js';

/**
 * Issue 12: the same burst of 200 `/imagine` (200 members, one each) against one process over
 * SQLite, one over PostgreSQL, and three over one PostgreSQL (shard 0 of 2, shard 1 of 2, a
 * gateway-less worker), with a fixed 3 s generation and the fleet limit at 200 so that no job
 * waits for a slot: what is measured is the fleet's own overhead. The interactions alternate
 * between a guild of shard 0 and a guild of shard 1, so each shard process receives half.
 *
 * Then the callback arriving at a process other than the job's owner, for 60 requests sent one
 * at a time at random moments (a burst would measure deliveries finishing together, which
 * burst-delivery.bench.test.ts does): each of the three
 * processes gets as PUBLIC_URL the address of the *next* one (shard 0 → shard 1 → worker →
 * shard 0). The process that claims a job is the one that creates its task, so the task's
 * `callback_url` always names a process that does not own the job: that process checks the
 * job's token in the store and publishes the callback (NOTIFY), and the owner asks the API and
 * delivers. The result poll is 60 s, so only the callback can bring a result in time.
 *
 * Claim wait (job committed as waiting, or back in line, → claim committed) comes from each process's
 * `nano_banana_claim_wait_seconds` histogram, the buckets summed over the processes: its p99 is
 * the bucket bound the 99th percentile falls in.
 */

const JOBS = 200;
const GENERATION_MS = 3000;
/** The callback scenario's requests, one at a time at random moments, as in result-latency. */
const SPACED_JOBS = 60;
/** `(id >> 22) % 2` is 0 for the first and 1 for the second. */
const GUILD_OF_SHARD_0 = String(1_000_000_000_000n << 22n);
const GUILD_OF_SHARD_1 = String(1_000_000_000_001n << 22n);

/** Every scenario: the fleet limit does not bind, and neither does the per-user one. */
const COMMON_ENV: Record<string, string> = {
  NANO_BANANA_MAX_CONCURRENT_JOBS: String(JOBS),
  LOG_LEVEL: 'warn',
};

interface Burst {
  /** First interaction sent → last images at the fake. */
  readonly finishMs: number;
  /** Interaction sent → its images at the fake, per job. */
  readonly toResult: Summary;
  /** Task finished at the mock API → its images at the fake, per job. */
  readonly afterFinish: Summary;
  /** Interaction sent → its task's create at the mock API (admission, claim, create). */
  readonly toCreate: Summary;
  /** Interaction sent → its defer at the fake (the bot saw it and answered within 3 s). */
  readonly toDefer: Summary;
  readonly claimWait: HistogramSummary;
}

interface HistogramSummary {
  readonly count: number;
  /** Bucket bounds in ms: the 50th and 99th percentiles are at most these. */
  readonly p50AtMost: number;
  readonly p99AtMost: number;
  readonly meanMs: number;
}

const results = new Map<string, Burst>();
let world: World | undefined;
const databases: FreshDatabase[] = [];

beforeAll(() => {
  results.clear();
});
afterEach(async () => {
  await world?.close();
  world = undefined;
});
afterAll(async () => {
  await Promise.allSettled(databases.splice(0).map((database) => database.drop()));
});

async function newWorld(): Promise<World> {
  world = await startWorld({
    apiDelayMs: GENERATION_MS,
    discord: true,
    discordOptions: {
      guilds: [{ id: GUILD_OF_SHARD_0 }, { id: GUILD_OF_SHARD_1 }],
      gatewayShards: 2,
      maxConcurrency: 2,
    },
  });
  return world;
}

async function newDatabaseUrl(): Promise<string> {
  const database = await freshDatabase();
  databases.push(database);
  return database.url;
}

/** Waits until both gateway shards are connected (by one process or two). */
async function bothShardsConnected(discord: FakeDiscord, bots: readonly BotProcess[]) {
  await waitUntil(() => discord.connectedShards().length >= 2, {
    timeoutMs: 60_000,
    what: 'both gateway shards',
    intervalMs: 50,
    log: () => bots.map((bot) => bot.logTail()).join('\n---\n'),
  });
}

/**
 * When each interaction's images reached the fake: the first call carrying files for its token.
 * Reads the fake's calls once each, from where it stopped.
 */
function deliveryTracker(discord: FakeDiscord, interactions: readonly FakeInteraction[]) {
  const byToken = new Map(interactions.map((interaction) => [interaction.token, interaction.id]));
  const deliveredAt = new Map<string, number>();
  let cursor = 0;
  return {
    deliveredAt,
    scan(): boolean {
      const calls = discord.calls;
      for (; cursor < calls.length; cursor += 1) {
        const call = calls[cursor];
        if (call === undefined || call.files.length === 0 || call.status >= 300) continue;
        for (const [token, id] of byToken) {
          if (!call.path.includes(token)) continue;
          if (!deliveredAt.has(id)) deliveredAt.set(id, call.at);
          byToken.delete(token);
          break;
        }
      }
      return deliveredAt.size === interactions.length;
    },
  };
}

/** A fixed-seed generator, so that every run sends at the same moments. */
function randomSequence(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

/**
 * Sends the requests (a burst, or one at a time with `gapMs` between), waits for every result
 * and measures it.
 */
async function runBurst(
  active: World,
  bots: readonly BotProcess[],
  runTag: string,
  jobs = JOBS,
  gapMs?: () => number,
) {
  const discord = active.discord;
  if (discord === undefined) throw new Error('no fake Discord');
  const sent: { interaction: FakeInteraction; sentAt: number; tag: string }[] = [];
  const firstSent = Date.now();
  for (let index = 0; index < jobs; index += 1) {
    if (gapMs !== undefined) await sleep(gapMs());
    const tag = `${runTag}-${index}`;
    const sentAt = Date.now();
    const interaction = discord.sendSlashCommand({
      name: 'imagine',
      guildId: index % 2 === 0 ? GUILD_OF_SHARD_0 : GUILD_OF_SHARD_1,
      options: { prompt: `a harbour at dawn ${tag}` },
      userId: discordUser(index),
    });
    sent.push({ interaction, sentAt, tag });
  }
  const tracker = deliveryTracker(
    discord,
    sent.map((entry) => entry.interaction),
  );
  await waitUntil(() => tracker.scan(), {
    timeoutMs: 180_000,
    what: `the ${jobs} results`,
    intervalMs: 20,
    log: () => bots.map((bot) => bot.logTail()).join('\n---\n'),
  });
  const toResult: number[] = [];
  const afterFinish: number[] = [];
  const toCreate: number[] = [];
  const toDefer: number[] = [];
  let lastAt = 0;
  for (const { interaction, sentAt, tag } of sent) {
    const at = tracker.deliveredAt.get(interaction.id);
    const task = taskTagged(active.api, tag);
    if (at === undefined || task === undefined) throw new Error(`no result for ${tag}`);
    toResult.push(at - sentAt);
    afterFinish.push(at - finishedAt(task));
    toCreate.push(createdAt(active.api, task) - sentAt);
    const deferred = firstCallback(discord, interaction);
    if (deferred === undefined) throw new Error(`no defer for ${tag}`);
    toDefer.push(deferred.at - sentAt);
    lastAt = Math.max(lastAt, at);
  }
  // Exactly one create per request: no job ran twice across the processes.
  expect(active.api.creates()).toHaveLength(jobs);
  return {
    finishMs: lastAt - firstSent,
    toResult: summarize(toResult),
    afterFinish: summarize(afterFinish),
    toCreate: summarize(toCreate),
    toDefer: summarize(toDefer),
    claimWait: await claimWaits(bots),
  } satisfies Burst;
}

/** The claim-wait histograms of every process, bucket by bucket summed, and their percentiles. */
async function claimWaits(bots: readonly BotProcess[]): Promise<HistogramSummary> {
  const buckets = new Map<number, number>();
  let count = 0;
  let sumSeconds = 0;
  for (const bot of bots) {
    const response = await fetch(`${bot.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const text = await response.text();
    for (const line of text.split('\n')) {
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      const bucket = /^nano_banana_claim_wait_seconds_bucket\{le="([^"]+)"\} /.exec(line);
      if (bucket?.[1] !== undefined) {
        const bound = bucket[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(bucket[1]);
        buckets.set(bound, (buckets.get(bound) ?? 0) + value);
      } else if (line.startsWith('nano_banana_claim_wait_seconds_count ')) count += value;
      else if (line.startsWith('nano_banana_claim_wait_seconds_sum ')) sumSeconds += value;
    }
  }
  if (count === 0) throw new Error('no claim was measured: is dist/ built from this tree?');
  const bounds = [...buckets.keys()].sort((left, right) => left - right);
  // The smallest bound whose cumulative count reaches the rank (nearest-rank, as stats.ts).
  const atMost = (fraction: number) => {
    const rank = Math.ceil(fraction * count);
    const bound = bounds.find((candidate) => (buckets.get(candidate) ?? 0) >= rank);
    return (bound ?? Number.POSITIVE_INFINITY) * 1000;
  };
  return {
    count,
    p50AtMost: atMost(0.5),
    p99AtMost: atMost(0.99),
    meanMs: (sumSeconds / count) * 1000,
  };
}

/** Shard 0, shard 1 (of 2) and a worker over one database; `publicUrls` by position if given. */
async function startThree(
  active: World,
  databaseUrl: string,
  extra: Record<string, string> = {},
  ports?: readonly number[],
  publicUrls?: readonly string[],
): Promise<BotProcess[]> {
  const discord = active.discord;
  if (discord === undefined) throw new Error('no fake Discord');
  const roles = ['0', '1', 'none'];
  const bots: BotProcess[] = [];
  for (const [index, shardIds] of roles.entries()) {
    const port = ports?.[index];
    const publicUrl = publicUrls?.[index];
    bots.push(
      await active.startBot({
        ...COMMON_ENV,
        ...extra,
        DATABASE_URL: databaseUrl,
        DISCORD_SHARD_COUNT: '2',
        DISCORD_SHARD_IDS: shardIds,
        ...(port === undefined ? {} : { PORT: String(port) }),
        ...(publicUrl === undefined ? {} : { PUBLIC_URL: publicUrl }),
      }),
    );
  }
  await bothShardsConnected(discord, bots);
  return bots;
}

const ms = (value: number) => formatMs(value);
const claimCell = (claim: HistogramSummary) =>
  `≤ ${ms(claim.p99AtMost)} (p50 ≤ ${ms(claim.p50AtMost)}, mean ${ms(claim.meanMs)}, ${claim.count} claims)`;

describe(`a burst of ${JOBS} requests over one and three processes`, () => {
  it('1 process over SQLite', async () => {
    const active = await newWorld();
    const bot = await active.startBot({ ...COMMON_ENV });
    if (active.discord === undefined) throw new Error('no fake Discord');
    await bothShardsConnected(active.discord, [bot]);
    results.set('sqlite', await runBurst(active, [bot], 'sqlite'));
  });

  it('1 process over PostgreSQL', async () => {
    const active = await newWorld();
    const bot = await active.startBot({ ...COMMON_ENV, DATABASE_URL: await newDatabaseUrl() });
    if (active.discord === undefined) throw new Error('no fake Discord');
    await bothShardsConnected(active.discord, [bot]);
    results.set('postgres-1', await runBurst(active, [bot], 'pg1'));
  });

  it('3 processes over PostgreSQL: shard 0, shard 1, a worker', async () => {
    const active = await newWorld();
    const bots = await startThree(active, await newDatabaseUrl());
    results.set('postgres-3', await runBurst(active, bots, 'pg3'));
  });

  it('3 processes, each callback at a process that does not own the job, 60 s poll', async () => {
    // One request at a time at random moments (300 to 900 ms apart), so that what is measured is
    // the callback's way to the owner, not a burst of deliveries finishing together.
    const active = await newWorld();
    const ports = [await freePort(), await freePort(), await freePort()];
    const urls = ports.map((port) => `http://127.0.0.1:${port}`);
    // Each process's tasks call back the next process, never the one that created them.
    const publicUrls = urls.map((_, index) => urls[(index + 1) % urls.length] ?? '');
    const bots = await startThree(
      active,
      await newDatabaseUrl(),
      { NANO_BANANA_POLL_INTERVAL_MS: '60000' },
      ports,
      publicUrls,
    );
    const random = randomSequence(6);
    const burst = await runBurst(active, bots, 'callback', SPACED_JOBS, () => 300 + random() * 600);
    // Every task called back, each to one of the fleet's processes, and the process took it.
    const taken = active.api.callbacks.filter((callback) => callback.status === 204);
    expect(taken).toHaveLength(SPACED_JOBS);
    for (const callback of taken) {
      expect(urls).toContain(new URL(callback.url).origin);
    }
    results.set('callback', burst);
  });

  it('reports', () => {
    const sqlite = results.get('sqlite');
    const pg1 = results.get('postgres-1');
    const pg3 = results.get('postgres-3');
    const callback = results.get('callback');
    if (sqlite === undefined || pg1 === undefined || pg3 === undefined || callback === undefined) {
      throw new Error('a scenario did not run');
    }
    const allClaims = [sqlite, pg1, pg3, callback].map((burst) => burst.claimWait);
    const worstClaimP99 = Math.max(...allClaims.map((claim) => claim.p99AtMost));
    report(
      `A burst of ${JOBS} requests on 1 and 3 processes (Discord)`,
      [
        {
          order: 50,
          what: `time to finish a burst of ${JOBS} (first request sent → last images at the fake), 1 process over SQLite / 1 over PostgreSQL / 3 over PostgreSQL`,
          figure: `${ms(sqlite.finishMs)} / ${ms(pg1.finishMs)} / ${ms(pg3.finishMs)} (3 over PG: ${(((pg3.finishMs - sqlite.finishMs) / sqlite.finishMs) * 100).toFixed(1)} % vs SQLite)`,
          target: '3 over PostgreSQL within 10% of 1 over SQLite',
          pass: pg3.finishMs <= sqlite.finishMs * 1.1,
        },
        {
          order: 51,
          what: 'time to result (interaction sent → images at the fake), 1 process over SQLite: p50 / p95 / p99',
          figure: formatPercentiles(sqlite.toResult),
          target: '(context)',
          pass: undefined,
        },
        {
          order: 52,
          what: 'the same, 1 process over PostgreSQL',
          figure: formatPercentiles(pg1.toResult),
          target: '(context)',
          pass: undefined,
        },
        {
          order: 53,
          what: 'the same, 3 processes over PostgreSQL (shard 0, shard 1, a worker)',
          figure: formatPercentiles(pg3.toResult),
          target: '(context)',
          pass: undefined,
        },
        {
          order: 54,
          what: `claim wait (job committed as waiting → claim committed) p99, from the processes’ histograms, burst of ${JOBS}: 1 over SQLite / 1 over PG / 3 over PG; and 3 over PG, ${SPACED_JOBS} requests one at a time`,
          figure: allClaims.map(claimCell).join(' / '),
          target: 'p99 ≤ 50 ms',
          pass: worstClaimP99 <= 50,
        },
        {
          order: 55,
          what: `task finished → images at the fake, 3 processes over PostgreSQL, every callback at a process that does not own the job, result poll 60 s, ${SPACED_JOBS} requests one at a time: p50 / p95 / p99`,
          figure: formatPercentiles(callback.afterFinish),
          target: 'p50 ≤ 300 ms',
          pass: callback.afterFinish.p50 <= 300,
        },
      ],
      [
        `Reproduce: \`npm run bench -- bench/fleet.bench.test.ts\` (after \`npm run build\`). Generation ${GENERATION_MS} ms at the mock API; NANO_BANANA_MAX_CONCURRENT_JOBS=${JOBS} so the fleet limit never binds (a job waiting for a slot is not claim latency), ${JOBS} members with one request each so the per-user limit does not either; each PostgreSQL scenario on a fresh database.`,
        'Without callbacks (the bursts) results are found by the default 1 s poll. Task finished → images, for context: ' +
          `SQLite ${formatPercentiles(sqlite.afterFinish)}; 1 over PG ${formatPercentiles(pg1.afterFinish)}; 3 over PG ${formatPercentiles(pg3.afterFinish)}.`,
        'Interaction sent → its defer at the fake, p50 / p95 / p99: ' +
          `SQLite ${formatPercentiles(sqlite.toDefer)}; 1 over PG ${formatPercentiles(pg1.toDefer)}; 3 over PG ${formatPercentiles(pg3.toDefer)}; one at a time, 3 over PG ${formatPercentiles(callback.toDefer)}.`,
        'Interaction sent → its create at the mock API (admission, claim and create), p50 / p95 / p99: ' +
          `SQLite ${formatPercentiles(sqlite.toCreate)}; 1 over PG ${formatPercentiles(pg1.toCreate)}; 3 over PG ${formatPercentiles(pg3.toCreate)}; one at a time, 3 over PG ${formatPercentiles(callback.toCreate)}.`,
        'Callbacks at a non-owner: each process’s PUBLIC_URL is the next process’s address, and the process that claims a job creates its task, so every callback reaches a process that does not own the job.',
        'Claim wait p99 is the histogram bucket bound the 99th percentile falls in (buckets 1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 250, 500 ms…); it counts from the insert’s commit, which the storing process tells the fleet with the queue event (a claim made before that word arrived is measured when it does; from the acceptance only if it never does).',
      ],
    );
  });
});
