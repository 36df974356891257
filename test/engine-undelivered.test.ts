import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NanoBananaError } from '../src/core/errors.js';
import { createLogger } from '../src/core/logger.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { API_TOKEN, createEngine, type EngineFixture, request } from './helpers/engine-fixture.js';

/** Issue 10 §4: an adapter with nowhere left to post ends the job `undelivered`, not `failed`. */

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
});

describe('JobEngine and an undeliverable result', () => {
  it('ends the job undelivered at once, keeps its result and quota, warns, and tells nobody', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'warn',
      destination: { write: (line: string) => void lines.push(line) },
    });
    const fixture = await createEngine(api, {
      logger,
      quotas: { perUser: 5, perServer: 0, total: 0 },
    });
    fixtures.push(fixture);
    const { engine, adapter } = fixture;
    adapter.deliveryFailures.push(
      new NanoBananaError('undeliverable', 'channel and DM refused', {
        params: { reason: 'channel_refused,dm_refused' },
      }),
    );
    await engine.start();
    const submitted = await engine.submit(request('nobody to receive it', { requesterId: 'bob' }));
    await adapter.until(
      async () => (await engine.getJob(submitted.job.id))?.state === 'undelivered',
    );
    const job = await engine.getJob(submitted.job.id);
    expect(job?.deliveryAttempts).toBe(1);
    expect(job?.error?.code).toBe('undeliverable');
    expect(job?.finishedAt).toBeGreaterThanOrEqual(job?.createdAt ?? Number.POSITIVE_INFINITY);
    expect(job?.result?.images).toHaveLength(1);
    // The images were made: they count, as delivered ones do.
    expect((await engine.usage('bob', 'server-1')).user).toBe(4);
    expect(adapter.eventsOf(submitted.job.id).map((event) => event.kind)).not.toContain('failed');
    const warning = lines
      .map((line) => JSON.parse(line) as { level: number; msg: string; resultUrls?: string[] })
      .find((entry) => entry.msg.startsWith('Job undelivered'));
    expect(warning?.level).toBe(40);
    expect(warning?.resultUrls).toEqual(job?.result?.images.map((image) => image.url));
  });
});
