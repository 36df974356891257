import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { type Job, loadConfig, type ResultImageFile, silentLogger } from '../src/core/index.js';
import { openSqliteStore } from '../src/core/jobs/stores/sqlite.js';
import { createDiscordAdapter } from '../src/discord/index.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { createMetrics } from '../src/service/metrics.js';
import type { AdapterContext, ServiceAdapter } from '../src/service/service.js';
import { FakeDiscord, type FakeDiscordOptions } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';
import {
  closeLockStores,
  type LockStore,
  openLockStore,
  processLocks,
} from './helpers/fleet-locks.js';

/**
 * Issue 12, Discord across a fleet: processes running shard 0 and shard 1 of 2, a third claiming
 * a shard already run, identifies spaced fleet-wide, commands registered once, and a worker with
 * no gateway delivering over REST. The real discord.js against the fake Discord, which routes a
 * guild's events to shard `(guild_id >> 22) % count` and DMs to shard 0; the bots share the
 * store's named locks.
 */

/** `(id >> 22) % 2` is 0 for the first and 1 for the second. */
const GUILD_OF_SHARD_0 = String(1_000_000_000_000n << 22n);
const GUILD_OF_SHARD_1 = String(1_000_000_000_001n << 22n);
const CALLBACK_ROUTE = 'POST /interactions/:interactionId/:token/callback';

let fake: FakeDiscord | undefined;
const apis: MockApi[] = [];
const bots: DiscordBot[] = [];
const adapters: ServiceAdapter[] = [];

afterEach(async () => {
  await Promise.allSettled(adapters.splice(0).map((adapter) => adapter.stop()));
  await Promise.allSettled(bots.splice(0).map((bot) => bot.stop()));
  await fake?.close();
  fake = undefined;
  await Promise.allSettled(apis.splice(0).map((api) => api.close()));
  await closeLockStores();
});

async function startFake(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  fake = await FakeDiscord.start({
    guilds: [{ id: GUILD_OF_SHARD_0 }, { id: GUILD_OF_SHARD_1 }],
    gatewayShards: 2,
    ...options,
  });
  return fake;
}

async function startApi(delayMs = 50): Promise<MockApi> {
  const api = await startMockApi({ token: API_TOKEN, delayMs });
  apis.push(api);
  return api;
}

/** A bot process running the given shards of 2, sharing `store`'s locks as `owner`. */
async function startShard(
  discord: FakeDiscord,
  api: MockApi,
  shardIds: string,
  locks: ReturnType<typeof processLocks>,
): Promise<DiscordBot> {
  const bot = await startDiscordBot(discord, api, {
    env: { DISCORD_SHARD_COUNT: '2', DISCORD_SHARD_IDS: shardIds },
    locks,
  });
  bots.push(bot);
  return bot;
}

/** Shard 0 and shard 1 of 2 in two processes, each with its own mock API to tell them apart. */
async function startTwoShards(discord: FakeDiscord, store: LockStore) {
  const [api0, api1] = await Promise.all([startApi(), startApi()]);
  const locks0 = processLocks(store, 'process-0');
  const locks1 = processLocks(store, 'process-1');
  await Promise.all([
    startShard(discord, api0, '0', locks0),
    startShard(discord, api1, '1', locks1),
  ]);
  return { api0, api1, locks0, locks1 };
}

function promptsAt(api: MockApi): string[] {
  return api
    .creates()
    .map((call) => String((call.body as { prompt?: unknown }).prompt))
    .sort();
}

function answered(discord: FakeDiscord, interactionId: string): boolean {
  const original = discord.interactionResponses(interactionId).original;
  return (original?.attachments.length ?? 0) > 0;
}

/** The bot's messages with images in a channel. */
function botImages(discord: FakeDiscord, channelId: string) {
  return discord
    .messages(channelId)
    .filter((message) => message.author.id === discord.botUserId && message.attachments.length > 0);
}

