import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../src/core/clock.js';
import { loadConfig } from '../src/core/config.js';
import { JobEngine } from '../src/core/jobs/engine.js';
import type { Job, JobState } from '../src/core/jobs/job.js';
import type { JobStore } from '../src/core/jobs/store.js';
import { openSqliteStore } from '../src/core/jobs/stores/sqlite.js';
import { silentLogger } from '../src/core/logger.js';
import { startService } from '../src/service/service.js';
import { RecordingAdapter } from './helpers/engine-fixture.js';

/**
 * Issue 11: final jobs are deleted once older than `NANO_BANANA_RETENTION_DAYS`, at start and on
 * the engine's prune timer, with the days read from the settings as days.
 */

const DAY_MS = 86_400_000;
const BASE_ENV = {
  ACEDATA_API_TOKEN: 'retention-api-token',
  ACEDATA_BASE_URL: 'http://127.0.0.1:9',
};

/** A stored job last touched `ageDays` before `now`. */
function storedJob(
  id: string,
  state: JobState,
  now: number,
  ageDays: number,
  platform = 'test',
): Job {
  const at = now - ageDays * DAY_MS;
  const final = state !== 'queued';
  return {
    id,
    platform,
    dedupKey: undefined,
    requesterId: 'alice',
    serverId: 'server-1',
    channelId: 'channel-1',
    locale: 'en',
    requesterIsAdmin: false,
    action: 'generate',
    prompt: `job ${id}`,
    options: { model: 'nano-banana' },
    inputs: [],
    destination: {},
    parentJobId: undefined,
    state,
    createdAt: at,
    updatedAt: at,
    startedAt: final ? at : undefined,
    finishedAt: final ? at : undefined,
    taskId: undefined,
    traceId: undefined,
    callbackToken: `token-${id}`,
    reservedImages: 0,
    quotaDay: new Date(at).toISOString().slice(0, 10),
    result: undefined,
    error: undefined,
    delivery: undefined,
    deliveryAttempts: 0,
    timeoutNotified: false,
  };
}

describe('retention', () => {
  it('prunes at start through the service: with the default 30 days, 29.9 days old stays and 30.1 goes', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'nb-retention-'));
    const now = Date.now();
    const seed = await openSqliteStore({ path: path.join(dataDir, 'jobs.db') });
    await seed.insert(storedJob('done-29.9', 'done', now, 29.9));
    await seed.insert(storedJob('failed-29.9', 'failed', now, 29.9));
    await seed.insert(storedJob('done-30.1', 'done', now, 30.1));
    await seed.insert(storedJob('cancelled-30.1', 'cancelled', now, 30.1));
    await seed.insert(storedJob('undelivered-30.1', 'undelivered', now, 30.1));
    // Unfinished work is never pruned, however old (its platform is not served here: it waits).
    await seed.insert(storedJob('queued-40', 'queued', now, 40, 'elsewhere'));
    await seed.close();

    const env = { ...BASE_ENV, DATA_DIR: dataDir, PORT: '0', NANO_BANANA_SHUTDOWN_GRACE: '1s' };
    const adapter = new RecordingAdapter('test');
    const service = await startService({
      config: loadConfig(env, dataDir),
      env,
      logger: silentLogger,
      host: '127.0.0.1',
      adapters: [
        () => ({
          name: 'test',
          platform: adapter,
          start: async () => {},
          ready: () => true,
          stop: async () => {},
        }),
      ],
    });
    try {
      const { engine } = service;
      for (const id of ['done-29.9', 'failed-29.9', 'queued-40']) {
        expect(await engine.getJob(id), id).toBeDefined();
      }
      for (const id of ['done-30.1', 'cancelled-30.1', 'undelivered-30.1']) {
        expect(await engine.getJob(id), id).toBeUndefined();
      }
    } finally {
      await service.stop();
    }
  });

  it('prunes on its timer, NANO_BANANA_RETENTION_DAYS=7 read as 7 days', async () => {
    const config = loadConfig({ ...BASE_ENV, NANO_BANANA_RETENTION_DAYS: '7' }, tmpdir());
    const store = await openSqliteStore({
      path: path.join(mkdtempSync(path.join(tmpdir(), 'nb-retention-')), 'jobs.db'),
    });
    // Every cutoff the engine asks the store for, timer or start.
    const cutoffs: number[] = [];
    const countingStore = new Proxy(store, {
      get(target, property) {
        if (property === 'prune') {
          return (before: number) => {
            cutoffs.push(before);
            return target.prune(before);
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as JobStore;
    let now = Date.UTC(2026, 5, 1);
    const clock: Clock = {
      now: () => now,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    };
    const engine = new JobEngine({
      store: countingStore,
      client: { create: () => Promise.reject(new Error('no creates here')) },
      follower: {
        follow: () => Promise.reject(new Error('no tasks here')),
        nudge: () => {},
      },
      requestLimits: config,
      access: config.access,
      quotas: config.quotas,
      // The timer's interval is the only thing shortened: a real one is hours.
      limits: { ...config.engine, pruneEveryMs: 20 },
      clock,
      logger: silentLogger,
    });
    engine.registerAdapter(new RecordingAdapter('test'));
    await store.insert(storedJob('done-6.9', 'done', now, 6.9));
    await store.insert(storedJob('done-7.1', 'done', now, 7.1));

    const until = async (predicate: () => boolean | Promise<boolean>, what: string) => {
      const deadline = Date.now() + 10_000;
      while (!(await predicate())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    try {
      await engine.start();
      // At start: the cutoff is exactly seven days back.
      expect(cutoffs).toEqual([now - 7 * DAY_MS]);
      expect(await store.get('done-7.1')).toBeUndefined();
      expect(await store.get('done-6.9')).toBeDefined();

      // The timer runs again with nothing yet old enough.
      await until(() => cutoffs.length >= 2, 'a prune on the timer');
      expect(await store.get('done-6.9')).toBeDefined();

      // A fifth of a day later the job is 7.1 days old: the timer takes it.
      now += 0.2 * DAY_MS;
      const runs = cutoffs.length;
      await until(
        async () => (await store.get('done-6.9')) === undefined,
        'the timer to prune the aged job',
      );
      expect(cutoffs.length).toBeGreaterThan(runs);
      expect(cutoffs.at(-1)).toBe(now - 7 * DAY_MS);
    } finally {
      await engine.stop(100);
      await store.close();
    }
  });
});
