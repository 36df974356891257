import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InputImage } from '../src/core/images/index.js';
import { CALLBACK_PATH_PREFIX } from '../src/core/jobs/engine.js';
import type { JobStore } from '../src/core/jobs/store.js';
import { openSqliteStore } from '../src/core/jobs/stores/sqlite.js';
import { type MockApi, type MockTask, startMockApi } from '../src/mock-api/index.js';
import { API_TOKEN, createEngine, type EngineFixture, request } from './helpers/engine-fixture.js';
import { peakOverlap } from './helpers/peak-overlap.js';

/**
 * Issue 12: several engines over one store behave as one fleet. Each engine here stands for a
 * process (an owner of its own, its own API client, follower and adapter); they share one store
 * object, as processes share one database.
 */

let api: MockApi;
const fixtures: EngineFixture[] = [];
const stores: JobStore[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  await Promise.all(fixtures.splice(0).map((fixture) => fixture.close()));
  await Promise.all(stores.splice(0).map((store) => store.close()));
  api.setDelay(50);
});

async function sharedStore(): Promise<JobStore> {
  const store = await openSqliteStore({ path: ':memory:' });
  stores.push(store);
  return store;
}

async function engineOver(
  store: JobStore,
  options: Parameters<typeof createEngine>[1] = {},
): Promise<EngineFixture> {
  const fixture = await createEngine(api, { store, pollEveryMs: 50, ...options });
  fixtures.push(fixture);
  return fixture;
}

/**
 * A store that stops answering, as a process that died (SIGKILL, a lost machine) answers nothing:
 * once `kill()` is called, every call of its engine waits forever and renews no lease.
 */
function killable(store: JobStore): { store: JobStore; kill(): void } {
  let dead = false;
  const proxy = new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property === 'subscribe') return value.bind(target);
      return (...args: unknown[]) =>
        dead ? new Promise(() => {}) : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  return {
    store: proxy,
    kill: () => {
      dead = true;
    },
  };
}

const promptOf = (task: MockTask) => String(task.request.prompt);
const createsFor = (prompt: string) =>
  api.creates().filter((call) => (call.body as { prompt?: string }).prompt === prompt);

