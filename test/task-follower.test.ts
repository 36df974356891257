import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NanoBananaClient, toApiBody } from '../src/core/api/client.js';
import { NanoBananaError } from '../src/core/errors.js';
import { createModelCatalog } from '../src/core/models.js';
import { validateRequest } from '../src/core/request.js';
import { TaskFollower } from '../src/core/task-follower.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';

const TOKEN = 'follower-token-0001';
const limits = {
  catalog: createModelCatalog(),
  defaultModel: 'nano-banana',
  maxPromptLength: 4000,
};

let api: MockApi;
let client: NanoBananaClient;
beforeAll(async () => {
  api = await startMockApi({ token: TOKEN, delayMs: 60_000 });
  client = new NanoBananaClient({ apiToken: TOKEN, baseUrl: api.url });
});
afterAll(async () => {
  await client.close();
  await api.close();
});

function idsOf(body: unknown): string[] {
  const record = body as { ids?: string[]; id?: string };
  return record.ids ?? (record.id === undefined ? [] : [record.id]);
}

describe('TaskFollower', () => {
  it('follows 100 tasks with at most 2 retrievals a round and resolves each', async () => {
    api.setDelay(400);
    const created = await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        client.create(validateRequest({ prompt: `cat number ${index}` }, limits)),
      ),
    );
    const follower = new TaskFollower({ client, pollIntervalMs: 100 });
    const before = api.retrievals().length;
    const results = await Promise.all(created.map((task) => follower.follow(task.taskId)));
    const calls = api.retrievals().slice(before);

    expect(results.map((result) => result.taskId)).toEqual(created.map((task) => task.taskId));
    for (const result of results) expect(result.images.length).toBeGreaterThan(0);
    for (const call of calls) expect(idsOf(call.body).length).toBeLessThanOrEqual(50);
    expect(follower.rounds).toBeGreaterThan(0);
    expect(calls.length).toBe(follower.retrievals);
    expect(calls.length).toBeLessThanOrEqual(2 * follower.rounds);
    expect(follower.size).toBe(0);
    follower.close();
    api.setDelay(60_000);
  });

  it('rejects a failed task with its error and an empty one with no_image', async () => {
    const follower = new TaskFollower({ client, pollIntervalMs: 50 });
    const refused = await client.create(validateRequest({ prompt: 'x mock:fail' }, limits));
    const empty = await client.create(validateRequest({ prompt: 'x mock:noimage' }, limits));
    const waits = [follower.follow(refused.taskId), follower.follow(empty.taskId)];
    api.finishTask(refused.taskId);
    api.finishTask(empty.taskId);
    const [first, second] = await Promise.allSettled(waits);
    expect(first?.status === 'rejected' && (first.reason as NanoBananaError).code).toBe(
      'moderation_blocked',
    );
    expect(second?.status === 'rejected' && (second.reason as NanoBananaError).code).toBe(
      'no_image',
    );
    follower.close();
  });

  it('asks at once when nudged (a callback arrived) instead of waiting for the round', async () => {
    const follower = new TaskFollower({ client, pollIntervalMs: 600_000 });
    const task = await client.create(validateRequest({ prompt: 'nudged' }, limits));
    const wait = follower.follow(task.taskId);
    api.finishTask(task.taskId);
    follower.nudge(task.taskId);
    const result = await wait;
    expect(result.taskId).toBe(task.taskId);
    expect(follower.retrievals).toBe(1);
    follower.close();
  });

  it('keeps tasks with large data: inputs in small batches, less often, and caps the answers', async () => {
    const dataUrl = `data:image/png;base64,${'B'.repeat(400_000)}`;
    const requests = Array.from({ length: 6 }, (_, index) =>
      validateRequest({ prompt: `heavy ${index}`, imageUrls: [dataUrl] }, limits),
    );
    const created = await Promise.all(requests.map((request) => client.create(request)));
    const [sample] = requests;
    if (sample === undefined) throw new Error('no request');
    const requestBytes = JSON.stringify(toApiBody(sample, true, undefined)).length;
    const follower = new TaskFollower({
      client,
      pollIntervalMs: 30,
      heavyRequestBytes: 100_000,
      heavyBatchBytes: 2 * requestBytes,
      heavyPollEvery: 2,
    });
    const before = api.retrievals().length;
    const waits = created.map((task) => follower.follow(task.taskId, { requestBytes }));
    // Let a few rounds pass with the tasks pending, then finish them all.
    for (let attempt = 0; attempt < 500 && follower.rounds < 4; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(follower.rounds).toBeGreaterThanOrEqual(4);
    for (const task of created) api.finishTask(task.taskId);
    await Promise.all(waits);
    const calls = api.retrievals().slice(before);
    for (const call of calls) expect(idsOf(call.body).length).toBeLessThanOrEqual(2);
    // Every other round only: at most 3 calls (6 tasks, 2 a call) per two rounds.
    expect(calls.length).toBeLessThanOrEqual(3 * Math.ceil(follower.rounds / 2));
    follower.close();
  });

  it('never fails a task for the size of its echoed inputs, even when it does not know their size', async () => {
    const dataUrl = `data:image/png;base64,${'C'.repeat(1_500_000)}`;
    const request = validateRequest({ prompt: 'big inline inputs', imageUrls: [dataUrl] }, limits);
    const first = await client.create(request);
    const second = await client.create(request);
    api.finishTask(first.taskId);
    api.finishTask(second.taskId);
    // As after a restart: the follower is not told how large the requests were, so its cap is
    // sized for small ones (about 1 MB), and each answer echoes 1.5 MB back.
    const follower = new TaskFollower({ client, pollIntervalMs: 20 });
    const before = api.retrievals().length;
    const results = await Promise.all([
      follower.follow(first.taskId),
      follower.follow(second.taskId),
    ]);
    expect(results.map((result) => result.images.length)).toEqual([1, 1]);
    const answered = api.retrievals().slice(before);
    expect(answered.every((call) => call.status === 200)).toBe(true);
    follower.close();
  });

  it('retrieves one by one when a batch answer is over the cap, and fails a task too big alone', async () => {
    const first = await client.create(validateRequest({ prompt: 'huge answer one' }, limits));
    const second = await client.create(validateRequest({ prompt: 'huge answer two' }, limits));
    const calls: string[][] = [];
    // An answer too large for its cap whatever it holds (the cap counts what is kept).
    const tooLarge = {
      retrieveTasks: async (ids: readonly string[]) => {
        calls.push([...ids]);
        throw new NanoBananaError('upstream_error', 'too large', {
          params: { reason: 'response_too_large', max: 1 },
        });
      },
    };
    const follower = new TaskFollower({ client: tooLarge, pollIntervalMs: 20 });
    const outcomes = await Promise.allSettled([
      follower.follow(first.taskId),
      follower.follow(second.taskId),
    ]);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      if (outcome.status === 'rejected') {
        expect((outcome.reason as NanoBananaError).params.reason).toBe('response_too_large');
      }
    }
    expect(calls[0]).toHaveLength(2);
    expect(calls.slice(1).every((ids) => ids.length === 1)).toBe(true);
    follower.close();
  });

  it('slows down on retrieval failures and still delivers', async () => {
    const quickClient = new NanoBananaClient({
      apiToken: TOKEN,
      baseUrl: api.url,
      retrieveRetry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
    });
    const follower = new TaskFollower({
      client: quickClient,
      pollIntervalMs: 20,
      maxBackoffMs: 200,
    });
    const task = await client.create(validateRequest({ prompt: 'through errors' }, limits));
    api.finishTask(task.taskId);
    const failures = Array.from({ length: 10 }, () => ({ status: 500, code: 'api_error' }));
    api.failNextRetrievals(...failures);
    const result = await follower.follow(task.taskId);
    expect(result.taskId).toBe(task.taskId);
    // Five failed calls of two attempts each, then the one that answered.
    expect(follower.retrievals).toBe(6);
    follower.close();
    await quickClient.close();
  });

  it('gives up a task on abort without disturbing another waiter of the same task', async () => {
    const follower = new TaskFollower({ client, pollIntervalMs: 30 });
    const task = await client.create(validateRequest({ prompt: 'two waiters' }, limits));
    const controller = new AbortController();
    const first = follower.follow(task.taskId, { signal: controller.signal });
    const second = follower.follow(task.taskId);
    controller.abort();
    await expect(first).rejects.toMatchObject({ code: 'cancelled' });
    api.finishTask(task.taskId);
    await expect(second).resolves.toMatchObject({ taskId: task.taskId });
    follower.close();
  });

  it('rejects waiters with cancelled when closed', async () => {
    const follower = new TaskFollower({ client, pollIntervalMs: 30 });
    const task = await client.create(validateRequest({ prompt: 'closing' }, limits));
    const wait = follower.follow(task.taskId);
    follower.close();
    await expect(wait).rejects.toBeInstanceOf(NanoBananaError);
    await expect(follower.follow(task.taskId)).rejects.toMatchObject({ code: 'cancelled' });
  });
});
