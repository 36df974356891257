import { createServer, type Server } from 'node:http';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Clock, systemClock } from '../src/core/clock.js';
import { NanoBananaError } from '../src/core/errors.js';
import type { InputImage } from '../src/core/images/index.js';
import { missingImages } from '../src/core/jobs/adapter.js';
import { CALLBACK_PATH_PREFIX } from '../src/core/jobs/engine.js';
import { openSqliteStore } from '../src/core/jobs/stores/sqlite.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { API_TOKEN, createEngine, type EngineFixture, request } from './helpers/engine-fixture.js';
import { peakOverlap } from './helpers/peak-overlap.js';

let api: MockApi;
const fixtures: EngineFixture[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  await Promise.all(fixtures.splice(0).map((fixture) => fixture.close()));
  api.setDelay(50);
  api.setImageFaults(undefined);
});

async function engineFor(options: Parameters<typeof createEngine>[1] = {}): Promise<EngineFixture> {
  const fixture = await createEngine(api, options);
  fixtures.push(fixture);
  return fixture;
}

async function refusal(action: () => Promise<unknown>): Promise<NanoBananaError> {
  try {
    await action();
  } catch (error) {
    expect(error).toBeInstanceOf(NanoBananaError);
    return error as NanoBananaError;
  }
  throw new Error('expected a refusal');
}

const createsFor = (prompt: string) =>
  api.creates().filter((call) => (call.body as { prompt?: string }).prompt === prompt);