describe('two engines over one store', () => {
  it('share the fleet-wide limits: never more in flight than the global or per-user limit across both', async () => {
    api.setDelay(300);
    const store = await sharedStore();
    const limits = { maxConcurrentJobs: 3, maxJobsPerUser: 2 };
    // Each process delivers a platform of its own, so that both surely take part (a process
    // claims only what it can deliver): the limits bind across the two, not within one.
    const first = await engineOver(store, { limits, platform: 'east' });
    const second = await engineOver(store, { limits, platform: 'west' });
    await first.engine.start();
    await second.engine.start();
    // Each engine is given jobs of both users: alone, each would run 3 at once, 6 together. Alice
    // has the most, so that she is left alone in line with slots free.
    const east = { platform: 'east' };
    const west = { platform: 'west' };
    for (let index = 0; index < 4; index++) {
      await first.engine.submit(request(`fleet alice ${index}`, { requesterId: 'alice', ...east }));
      await second.engine.submit(
        request(`fleet alice ${index + 4}`, { requesterId: 'alice', ...west }),
      );
    }
    await first.engine.submit(request('fleet bob 0', { requesterId: 'bob', ...east }));
    await second.engine.submit(request('fleet bob 1', { requesterId: 'bob', ...west }));
    const delivered = () => first.adapter.deliveries.length + second.adapter.deliveries.length;
    await first.adapter.until(() => delivered() === 10, 30_000);
    // Both processes took part.
    expect(first.adapter.deliveries.length).toBeGreaterThan(0);
    expect(second.adapter.deliveries.length).toBeGreaterThan(0);
    const tasks = [...api.tasks.values()].filter((task) => promptOf(task).startsWith('fleet '));
    expect(tasks).toHaveLength(10);
    expect(peakOverlap(tasks)).toBe(3);
    const aliceTasks = tasks.filter((task) => promptOf(task).startsWith('fleet alice'));
    expect(peakOverlap(aliceTasks)).toBe(2);
    // Every job delivered once, by one of them.
    const ids = [...first.adapter.deliveries, ...second.adapter.deliveries].map((d) => d.jobId);
    expect(ids).toHaveLength(10);
    expect(new Set(ids).size).toBe(10);
  });

  it('take over a dead engine’s jobs once its leases expire: the running one is delivered once, the creating one fails interrupted', async () => {
    api.setDelay(60_000);
    const store = await sharedStore();
    const dying = killable(store);
    let holdCreate = true;
    const first: EngineFixture = await engineOver(dying.store, {
      leaseMs: 300,
      client: {
        // The create of `in creating` reaches nothing and is never answered.
        create: (body, options) =>
          body.prompt === 'in creating' && holdCreate
            ? new Promise(() => {})
            : first.client.create(body, options),
      },
    });
    await first.engine.start();
    const running = await first.engine.submit(request('in running'));
    await first.adapter.until(async () => (await store.get(running.job.id))?.state === 'running');
    const creating = await first.engine.submit(request('in creating', { requesterId: 'bob' }));
    await first.adapter.until(async () => (await store.get(creating.job.id))?.state === 'creating');
    expect((await store.get(running.job.id))?.leaseOwner).toBe(first.engine.owner);

    // The first process dies: it answers nothing, renews nothing, follows nothing (and is never
    // stopped: its stop would wait on its store forever).
    dying.kill();
    first.follower.close();
    fixtures.splice(fixtures.indexOf(first), 1);
    holdCreate = false;
    // Not a restart over a store of its own: only expired leases are taken over.
    const second = await engineOver(store, { leaseMs: 300, takeOverAllAtStart: false });
    await second.engine.start();
    await second.adapter.until(
      async () => (await store.get(creating.job.id))?.state === 'failed',
      10_000,
    );
    expect(await store.get(creating.job.id)).toMatchObject({ error: { code: 'interrupted' } });
    expect(second.adapter.eventsOf(creating.job.id).at(-1)).toMatchObject({
      kind: 'failed',
      error: { code: 'interrupted' },
    });
    await second.adapter.until(
      async () => (await store.get(running.job.id))?.leaseOwner === second.engine.owner,
      10_000,
    );
    api.finishTask((await store.get(running.job.id))?.taskId ?? '');
    await second.adapter.until(
      async () => (await store.get(running.job.id))?.state === 'done',
      10_000,
    );
    expect(second.adapter.deliveries.map((delivery) => delivery.jobId)).toEqual([running.job.id]);
    expect(first.adapter.deliveries).toEqual([]);
    // Never a second paid create.
    expect(createsFor('in running')).toHaveLength(1);
    expect(createsFor('in creating')).toHaveLength(0);
    await first.client.close();
  });

  it('passes a callback received by the engine that does not follow the task on to the one that does', async () => {
    let receiver: EngineFixture | undefined;
    const server: Server = createServer((incoming, response) => {
      const [jobId = '', token = ''] = (incoming.url ?? '')
        .slice(CALLBACK_PATH_PREFIX.length)
        .split('/');
      incoming.resume();
      incoming.on('end', async () => {
        const accepted = (await receiver?.engine.handleCallback(jobId, token)) ?? false;
        response.writeHead(accepted ? 204 : 404).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      const store = await sharedStore();
      // The owner's follower would look at the task only after 10 minutes: only a nudge helps.
      const owner = await engineOver(store, {
        publicUrl: `http://127.0.0.1:${port}`,
        pollIntervalMs: 600_000,
      });
      receiver = await engineOver(store, { pollIntervalMs: 600_000 });
      await owner.engine.start();
      const submitted = await owner.engine.submit(request('called back elsewhere'));
      await owner.adapter.until(
        async () => (await store.get(submitted.job.id))?.state === 'running',
      );
      await receiver.engine.start();
      await owner.adapter.until(
        async () => (await store.get(submitted.job.id))?.state === 'done',
        10_000,
      );
      expect(owner.adapter.deliveries.map((delivery) => delivery.jobId)).toEqual([
        submitted.job.id,
      ]);
      // The task's callback went to the other engine, which answered it and woke the owner.
      const taskId = (await store.get(submitted.job.id))?.taskId;
      expect(api.callbacks.filter((callback) => callback.taskId === taskId)).toEqual([
        expect.objectContaining({ status: 204 }),
      ]);
      expect(owner.follower.retrievals).toBe(1);
      expect(receiver.follower.retrievals).toBe(0);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('aborts the preparation of a job on the engine that runs it when another engine cancels it', async () => {
    const store = await sharedStore();
    const owner = await engineOver(store);
    let fetchSignal: AbortSignal | undefined;
    let abortedAt: number | undefined;
    owner.adapter.fetchInput = (_job, _input, signal) =>
      new Promise<InputImage>((_resolve, reject) => {
        if (signal === undefined) throw new Error('no signal');
        fetchSignal = signal;
        signal.addEventListener('abort', () => {
          abortedAt = Date.now();
          reject(signal.reason);
        });
      });
    await owner.engine.start();
    const fetching = await owner.engine.submit(
      request('a huge input elsewhere', {
        action: 'edit',
        inputs: [{ kind: 'platform', ref: 'big' }],
      }),
    );
    await owner.adapter.until(() => fetchSignal !== undefined);
    expect(owner.engine.stats.inFlight).toBe(1);
    const other = await engineOver(store);
    await other.engine.start();
    const cancelledAt = Date.now();
    expect(await other.engine.cancel(fetching.job.id, 'alice')).toBe('cancelled');
    await owner.adapter.until(() => abortedAt !== undefined, 5000);
    expect((abortedAt ?? Number.POSITIVE_INFINITY) - cancelledAt).toBeLessThan(1000);
    await owner.adapter.until(() => owner.engine.stats.inFlight === 0, 5000);
    expect((await store.get(fetching.job.id))?.state).toBe('cancelled');
    expect(createsFor('a huge input elsewhere')).toHaveLength(0);
  });

  it('share the used_up pause: the other engine sends no create until it is over', async () => {
    const pauseMs = 800;
    const store = await sharedStore();
    const broke = await engineOver(store, { limits: { usedUpPauseMs: pauseMs } });
    // Only the second delivers `other`: only it may claim the waiting job.
    const waiter = await engineOver(store, {
      platform: 'other',
      limits: { usedUpPauseMs: pauseMs },
    });
    await broke.engine.start();
    await waiter.engine.start();
    const usedUpJob = await broke.engine.submit(request('fleet broke mock:error=used_up'));
    await broke.adapter.until(async () => (await store.get(usedUpJob.job.id))?.state === 'failed');
    expect((await store.get(usedUpJob.job.id))?.error?.code).toBe('balance_used_up');
    const [usedUp] = createsFor('fleet broke mock:error=used_up');
    expect(usedUp?.status).toBe(403);
    const waiting = await waiter.engine.submit(
      request('waits on the other engine', { platform: 'other', requesterId: 'bob' }),
    );
    await waiter.adapter.until(() => waiter.engine.stats.paused, 5000);
    await waiter.adapter.until(
      async () => (await store.get(waiting.job.id))?.state === 'done',
      10_000,
    );
    const [create] = createsFor('waits on the other engine');
    expect((create?.at ?? 0) - (usedUp?.at ?? 0)).toBeGreaterThanOrEqual(pauseMs);
  });
});

describe('deadlines in a fleet', () => {
  it('fails a waiting job whose submitter died at its timeout, by another engine’s sweep, and tells it', async () => {
    const store = await sharedStore();
    // Nothing may start: the job can only wait until its deadline.
    await store.pauseCreatesUntil(Date.now() + 60_000);
    const limits = { jobTimeoutMs: 400 };
    const survivor = await engineOver(store, { platform: 'other', limits, pollEveryMs: 100 });
    await survivor.engine.start();
    const dying = killable(store);
    const submitter = await engineOver(dying.store, { platform: 'elsewhere', limits });
    await submitter.engine.start();
    const orphan = await submitter.engine.submit(
      request('orphaned in line', { platform: 'other' }),
    );
    // Its submitter dies with the job's timers: only the survivor's sweep can meet the deadline.
    dying.kill();
    submitter.follower.close();
    fixtures.splice(fixtures.indexOf(submitter), 1);
    await survivor.adapter.until(
      async () => (await store.get(orphan.job.id))?.state === 'failed',
      10_000,
    );
    expect(await store.get(orphan.job.id)).toMatchObject({
      error: { code: 'timeout' },
      reservedImages: 0,
    });
    expect(survivor.adapter.eventsOf(orphan.job.id)).toEqual([
      { kind: 'failed', error: { code: 'timeout', params: {} } },
    ]);
    expect(createsFor('orphaned in line')).toHaveLength(0);
    await submitter.client.close();
  });
});

describe('the scheduler', () => {
  it('starts a job queued by another engine without any word from the store, on its poll', async () => {
    const store = await sharedStore();
    // A store whose events never arrive (a lost NOTIFY): only the poll can tell of new work.
    const deaf = new Proxy(store, {
      get(target, property) {
        if (property === 'subscribe') return () => () => {};
        if (property === 'publish') return async () => {};
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const submitter = await engineOver(deaf, { platform: 'elsewhere' });
    const runner = await engineOver(deaf, { platform: 'other', pollEveryMs: 200 });
    await submitter.engine.start();
    await runner.engine.start();
    const submitted = await submitter.engine.submit(
      request('told by nobody', { platform: 'other' }),
    );
    await runner.adapter.until(
      async () => (await store.get(submitted.job.id))?.state === 'done',
      10_000,
    );
    expect(runner.adapter.deliveries.map((delivery) => delivery.jobId)).toEqual([submitted.job.id]);
  });

  it('counts a claim’s wait from the insert’s commit, told by the process that stored the job', async () => {
    const store = await sharedStore();
    // The submitter's inserts wait 1.5 s before they start, as behind a burst of admissions: the
    // job is accepted (its createdAt) long before it can be claimed.
    const slowInserts = new Proxy(store, {
      get(target, property) {
        if (property === 'insert') {
          return async (...args: Parameters<JobStore['insert']>) => {
            await new Promise((resolve) => setTimeout(resolve, 1500));
            return target.insert(...args);
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const submitter = await engineOver(slowInserts, { platform: 'elsewhere' });
    // Only the runner can run it, and its poll is too slow to matter: the word from the store does.
    const runner = await engineOver(store, { platform: 'other', pollEveryMs: 60_000 });
    const waits: number[] = [];
    runner.engine.on('claimed', (_job, waitMs) => waits.push(waitMs));
    await submitter.engine.start();
    await runner.engine.start();
    const submitted = await submitter.engine.submit(
      request('claimed from its commit', { platform: 'other' }),
    );
    await runner.adapter.until(
      async () => (await store.get(submitted.job.id))?.state === 'done',
      10_000,
    );
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(0);
    expect(waits[0]).toBeLessThan(1000);
  });

  it('measures a claim made before the word of its job’s commit once that word arrives', async () => {
    const store = await sharedStore();
    const slowInserts = new Proxy(store, {
      get(target, property) {
        if (property === 'insert') {
          return async (...args: Parameters<JobStore['insert']>) => {
            await new Promise((resolve) => setTimeout(resolve, 1500));
            return target.insert(...args);
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    // The runner hears every event 700 ms late, and polls every 50 ms: it claims the job first.
    const lateWords = new Proxy(store, {
      get(target, property) {
        if (property === 'subscribe') {
          return (listener: Parameters<JobStore['subscribe']>[0]) =>
            target.subscribe((event) => {
              setTimeout(() => listener(event), 700);
            });
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const submitter = await engineOver(slowInserts, { platform: 'elsewhere' });
    const runner = await engineOver(lateWords, { platform: 'other', pollEveryMs: 50 });
    const waits: number[] = [];
    runner.engine.on('claimed', (_job, waitMs) => waits.push(waitMs));
    await submitter.engine.start();
    await runner.engine.start();
    const submitted = await submitter.engine.submit(
      request('claimed before the word', { platform: 'other' }),
    );
    await runner.adapter.until(
      async () => (await store.get(submitted.job.id))?.state === 'done' && waits.length > 0,
      10_000,
    );
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(0);
    expect(waits[0]).toBeLessThan(1000);
  });

  it('survives a store that fails a claim, and runs the job on a later round', async () => {
    const store = await sharedStore();
    let failures = 3;
    const flaky = new Proxy(store, {
      get(target, property) {
        if (property === 'claimNext') {
          return async (...args: Parameters<JobStore['claimNext']>) => {
            if (failures > 0) {
              failures--;
              throw new Error('connection reset');
            }
            return target.claimNext(...args);
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const fixture = await engineOver(flaky, { pollEveryMs: 100 });
    await fixture.engine.start();
    const submitted = await fixture.engine.submit(request('claimed at last'));
    await fixture.adapter.until(
      async () => (await store.get(submitted.job.id))?.state === 'done',
      10_000,
    );
    expect(failures).toBe(0);
    expect(createsFor('claimed at last')).toHaveLength(1);
  });

  it('picks up a job its own work left behind on a store failure, and delivers it once', async () => {
    const store = await sharedStore();
    // The move to delivering fails, and so does the failure recorded after it: the job is left
    // running, leased to this engine, with nobody working on it.
    let failures = 2;
    const flaky = new Proxy(store, {
      get(target, property) {
        if (property === 'transition') {
          return async (...args: Parameters<JobStore['transition']>) => {
            const state = args[2].state;
            if (failures > 0 && (state === 'delivering' || state === 'failed')) {
              failures--;
              throw new Error('connection reset');
            }
            return target.transition(...args);
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const fixture = await engineOver(flaky, { pollEveryMs: 100 });
    await fixture.engine.start();
    const submitted = await fixture.engine.submit(request('left behind'));
    await fixture.adapter.until(
      async () => (await store.get(submitted.job.id))?.state === 'done',
      10_000,
    );
    expect(failures).toBe(0);
    expect(fixture.adapter.deliveries.map((delivery) => delivery.jobId)).toEqual([
      submitted.job.id,
    ]);
    expect(createsFor('left behind')).toHaveLength(1);
  });
});