describe('Discord shards across processes', () => {
  it('gives each process only its shard’s servers, and DMs to shard 0', async () => {
    const discord = await startFake({ maxConcurrency: 2 });
    expect(discord.shardOf(GUILD_OF_SHARD_0, 2)).toBe(0);
    expect(discord.shardOf(GUILD_OF_SHARD_1, 2)).toBe(1);
    const { api0, api1 } = await startTwoShards(discord, await openLockStore());
    expect(
      discord
        .connectedShards()
        .map((shard) => shard.join('/'))
        .sort(),
    ).toEqual(['0/2', '1/2']);

    const dm = discord.openDm(discord.userId);
    const inGuild0 = discord.sendSlashCommand({
      name: 'imagine',
      guildId: GUILD_OF_SHARD_0,
      options: { prompt: 'in the guild of shard 0' },
    });
    const inGuild1 = discord.sendSlashCommand({
      name: 'imagine',
      guildId: GUILD_OF_SHARD_1,
      options: { prompt: 'in the guild of shard 1' },
    });
    const inDm = discord.sendSlashCommand({
      name: 'imagine',
      channelId: dm,
      options: { prompt: 'an imagine in a DM' },
    });
    discord.postUserMessage({ channelId: dm, content: 'a message in a DM' });
    const interactions = [inGuild0, inGuild1, inDm];
    await discord.waitFor(
      () =>
        (interactions.every((interaction) => answered(discord, interaction.id)) &&
          botImages(discord, dm).length > 0) ||
        undefined,
      { timeoutMs: 30_000, description: 'the four results' },
    );

    expect(promptsAt(api0)).toEqual([
      'a message in a DM',
      'an imagine in a DM',
      'in the guild of shard 0',
    ]);
    expect(promptsAt(api1)).toEqual(['in the guild of shard 1']);
    // Each interaction was acknowledged once: no second process saw it.
    for (const interaction of interactions) {
      const callbacks = discord.calls.filter(
        (call) => call.route === CALLBACK_ROUTE && call.path.includes(`/${interaction.id}/`),
      );
      expect(callbacks, interaction.id).toHaveLength(1);
    }
  });

  it('refuses to start a process on a shard another live process runs, naming the shard', async () => {
    const discord = await startFake({ maxConcurrency: 2 });
    const store = await openLockStore();
    await startTwoShards(discord, store);
    const identified = discord.identifies().length;

    const api = await startApi();
    await expect(startShard(discord, api, '1', processLocks(store, 'process-2'))).rejects.toThrow(
      // The whole message, as the operator reads it when the start stops.
      /^Discord shard 1 \(of 2\) is already run by another process \(process-1\): give each process its own DISCORD_SHARD_IDS\. If that process has stopped, its claim expires within 30 s\.$/,
    );
    // It never reached the gateway, and the claim stayed with its holder.
    expect(discord.identifies()).toHaveLength(identified);
    expect(await store.lockHolder('discord-shard:1/2', discord.now())).toBe('process-1');
  });

  it('claims its shards for NANO_BANANA_LEASE, so a dead process’s shard is free that soon', async () => {
    const discord = await startFake({ maxConcurrency: 2 });
    const store = await openLockStore();
    const api = await startApi();
    const bot = await startDiscordBot(discord, api, {
      env: { DISCORD_SHARD_COUNT: '2', DISCORD_SHARD_IDS: '0', NANO_BANANA_LEASE: '4s' },
      locks: processLocks(store, 'process-0'),
    });
    bots.push(bot);
    // Renewed or not, the claim ends within the lease from now, not the default 30 s.
    const now = discord.now();
    expect(await store.lockHolder('discord-shard:0/2', now + 1_000)).toBe('process-0');
    expect(await store.lockHolder('discord-shard:0/2', now + 4_001)).toBeUndefined();
    // And the refusal names it.
    await expect(
      startDiscordBot(discord, await startApi(), {
        env: { DISCORD_SHARD_COUNT: '2', DISCORD_SHARD_IDS: '0', NANO_BANANA_LEASE: '4s' },
        locks: processLocks(store, 'process-1'),
      }),
    ).rejects.toThrow(/its claim expires within 4 s\.$/);
  });

  it('registers the commands from one process when two start together', async () => {
    const discord = await startFake({ maxConcurrency: 2 });
    const [api0, api1] = await Promise.all([startApi(), startApi()]);
    const store = await openLockStore();
    // The first registration's write waits until the other process has started: without the lock
    // the other would read "no commands" meanwhile, and write them too.
    const release = discord.holdNext('PUT /applications/:applicationId/commands');
    const starts = [
      startShard(discord, api0, '0', processLocks(store, 'process-0')),
      startShard(discord, api1, '1', processLocks(store, 'process-1')),
    ];
    await Promise.race(starts);
    release();
    await Promise.all(starts);

    const writes = discord.calls.filter(
      (call) => call.route === 'PUT /applications/:applicationId/commands',
    );
    expect(writes).toHaveLength(1);
    expect(discord.commands().map((command) => command.name)).toContain('imagine');
    // Released once done: a later start (a rolling deploy) checks the commands again.
    expect(await store.lockHolder('discord-commands', discord.now())).toBeUndefined();
  });

  it('spaces identifies of one bucket by Discord’s 5 s window across processes', async () => {
    // One identify bucket (max_concurrency 1). The bots tell time by the fake's clock, which the
    // test moves on: no real 5 s wait.
    const discord = await startFake({ maxConcurrency: 1 });
    const store = await openLockStore();
    const [api0, api1] = await Promise.all([startApi(), startApi()]);
    const locks0 = processLocks(store, 'process-0');
    const locks1 = processLocks(store, 'process-1');
    const starting = Promise.all([
      startShard(discord, api0, '0', locks0),
      startShard(discord, api1, '1', locks1),
    ]);
    await discord.waitFor(() => discord.identifies().length > 0 || undefined, {
      timeoutMs: 20_000,
      description: 'the first identify',
    });
    const refusals = () =>
      [...locks0.attempts, ...locks1.attempts].filter(
        (attempt) => attempt.name === 'discord-identify:0' && !attempt.won,
      ).length;
    await discord.waitFor(() => refusals() >= 3 || undefined, {
      timeoutMs: 20_000,
      description: 'the second process waiting for the bucket',
    });
    expect(discord.identifies()).toHaveLength(1);

    discord.advanceClock(5000);
    await starting;
    const [first, second] = discord.identifies();
    expect(second && first && second.at - first.at).toBeGreaterThanOrEqual(5000);
    expect([first?.shard[0], second?.shard[0]].sort()).toEqual([0, 1]);
  });
});