describe('JobEngine', () => {
  it('stores a job before answering, runs it and delivers the downloaded images', async () => {
    const { engine, adapter } = await engineFor();
    await engine.start();
    const submitted = await engine.submit(
      request('a lighthouse at dusk', {
        options: { model: 'nano-banana', aspectRatio: '16:9', count: 2 },
      }),
    );
    expect(submitted.created).toBe(true);
    expect(submitted.position).toBe(1);
    expect((await engine.getJob(submitted.job.id))?.state).toBe('queued');
    expect(createsFor('a lighthouse at dusk')).toHaveLength(0);

    await adapter.until(() => adapter.deliveries.length === 1);
    const [delivery] = adapter.deliveries;
    expect(delivery?.images).toHaveLength(2);
    const metadata = await sharp(delivery?.images[0]?.bytes).metadata();
    expect([metadata.width, metadata.height]).toEqual([1344, 768]);
    await adapter.until(async () => (await engine.getJob(submitted.job.id))?.state === 'done');
    const done = await engine.getJob(submitted.job.id);
    expect(done).toMatchObject({ state: 'done', reservedImages: 2, delivery: { posted: 2 } });
    expect(done?.taskId).toMatch(/\S/);
    expect(createsFor('a lighthouse at dusk')[0]?.body).toMatchObject({
      async: true,
      aspect_ratio: '16:9',
      count: 2,
    });
    expect(adapter.eventsOf(submitted.job.id).map((event) => event.kind)).toContain('started');
  });

  it('serves waiting users round-robin, so one user cannot starve the others', async () => {
    const { engine, adapter } = await engineFor({
      limits: { maxConcurrentJobs: 1, maxJobsPerUser: 1 },
    });
    const jobs = [
      await engine.submit(request('fair a1', { requesterId: 'alice' })),
      await engine.submit(request('fair a2', { requesterId: 'alice' })),
      await engine.submit(request('fair a3', { requesterId: 'alice' })),
      await engine.submit(request('fair a4', { requesterId: 'alice' })),
      await engine.submit(request('fair b1', { requesterId: 'bob' })),
      await engine.submit(request('fair c1', { requesterId: 'carol' })),
    ];
    // Each job's place when it was accepted: bob and carol go ahead of alice's second job.
    expect(jobs.map((job) => job.position)).toEqual([1, 2, 3, 4, 2, 3]);
    await engine.start();
    await adapter.until(() => adapter.deliveries.length === 6, 20_000);
    const order = api
      .creates()
      .map((call) => (call.body as { prompt: string }).prompt)
      .filter((prompt) => prompt.startsWith('fair '));
    expect(order).toEqual(['fair a1', 'fair b1', 'fair c1', 'fair a2', 'fair a3', 'fair a4']);
    // Positions were told as the line moved.
    const told = adapter.eventsOf(jobs[3]?.job.id ?? '').filter((event) => event.kind === 'queued');
    expect(told.length).toBeGreaterThan(1);
  });

  it('never runs more than the per-user and global limits at once', async () => {
    api.setDelay(300);
    const { engine, adapter } = await engineFor({
      limits: { maxConcurrentJobs: 3, maxJobsPerUser: 2 },
    });
    await engine.start();
    for (let index = 0; index < 5; index++)
      await engine.submit(request(`limit alice ${index}`, { requesterId: 'alice' }));
    for (let index = 0; index < 3; index++)
      await engine.submit(request(`limit bob ${index}`, { requesterId: 'bob' }));
    await adapter.until(() => adapter.deliveries.length === 8, 20_000);
    // Measured on the API's side, from each task's own start and finish: a slot lasts from before
    // the create until after the delivery, so tasks running together are jobs holding slots.
    const limitTasks = [...api.tasks.values()].filter((task) =>
      String(task.request.prompt).startsWith('limit '),
    );
    expect(limitTasks).toHaveLength(8);
    expect(peakOverlap(limitTasks)).toBe(3);
    const aliceTasks = limitTasks.filter((task) =>
      String(task.request.prompt).startsWith('limit alice'),
    );
    expect(peakOverlap(aliceTasks)).toBe(2);
  });

  it('reports each claim with its wait since the job was accepted (claim latency, issue 12)', async () => {
    const { engine, adapter } = await engineFor({ limits: { maxConcurrentJobs: 1 } });
    const claims: { prompt: string; waitMs: number }[] = [];
    engine.on('claimed', (job, waitMs) => claims.push({ prompt: job.prompt, waitMs }));
    await engine.start();
    await engine.submit(request('claim first mock:delay=400', { requesterId: 'alice' }));
    await engine.submit(request('claim second', { requesterId: 'bob' }));
    await adapter.until(() => adapter.deliveries.length === 2, 20_000);
    expect(claims.map((claim) => claim.prompt)).toEqual([
      'claim first mock:delay=400',
      'claim second',
    ]);
    const [first, second] = claims;
    // The first had a free slot; the second waited for it, through the first's 400 ms task.
    expect(first?.waitMs).toBeGreaterThanOrEqual(0);
    expect(second?.waitMs).toBeGreaterThanOrEqual(400);
    expect(second?.waitMs ?? 0).toBeGreaterThan(first?.waitMs ?? Number.POSITIVE_INFINITY);
  });

  it('keeps one user to the per-user limit even while slots are free', async () => {
    api.setDelay(300);
    const { engine, adapter } = await engineFor({
      limits: { maxConcurrentJobs: 3, maxJobsPerUser: 2 },
    });
    await engine.start();
    for (let index = 0; index < 4; index++)
      await engine.submit(request(`alone ${index}`, { requesterId: 'alice' }));
    await adapter.until(() => adapter.deliveries.length === 4, 20_000);
    const aloneTasks = [...api.tasks.values()].filter((task) =>
      String(task.request.prompt).startsWith('alone '),
    );
    expect(aloneTasks).toHaveLength(4);
    expect(peakOverlap(aloneTasks)).toBe(2);
  });

  it('refuses bad input, blocked words and other places before storing or sending anything', async () => {
    const { engine } = await engineFor({
      access: {
        adminIds: new Set(),
        allowedServers: new Set(['server-1']),
        allowedChannels: undefined,
        blockedWords: ['gore', 'Évasion fiscale'],
      },
    });
    await engine.start();
    const before = api.creates().length;
    expect((await refusal(() => engine.submit(request('   ')))).params.reason).toBe('empty_prompt');
    expect(
      (
        await refusal(() =>
          engine.submit(request('x', { options: { model: 'nano-banana', resolution: '4K' } })),
        )
      ).params.reason,
    ).toBe('resolution_not_supported');
    expect((await refusal(() => engine.submit(request('lots of GORE here')))).code).toBe(
      'blocked_prompt',
    );
    expect((await refusal(() => engine.submit(request('une evasion fiscale')))).code).toBe(
      'blocked_prompt',
    );
    expect((await refusal(() => engine.submit(request('x', { serverId: 'server-2' })))).code).toBe(
      'not_allowed',
    );
    // A blocked word inside another word is not a match.
    expect((await engine.submit(request('a gorelike mountain'))).created).toBe(true);
    expect(api.creates().length).toBe(before);
  });

  it('reserves images on acceptance and releases them when a job fails', async () => {
    const { engine, adapter } = await engineFor({ quotas: { perUser: 2, perServer: 0, total: 0 } });
    await engine.start();
    const first = await engine.submit(
      request('quota one mock:fail', { options: { model: 'nano-banana', count: 1 } }),
    );
    await engine.submit(request('quota two'));
    // Both images are reserved although neither job has finished.
    const refused = await refusal(() => engine.submit(request('quota three')));
    expect(refused.code).toBe('quota_exceeded');
    expect(refused.params).toMatchObject({ scope: 'user', limit: 2, remaining: 0 });
    expect((await engine.usage('alice', 'server-1')).user).toBe(0);
    // The refused one (safety filter) gives its image back.
    await adapter.until(async () => (await engine.getJob(first.job.id))?.state === 'failed');
    expect(await engine.getJob(first.job.id)).toMatchObject({
      reservedImages: 0,
      error: { code: 'moderation_blocked' },
    });
    expect((await engine.submit(request('quota four'))).created).toBe(true);
    // Admins are exempt, and someone else has their own quota.
    expect((await engine.submit(request('admin one', { requesterId: 'admin' }))).created).toBe(
      true,
    );
    expect((await engine.submit(request('bob one', { requesterId: 'bob' }))).created).toBe(true);
  });

  it('enforces server and total quotas', async () => {
    const { engine } = await engineFor({ quotas: { perUser: 0, perServer: 3, total: 4 } });
    await engine.submit(request('s1', { options: { model: 'nano-banana', count: 3 } }));
    expect(
      (await refusal(() => engine.submit(request('s2', { requesterId: 'bob' })))).params.scope,
    ).toBe('server');
    await engine.submit(request('s3', { serverId: 'server-2' }));
    expect(
      (await refusal(() => engine.submit(request('s4', { serverId: 'server-3' })))).params.scope,
    ).toBe('total');
  });

  it('exempts only the operator admins from quotas: an admin flag in the request skips nothing', async () => {
    const { engine } = await engineFor({ quotas: { perUser: 1, perServer: 0, total: 0 } });
    await engine.submit(request('her one image'));
    // What an adapter used to pass for a platform's own admins (a Discord server's Administrator).
    const claimed = { ...request('claimed'), requesterIsAdmin: true };
    expect((await refusal(() => engine.check(claimed))).code).toBe('quota_exceeded');
    expect((await refusal(() => engine.submit(claimed))).code).toBe('quota_exceeded');
    const operator = await engine.submit(request('operator', { requesterId: 'admin' }));
    expect((await engine.submit(request('operator again', { requesterId: 'admin' }))).created).toBe(
      true,
    );
    expect(operator.job).toMatchObject({ requesterIsAdmin: true, reservedImages: 0 });
  });

  it('makes one job of the same platform event, even past a quota', async () => {
    const { engine } = await engineFor({ quotas: { perUser: 1, perServer: 0, total: 0 } });
    const first = await engine.submit(request('dedup', { dedupKey: 'slack:C1:123.456' }));
    const second = await engine.submit(request('dedup', { dedupKey: 'slack:C1:123.456' }));
    expect(second.created).toBe(false);
    expect(second.job.id).toBe(first.job.id);
  });

  it('lets the requester cancel a waiting job, and nobody else', async () => {
    api.setDelay(400);
    const { engine, adapter } = await engineFor({ limits: { maxConcurrentJobs: 1 } });
    await engine.start();
    await engine.submit(request('busy'));
    const waiting = await engine.submit(request('to cancel'));
    expect(await engine.cancel(waiting.job.id, 'mallory')).toBe('not_yours');
    expect(await engine.cancel(waiting.job.id, 'alice')).toBe('cancelled');
    expect(await engine.cancel(waiting.job.id, 'alice')).toBe('too_late');
    expect(await engine.cancel('nope', 'alice')).toBe('not_found');
    expect(await engine.getJob(waiting.job.id)).toMatchObject({
      state: 'cancelled',
      reservedImages: 0,
    });
    expect(adapter.eventsOf(waiting.job.id).at(-1)).toEqual({ kind: 'cancelled' });
    await adapter.until(() => adapter.deliveries.length === 1);
    expect(createsFor('to cancel')).toHaveLength(0);
  });

  it('pauses creates when the balance is used up, tells the waiting users, and resumes', async () => {
    const { engine, adapter } = await engineFor({
      limits: { maxConcurrentJobs: 1, usedUpPauseMs: 400 },
    });
    await engine.start();
    const failing = await engine.submit(request('broke mock:error=used_up'));
    const waiting = await engine.submit(request('after the pause', { requesterId: 'bob' }));
    await adapter.until(async () => (await engine.getJob(failing.job.id))?.state === 'failed');
    expect((await engine.getJob(failing.job.id))?.error?.code).toBe('balance_used_up');
    await adapter.until(() =>
      adapter.eventsOf(waiting.job.id).some((event) => event.kind === 'paused'),
    );
    expect(engine.stats.paused).toBe(true);
    expect(createsFor('after the pause')).toHaveLength(0);
    await adapter.until(async () => (await engine.getJob(waiting.job.id))?.state === 'done');
    expect(createsFor('after the pause')).toHaveLength(1);
  });

  it('puts a job refused with 429 back in line and delivers it later', async () => {
    const { engine, adapter } = await engineFor();
    await engine.start();
    api.failNextCreates(
      { status: 429, code: 'too_many_requests', retryAfter: 0 },
      { status: 429, code: 'too_many_requests', retryAfter: 0 },
    );
    const submitted = await engine.submit(request('rate limited'));
    await adapter.until(
      async () => (await engine.getJob(submitted.job.id))?.state === 'done',
      15_000,
    );
    // Two refused (one per engine turn: the client's single retry), then the one that made the task.
    expect(createsFor('rate limited').map((call) => call.status)).toEqual([429, 429, 200]);
    expect(
      [...api.tasks.values()].filter((task) => task.request.prompt === 'rate limited'),
    ).toHaveLength(1);
  });

  it('does not resend a create that failed with 500, and explains', async () => {
    const { engine, adapter } = await engineFor();
    await engine.start();
    api.failNextCreates({ status: 500, code: 'api_error', message: 'fetch failed' });
    const submitted = await engine.submit(request('server error'));
    await adapter.until(async () => (await engine.getJob(submitted.job.id))?.state === 'failed');
    const failed = adapter.eventsOf(submitted.job.id).find((event) => event.kind === 'failed');
    expect(failed).toMatchObject({ kind: 'failed', error: { code: 'upstream_error' } });
    expect(api.creates().filter((call) => call.status === 500)).toHaveLength(1);
  });

  it('tells the user about a timeout, then still delivers the images when they come', async () => {
    api.setDelay(700);
    const { engine, adapter } = await engineFor({ limits: { jobTimeoutMs: 200 } });
    await engine.start();
    const submitted = await engine.submit(request('slow one'));
    await adapter.until(() =>
      adapter.eventsOf(submitted.job.id).some((event) => event.kind === 'timeout'),
    );
    expect((await engine.getJob(submitted.job.id))?.timeoutNotified).toBe(true);
    await adapter.until(async () => (await engine.getJob(submitted.job.id))?.state === 'done');
    expect(adapter.deliveries.map((delivery) => delivery.jobId)).toContain(submitted.job.id);
  });

  it('retries a transient delivery failure and records the attempts', async () => {
    const { engine, adapter } = await engineFor();
    adapter.deliveryFailures.push(
      new NanoBananaError('network', 'platform hiccup', { retryable: true }),
    );
    await engine.start();
    const submitted = await engine.submit(request('deliver twice'));
    await adapter.until(async () => (await engine.getJob(submitted.job.id))?.state === 'done');
    expect((await engine.getJob(submitted.job.id))?.deliveryAttempts).toBe(2);
  });

  it('ends a job whose delivery keeps failing with a clear error', async () => {
    const { engine, adapter } = await engineFor();
    adapter.deliveryFailures.push(new NanoBananaError('upstream_error', 'missing permission'));
    await engine.start();
    const submitted = await engine.submit(request('cannot post'));
    await adapter.until(async () => (await engine.getJob(submitted.job.id))?.state === 'failed');
    expect((await engine.getJob(submitted.job.id))?.error?.code).toBe('delivery_failed');
  });

  it('fetches platform inputs when the turn comes and sends their bytes as data: URLs', async () => {
    const { engine, adapter } = await engineFor();
    const bytes = await sharp({
      create: { width: 40, height: 30, channels: 3, background: '#ff0000' },
    })
      .png()
      .toBuffer();
    adapter.inputs.set('file-1', { kind: 'bytes', bytes, name: 'red.png' });
    await engine.start();
    const submitted = await engine.submit(
      request('edit the red one', {
        action: 'edit',
        inputs: [{ kind: 'platform', ref: 'file-1' }],
      }),
    );
    await adapter.until(async () => (await engine.getJob(submitted.job.id))?.state === 'done');
    expect(createsFor('edit the red one')[0]?.body).toMatchObject({
      action: 'edit',
      image_urls: [`data:image/png;base64,${bytes.toString('base64')}`],
    });
  });

  it('explains an input that is not an image, and sends nothing', async () => {
    const { engine, adapter } = await engineFor();
    adapter.inputs.set('file-2', {
      kind: 'bytes',
      bytes: Buffer.from('<html>login</html>'),
      name: 'x.png',
    });
    await engine.start();
    const submitted = await engine.submit(
      request('bad input', { action: 'edit', inputs: [{ kind: 'platform', ref: 'file-2' }] }),
    );
    await adapter.until(async () => (await engine.getJob(submitted.job.id))?.state === 'failed');
    expect((await engine.getJob(submitted.job.id))?.error).toMatchObject({
      code: 'invalid_input',
      params: { reason: 'unsupported_image' },
    });
    expect(createsFor('bad input')).toHaveLength(0);
  });
});

