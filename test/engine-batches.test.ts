import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isNanoBananaError, type NanoBananaError } from '../src/core/index.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { API_TOKEN, createEngine, type EngineFixture, request } from './helpers/engine-fixture.js';

/**
 * The port's batch calls against a real store: `submitBatch` stores all the jobs or none under
 * one admission, whatever `checkBatch` saw a moment before (another request may have taken the
 * last images since), and the week's images in `usage`.
 */

let api: MockApi;
let fixture: EngineFixture | undefined;

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

async function refusalOf(promise: Promise<unknown>): Promise<NanoBananaError> {
  try {
    await promise;
  } catch (error) {
    if (isNanoBananaError(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

const batch = (word: string, count: number, extra = {}) =>
  Array.from({ length: count }, (_, index) =>
    request(`${word} ${index}`, { dedupKey: `event-${word}:${index}`, ...extra }),
  );

describe('submitBatch', () => {
  it('stores none of the jobs when the quota left cannot cover them all, even after a passing check', async () => {
    fixture = await createEngine(api, { quotas: { perUser: 4, perServer: 0, total: 0 } });
    const { engine, store } = fixture;
    const jobs = batch('raced', 3);
    await engine.checkBatch(jobs);
    // Another request takes two of the four images between the check and the submit.
    await engine.submit(request('meanwhile', { options: { model: 'nano-banana', count: 2 } }));
    const refused = await refusalOf(engine.submitBatch(jobs));
    expect(refused.code).toBe('quota_exceeded');
    expect(refused.params).toMatchObject({ scope: 'user', limit: 4, remaining: 2 });
    for (const job of jobs) expect(await store.getByDedupKey(job.dedupKey ?? '')).toBeUndefined();
    expect((await engine.recentJobs('alice', 'test', 10)).map((job) => job.prompt)).toEqual([
      'meanwhile',
    ]);
  });

  it('stores every job of a batch that fits, in order, each reserving its own images', async () => {
    fixture = await createEngine(api, { quotas: { perUser: 4, perServer: 0, total: 0 } });
    const { engine } = fixture;
    const submitted = await engine.submitBatch(batch('fits', 4));
    expect(
      submitted.map((each) => [each.job.prompt, each.created, each.job.reservedImages]),
    ).toEqual([
      ['fits 0', true, 1],
      ['fits 1', true, 1],
      ['fits 2', true, 1],
      ['fits 3', true, 1],
    ]);
    expect((await engine.usage('alice', 'server-1')).user).toBe(0);
    // The same event again answers with the jobs it made.
    const again = await engine.submitBatch(batch('fits', 4));
    expect(again.map((each) => each.created)).toEqual([false, false, false, false]);
    expect(again.map((each) => each.job.id)).toEqual(submitted.map((each) => each.job.id));
  });

  it('checks the unfinished cap for the whole batch', async () => {
    fixture = await createEngine(api, { limits: { maxQueuedPerUser: 3 } });
    const { engine } = fixture;
    const refusedCheck = await refusalOf(engine.checkBatch(batch('capped', 4)));
    expect(refusedCheck.code).toBe('too_many_queued');
    const refused = await refusalOf(engine.submitBatch(batch('capped', 4)));
    expect(refused.code).toBe('too_many_queued');
    expect(refused.params).toEqual({ max: 3 });
    expect(await engine.recentJobs('alice', 'test', 10)).toEqual([]);
    await engine.checkBatch(batch('capped', 3));
  });

  it('refuses the whole batch when one of its prompts is refused', async () => {
    fixture = await createEngine(api, {
      access: {
        adminIds: new Set(),
        allowedServers: undefined,
        allowedChannels: undefined,
        blockedWords: ['forbidden'],
      },
    });
    const { engine } = fixture;
    const jobs = [request('fine', { dedupKey: 'b:0' }), request('forbidden', { dedupKey: 'b:1' })];
    expect((await refusalOf(engine.checkBatch(jobs))).code).toBe('blocked_prompt');
    expect((await refusalOf(engine.submitBatch(jobs))).code).toBe('blocked_prompt');
    expect(await engine.recentJobs('alice', 'test', 10)).toEqual([]);
  });

  it('tells the moderation log of each job accepted, and of a refusal with the prompt refused', async () => {
    fixture = await createEngine(api, {
      access: {
        adminIds: new Set(),
        allowedServers: undefined,
        allowedChannels: undefined,
        blockedWords: ['forbidden'],
      },
    });
    const { engine } = fixture;
    const accepted: string[] = [];
    const refused: [string, string][] = [];
    engine.on('accepted', (job) => accepted.push(job.prompt));
    engine.on('refused', (request, error) => refused.push([request.prompt, error.code]));
    await engine.submitBatch([
      request('told 0', { dedupKey: 't:0' }),
      request('told 1', { dedupKey: 't:1' }),
    ]);
    expect(accepted).toEqual(['told 0', 'told 1']);
    const blocked = [
      request('fine again', { dedupKey: 'u:0' }),
      request('forbidden one', { dedupKey: 'u:1' }),
    ];
    await refusalOf(engine.checkBatch(blocked));
    await refusalOf(engine.submitBatch(blocked));
    expect(refused).toEqual([
      ['forbidden one', 'blocked_prompt'],
      ['forbidden one', 'blocked_prompt'],
    ]);
    expect(accepted).toEqual(['told 0', 'told 1']);
  });

  it('lets an operator admin past the quota', async () => {
    fixture = await createEngine(api, { quotas: { perUser: 1, perServer: 0, total: 0 } });
    const submitted = await fixture.engine.submitBatch(batch('admin', 4, { requesterId: 'admin' }));
    expect(submitted.every((each) => each.created && each.job.reservedImages === 0)).toBe(true);
  });
});

describe('usage', () => {
  it('counts the images reserved this ISO week', async () => {
    fixture = await createEngine(api);
    const { engine } = fixture;
    expect((await engine.usage('alice', 'server-1')).week).toBe(0);
    await engine.submitBatch(batch('weekly', 2, { options: { model: 'nano-banana', count: 3 } }));
    expect((await engine.usage('alice', 'server-1')).week).toBe(6);
    expect((await engine.usage('bob', 'server-1')).week).toBe(0);
  });
});