describe('a Discord worker without a gateway (DISCORD_SHARD_IDS=none)', () => {
  /** The worker's adapter alone: delivering needs no engine, only REST. */
  function workerAdapter(discord: FakeDiscord, store: LockStore): ServiceAdapter {
    const env = {
      ACEDATA_API_TOKEN: API_TOKEN,
      DISCORD_TOKEN: discord.botToken,
      DISCORD_API_URL: discord.apiUrl,
      DISCORD_SHARD_IDS: 'none',
      // Only its presence is read by the Discord settings: `none` needs a shared store.
      DATABASE_URL: 'postgres://fleet.invalid/bot',
    };
    const context = {
      config: loadConfig(env, mkdtempSync(path.join(tmpdir(), 'nb-worker-'))),
      env,
      logger: silentLogger,
      metrics: createMetrics(),
      locks: processLocks(store, 'worker'),
      mount: () => undefined,
    } as unknown as AdapterContext;
    const adapter = createDiscordAdapter({ now: () => discord.now() })(context);
    adapters.push(adapter);
    return adapter;
  }

  it('delivers a job another process accepted, over REST only: reply, channel, then DM', async () => {
    const discord = await startFake({ guilds: [{}], gatewayShards: 1 });
    const store = await openLockStore();
    // The task never finishes: the worker is the one that delivers.
    const api = await startApi(600_000);
    const gateway = await startDiscordBot(discord, api, {
      locks: processLocks(store, 'gateway'),
      // Its job is left running for the worker: no need to wait for it at the stop.
      env: { NANO_BANANA_SHUTDOWN_GRACE: '1s' },
    });
    bots.push(gateway);
    const interaction = discord.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'delivered by the worker' },
    });
    await discord.waitFor(() => api.creates().length > 0 || undefined, {
      description: 'the create',
    });
    // With no shard settings it runs every shard Discord recommends (1 here), claimed as such,
    // and gives the claim up when it stops.
    expect(await store.lockHolder('discord-shard:0/1', discord.now())).toBe('gateway');
    await gateway.stop();
    bots.splice(bots.indexOf(gateway), 1);
    expect(await store.lockHolder('discord-shard:0/1', discord.now())).toBeUndefined();
    const job = await runningJob(gateway.dataDir, 'delivered by the worker');

    const worker = workerAdapter(discord, store);
    expect(worker.ready()).toBe(false);
    await worker.start();
    expect(worker.ready()).toBe(true);
    expect(discord.identifies()).toHaveLength(1);
    expect(discord.connectedClients()).toBe(0);

    const images = [await resultImage()];
    const signal = new AbortController().signal;
    // While the interaction's token lasts: its reply, through the webhook.
    await worker.platform.deliver(job, images, signal);
    expect(discord.interactionResponses(interaction.id).original?.attachments).toHaveLength(1);

    // Token expired: a message in the channel, with the bot token the worker set.
    discord.advanceClock(16 * 60_000);
    await worker.platform.deliver(job, images, signal);
    const inChannel = botImages(discord, discord.channelId).filter(
      (message) => message.id !== discord.interactionResponses(interaction.id).original?.id,
    );
    expect(inChannel).toHaveLength(1);

    // The channel refuses: a DM.
    discord.denyPermission(discord.channelId, 'SEND_MESSAGES');
    await worker.platform.deliver(job, images, signal);
    expect(botImages(discord, discord.openDm(job.requesterId))).toHaveLength(1);
    expect(discord.internalErrors).toEqual([]);
    await worker.stop();
    expect(worker.ready()).toBe(false);
  });
});

/** The job a stopped bot left running, read from its store. */
async function runningJob(dataDir: string, prompt: string): Promise<Job> {
  const store = await openSqliteStore({ path: path.join(dataDir, 'jobs.db') });
  try {
    const running = await store.listByState(['running']);
    const job = running.find((candidate) => candidate.prompt === prompt);
    if (job === undefined) throw new Error(`no running job “${prompt}”`);
    return job;
  } finally {
    await store.close();
  }
}

async function resultImage(): Promise<ResultImageFile> {
  const bytes = await sharp({
    create: { width: 64, height: 64, channels: 3, background: '#ffcc00' },
  })
    .png()
    .toBuffer();
  return {
    bytes,
    mime: 'image/png',
    width: 64,
    height: 64,
    index: 0,
    sourceUrl: 'http://127.0.0.1/result.png',
  };
}