describe('callbacks', () => {
  let server: Server;
  let port = 0;
  let target: EngineFixture | undefined;
  beforeAll(async () => {
    server = createServer((incoming, response) => {
      const [jobId = '', token = ''] = (incoming.url ?? '')
        .slice(CALLBACK_PATH_PREFIX.length)
        .split('/');
      incoming.resume();
      incoming.on('end', async () => {
        const accepted = (await target?.engine.handleCallback(jobId, token)) ?? false;
        response.writeHead(accepted ? 204 : 404).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('delivers on the callback alone when polling is rare, and ignores forged and repeated ones', async () => {
    target = await engineFor({ publicUrl: `http://127.0.0.1:${port}`, pollIntervalMs: 600_000 });
    const { engine, adapter, follower } = target;
    await engine.start();
    const submitted = await engine.submit(request('called back'));
    await adapter.until(async () => (await engine.getJob(submitted.job.id))?.state === 'done');
    const body = createsFor('called back')[0]?.body as { callback_url: string };
    expect(body.callback_url).toBe(
      `http://127.0.0.1:${port}${CALLBACK_PATH_PREFIX}${submitted.job.id}/${(await engine.getJob(submitted.job.id))?.callbackToken}`,
    );
    // One retrieval, made because of the callback: the 10-minute poll never came.
    expect(follower.retrievals).toBe(1);
    expect(await engine.handleCallback(submitted.job.id, 'forged-token')).toBe(false);
    expect(await engine.handleCallback('unknown-job', 'x')).toBe(false);
    // A repeated callback for a finished job changes nothing.
    expect(
      await engine.handleCallback(
        submitted.job.id,
        (await engine.getJob(submitted.job.id))?.callbackToken ?? '',
      ),
    ).toBe(true);
    expect(adapter.deliveries).toHaveLength(1);
  });

  it('treats a callback that arrives before the task is done as a hint only', async () => {
    api.setDelay(60_000);
    target = await engineFor({ pollIntervalMs: 100, publicUrl: `http://127.0.0.1:${port}` });
    const { engine, adapter } = target;
    await engine.start();
    const submitted = await engine.submit(request('early callback'));
    await adapter.until(async () => (await engine.getJob(submitted.job.id))?.state === 'running');
    const job = await engine.getJob(submitted.job.id);
    const hintedAt = Date.now();
    expect(await engine.handleCallback(submitted.job.id, job?.callbackToken ?? '')).toBe(true);
    // The task was looked at after the hint and found pending: the job goes on running.
    const looksAt = (call: { body: unknown }) => {
      const body = call.body as { id?: string; ids?: string[] };
      return body.id === job?.taskId || (body.ids ?? []).includes(job?.taskId ?? '');
    };
    await adapter.until(() =>
      api.retrievals().some((call) => call.at >= hintedAt && call.status === 200 && looksAt(call)),
    );
    expect((await engine.getJob(submitted.job.id))?.state).toBe('running');
    api.finishTask(job?.taskId ?? '');
    await adapter.until(async () => (await engine.getJob(submitted.job.id))?.state === 'done');
    expect(adapter.deliveries).toHaveLength(1);
  });
});

describe('restarts', () => {
  it('resumes every job from the store: queued run, running followed, creating explained, none created twice', async () => {
    api.setDelay(60_000);
    const first = await createEngine(api, { limits: { maxConcurrentJobs: 1 } });
    await first.engine.start();
    const running = await first.engine.submit(request('restart running'));
    const queued = await first.engine.submit(request('restart queued'));
    await first.adapter.until(
      async () => (await first.engine.getJob(running.job.id))?.state === 'running',
    );
    await first.close();

    // A job caught between sending the create and storing the task id.
    const store = await openSqliteStore({ path: first.storePath });
    const template = await store.get(queued.job.id);
    if (template === undefined) throw new Error('the queued job is not in the store');
    const stuck = await store.insert({
      ...template,
      id: 'stuck-job',
      dedupKey: undefined,
      prompt: 'restart stuck',
    });
    await store.transition(stuck.job.id, ['queued'], { state: 'creating' }, Date.now());
    await store.close();

    api.setDelay(50);
    const second = await engineFor({
      storePath: first.storePath,
      limits: { maxConcurrentJobs: 1 },
    });
    await second.engine.start();
    const runningTask = (await second.engine.getJob(running.job.id))?.taskId ?? '';
    api.finishTask(runningTask);
    await second.adapter.until(
      async () =>
        (await second.engine.getJob(running.job.id))?.state === 'done' &&
        (await second.engine.getJob(queued.job.id))?.state === 'done' &&
        (await second.engine.getJob('stuck-job'))?.state === 'failed',
      15_000,
    );
    expect((await second.engine.getJob('stuck-job'))?.error?.code).toBe('interrupted');
    expect(second.adapter.eventsOf('stuck-job').at(-1)).toMatchObject({
      kind: 'failed',
      error: { code: 'interrupted' },
    });
    expect(createsFor('restart running')).toHaveLength(1);
    expect(createsFor('restart queued')).toHaveLength(1);
    expect(createsFor('restart stuck')).toHaveLength(0);
  });
});

describe('checks before acknowledging', () => {
  it('does not refuse an event that already made a job, even past the quota', async () => {
    const fixture = await createEngine(api, { quotas: { perUser: 1, perServer: 0, total: 0 } });
    fixtures.push(fixture);
    const first = await fixture.engine.submit(request('redelivered', { dedupKey: 'slack:C1:1.2' }));
    await expect(
      fixture.engine.check(request('redelivered', { dedupKey: 'slack:C1:1.2' })),
    ).resolves.toBeUndefined();
    await expect(fixture.engine.check(request('another'))).rejects.toThrow(/quota/i);
    expect(
      (await fixture.engine.submit(request('redelivered', { dedupKey: 'slack:C1:1.2' }))).job.id,
    ).toBe(first.job.id);
  });
});

describe('timeouts after a restart', () => {
  it('still tells a resumed job that runs too long, and delivers it when it finishes', async () => {
    api.setDelay(60_000);
    const first = await createEngine(api);
    await first.engine.start();
    const submitted = await first.engine.submit(request('resumed and slow'));
    await first.adapter.until(
      async () => (await first.engine.getJob(submitted.job.id))?.state === 'running',
    );
    await first.close();

    const second = await engineFor({ storePath: first.storePath, limits: { jobTimeoutMs: 300 } });
    await second.engine.start();
    await second.adapter.until(() =>
      second.adapter.eventsOf(submitted.job.id).some((event) => event.kind === 'timeout'),
    );
    api.finishTask((await second.engine.getJob(submitted.job.id))?.taskId ?? '');
    await second.adapter.until(
      async () => (await second.engine.getJob(submitted.job.id))?.state === 'done',
    );
  });
});

/**
 * A clock whose waits take no real time: each `sleep` is recorded and moves `now()` forward by its
 * length, so that minutes of backoff pass at once. `advance` moves it without a sleep.
 */
function fastClock(): { clock: Clock; sleeps: number[]; advance(ms: number): void } {
  let offset = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    advance: (ms) => {
      offset += ms;
    },
    clock: {
      now: () => Date.now() + offset,
      sleep: async (ms, signal) => {
        sleeps.push(ms);
        offset += ms;
        await systemClock.sleep(1, signal);
      },
    },
  };
}

const imageDownloadsFor = (prompt: string) => {
  const urls = new Set(
    [...api.tasks.values()]
      .filter((task) => task.request.prompt === prompt)
      .flatMap((task) =>
        task.response?.success === true ? task.response.data.map((image) => image.image_url) : [],
      )
      .map((url) => new URL(url).pathname),
  );
  return api.calls.filter((call) => call.method === 'GET' && urls.has(call.path));
};

describe('result downloads', () => {
  it('retries a result the CDN answered 502 and then 429 (Retry-After) for, and delivers it', async () => {
    const { clock, sleeps } = fastClock();
    api.setImageFaults(({ prompt, attempt }) => {
      if (prompt !== 'cdn hiccup') return undefined;
      if (attempt === 1) return { status: 502 };
      if (attempt === 2) return { status: 429, retryAfter: 7 };
      return undefined;
    });
    const { engine, adapter } = await engineFor({ clock });
    await engine.start();
    const submitted = await engine.submit(request('cdn hiccup'));
    await adapter.until(async () => {
      const state = (await engine.getJob(submitted.job.id))?.state;
      return state === 'done' || state === 'failed';
    });
    expect((await engine.getJob(submitted.job.id))?.state).toBe('done');
    expect(adapter.deliveries[0]?.images).toHaveLength(1);
    expect(imageDownloadsFor('cdn hiccup').map((call) => call.status)).toEqual([502, 429, 200]);
    // The 429's Retry-After was honoured.
    expect(sleeps).toContain(7000);
  });

  it('delivers the images it got when one stays missing, and says how many are missing', async () => {
    api.setImageFaults(({ prompt, index }) =>
      prompt === 'one lost' && index === 2 ? { status: 404, code: 'not_found' } : undefined,
    );
    const { engine, adapter } = await engineFor();
    await engine.start();
    const submitted = await engine.submit(
      request('one lost', { options: { model: 'nano-banana', count: 3 } }),
    );
    await adapter.until(async () => {
      const state = (await engine.getJob(submitted.job.id))?.state;
      return state === 'done' || state === 'failed';
    });
    const done = await engine.getJob(submitted.job.id);
    expect(done?.state).toBe('done');
    const [delivery] = adapter.deliveries;
    expect(delivery?.images.map((image) => image.index)).toEqual([0, 2]);
    if (done === undefined) throw new Error('no job');
    expect(missingImages(done, delivery?.images.length ?? 0)).toBe(1);
    // Only the images delivered count against the quota.
    expect(done.reservedImages).toBe(2);
    // A 404 is not transient: asked once, not retried.
    expect(imageDownloadsFor('one lost').filter((call) => call.status === 404)).toHaveLength(1);
  });

  it('gives up on a result that keeps failing after two minutes of retries', async () => {
    const { clock, sleeps } = fastClock();
    api.setImageFaults(({ prompt }) => (prompt === 'cdn down' ? { status: 503 } : undefined));
    const { engine, adapter } = await engineFor({ clock });
    await engine.start();
    const submitted = await engine.submit(request('cdn down'));
    await adapter.until(async () => (await engine.getJob(submitted.job.id))?.state === 'failed');
    expect((await engine.getJob(submitted.job.id))?.error?.code).toBe('upstream_error');
    const waited = sleeps.reduce((sum, ms) => sum + ms, 0);
    expect(waited).toBeGreaterThan(60_000);
    expect(waited).toBeLessThanOrEqual(120_000);
    expect(imageDownloadsFor('cdn down').length).toBe(sleeps.length + 1);
  });
});

describe('Retry-After is capped at a minute', () => {
  it('waits a minute, not an hour, before downloading a result again', async () => {
    const { clock, sleeps } = fastClock();
    api.setImageFaults(({ prompt, attempt }) =>
      prompt === 'cdn says an hour' && attempt === 1
        ? { status: 429, retryAfter: 3600 }
        : undefined,
    );
    const { engine, adapter } = await engineFor({ clock });
    await engine.start();
    const submitted = await engine.submit(request('cdn says an hour'));
    await adapter.until(async () => (await engine.getJob(submitted.job.id))?.state === 'done');
    expect(sleeps).toEqual([60_000]);
  });

  it('holds a slot a minute at most when a delivery is refused with an hour', async () => {
    const { clock, sleeps } = fastClock();
    const { engine, adapter } = await engineFor({ clock });
    adapter.deliveryFailures.push(
      new NanoBananaError('rate_limited', 'slow down', {
        retryable: true,
        retryAfterMs: 3_600_000,
      }),
    );
    await engine.start();
    const submitted = await engine.submit(request('platform says an hour'));
    await adapter.until(async () => (await engine.getJob(submitted.job.id))?.state === 'done');
    expect(sleeps).toEqual([60_000]);
  });

  it('pauses creates for a minute at most when the API asks for an hour', async () => {
    const { clock, advance } = fastClock();
    const { engine, adapter } = await engineFor({ clock });
    await engine.start();
    api.failNextCreates(
      { status: 429, code: 'too_many_requests', retryAfter: 3600 },
      { status: 429, code: 'too_many_requests', retryAfter: 3600 },
    );
    const first = await engine.submit(request('api says an hour'));
    await adapter.until(() => engine.stats.paused);
    expect((await engine.getJob(first.job.id))?.state).toBe('queued');
    advance(60_001);
    expect(engine.stats.paused).toBe(false);
    // The next request moves the line again: both run.
    const second = await engine.submit(request('after the capped pause', { requesterId: 'bob' }));
    await adapter.until(
      async () =>
        (await engine.getJob(first.job.id))?.state === 'done' &&
        (await engine.getJob(second.job.id))?.state === 'done',
    );
  });
});

describe('jobs past their timeout hold no slot', () => {
  it('after a restart, a job already told it timed out lets other users’ jobs run', async () => {
    api.setDelay(60_000);
    const first = await createEngine(api, { limits: { jobTimeoutMs: 150 } });
    await first.engine.start();
    const slow = await first.engine.submit(request('told before the restart'));
    await first.adapter.until(
      async () => (await first.engine.getJob(slow.job.id))?.timeoutNotified === true,
      10_000,
    );
    expect((await first.engine.getJob(slow.job.id))?.state).toBe('running');
    await first.close();

    api.setDelay(50);
    const second = await engineFor({
      storePath: first.storePath,
      limits: { maxConcurrentJobs: 1 },
    });
    await second.engine.start();
    const other = await second.engine.submit(
      request('someone else after the restart', { requesterId: 'bob' }),
    );
    await second.adapter.until(
      async () => (await second.engine.getJob(other.job.id))?.state === 'done',
      10_000,
    );
    expect((await second.engine.getJob(slow.job.id))?.state).toBe('running');
    // It is still followed, and delivered when its task ends.
    api.finishTask((await second.engine.getJob(slow.job.id))?.taskId ?? '');
    await second.adapter.until(
      async () => (await second.engine.getJob(slow.job.id))?.state === 'done',
      10_000,
    );
  });

  it('a job that times out while its create is under way leaves its slot once the task exists', async () => {
    let openGate = () => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const held: EngineFixture = await engineFor({
      limits: { maxConcurrentJobs: 1, jobTimeoutMs: 300 },
      client: {
        create: async (body, options) => {
          if (body.prompt === 'slow create') await gate;
          return held.client.create(body, options);
        },
      },
    });
    const { engine, adapter } = held;
    await engine.start();
    api.setDelay(60_000);
    const slow = await engine.submit(request('slow create'));
    await adapter.until(
      async () => (await engine.getJob(slow.job.id))?.timeoutNotified === true,
      10_000,
    );
    expect((await engine.getJob(slow.job.id))?.state).toBe('creating');
    openGate();
    await adapter.until(
      async () => (await engine.getJob(slow.job.id))?.state === 'running',
      10_000,
    );
    api.setDelay(50);
    const other = await engine.submit(request('next in line', { requesterId: 'bob' }));
    await adapter.until(async () => (await engine.getJob(other.job.id))?.state === 'done', 10_000);
    expect((await engine.getJob(slow.job.id))?.state).toBe('running');
    api.finishTask((await engine.getJob(slow.job.id))?.taskId ?? '');
    await adapter.until(async () => (await engine.getJob(slow.job.id))?.state === 'done', 10_000);
  });
});

describe('cancelling', () => {
  it('aborts a job that is still fetching its inputs at once, and frees its slot', async () => {
    const { engine, adapter } = await engineFor({ limits: { maxConcurrentJobs: 1 } });
    let fetchSignal: AbortSignal | undefined;
    let abortedAt: number | undefined;
    adapter.fetchInput = (_job, _input, signal) =>
      new Promise<InputImage>((_resolve, reject) => {
        if (signal === undefined) throw new Error('no signal');
        fetchSignal = signal;
        signal.addEventListener('abort', () => {
          abortedAt = Date.now();
          reject(signal.reason);
        });
      });
    await engine.start();
    const fetching = await engine.submit(
      request('a huge input', { action: 'edit', inputs: [{ kind: 'platform', ref: 'big' }] }),
    );
    await adapter.until(() => fetchSignal !== undefined);
    expect(engine.stats.inFlight).toBe(1);
    const cancelledAt = Date.now();
    expect(await engine.cancel(fetching.job.id, 'alice')).toBe('cancelled');
    await adapter.until(() => abortedAt !== undefined, 2000);
    expect((abortedAt ?? Number.POSITIVE_INFINITY) - cancelledAt).toBeLessThan(1000);
    const next = await engine.submit(request('after the cancel', { requesterId: 'bob' }));
    await adapter.until(async () => (await engine.getJob(next.job.id))?.state === 'done');
    expect((await engine.getJob(fetching.job.id))?.state).toBe('cancelled');
    expect(createsFor('a huge input')).toHaveLength(0);
  });
});

describe('tasks with inline inputs after a restart', () => {
  it('are still followed as heavy: never batched with light tasks', async () => {
    api.setDelay(60_000);
    const bytes = await sharp({
      create: { width: 40, height: 30, channels: 3, background: '#00ff00' },
    })
      .png()
      .toBuffer();
    const first = await createEngine(api);
    first.adapter.inputs.set('inline-1', { kind: 'bytes', bytes, name: 'green.png' });
    await first.engine.start();
    const heavy = await first.engine.submit(
      request('inline edit resumed', {
        action: 'edit',
        inputs: [{ kind: 'platform', ref: 'inline-1' }],
      }),
    );
    const light = await first.engine.submit(
      request('light generate resumed', { requesterId: 'bob' }),
    );
    await first.adapter.until(
      async () =>
        (await first.engine.getJob(heavy.job.id))?.state === 'running' &&
        (await first.engine.getJob(light.job.id))?.state === 'running',
    );
    await first.close();

    const before = api.retrievals().length;
    const second = await engineFor({ storePath: first.storePath });
    await second.engine.start();
    const heavyTask = (await second.engine.getJob(heavy.job.id))?.taskId ?? '';
    const lightTask = (await second.engine.getJob(light.job.id))?.taskId ?? '';
    const idsOf = (body: unknown) => (body as { ids?: string[] }).ids ?? [];
    const lookedAt = (taskId: string) =>
      api
        .retrievals()
        .slice(before)
        .filter((call) => idsOf(call.body).includes(taskId));
    await second.adapter.until(
      async () => lookedAt(heavyTask).length >= 2 && lookedAt(lightTask).length >= 2,
    );
    expect(lookedAt(heavyTask).some((call) => idsOf(call.body).includes(lightTask))).toBe(false);
    // The heavy task is looked at less often than the light one.
    expect(lookedAt(heavyTask).length).toBeLessThan(lookedAt(lightTask).length);
    api.finishTask(heavyTask);
    api.finishTask(lightTask);
    await second.adapter.until(
      async () =>
        (await second.engine.getJob(heavy.job.id))?.state === 'done' &&
        (await second.engine.getJob(light.job.id))?.state === 'done',
    );
  });
});
