import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NanoBananaClient, type NanoBananaClientOptions } from '../src/core/api/client.js';
import type { Clock } from '../src/core/clock.js';
import { type ErrorCode, NanoBananaError } from '../src/core/errors.js';
import { createModelCatalog } from '../src/core/models.js';
import { type ImageRequest, validateRequest } from '../src/core/request.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';

const TOKEN = 'test-token-123456';
const catalog = createModelCatalog();
const limits = { catalog, defaultModel: 'nano-banana', maxPromptLength: 4000 };
const generate: ImageRequest = validateRequest({ prompt: 'a white siamese cat' }, limits);

/** A clock whose sleeps return at once and are recorded, so backoff costs no real time. */
function recordingClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => Date.now(),
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw signal.reason;
      sleeps.push(ms);
    },
  };
}

let api: MockApi;
beforeAll(async () => {
  api = await startMockApi({ token: TOKEN, delayMs: 50 });
});
afterAll(async () => {
  await api.close();
});

const clients: NanoBananaClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function makeClient(options: Partial<NanoBananaClientOptions> = {}) {
  const clock = recordingClock();
  const client = new NanoBananaClient({
    apiToken: TOKEN,
    baseUrl: api.url,
    clock,
    random: () => 0.5,
    ...options,
  });
  clients.push(client);
  return { client, clock };
}

async function failure(promise: Promise<unknown>): Promise<NanoBananaError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(NanoBananaError);
    return error as NanoBananaError;
  }
  throw new Error('expected the call to fail');
}

describe('NanoBananaClient against the local API server', () => {
  it('creates an async task and reads it back pending, then done', async () => {
    const { client } = makeClient();
    api.setDelay(60_000);
    const created = await client.create(generate, { async: true });
    expect(created.taskId).toMatch(/\S/);
    expect(created.traceId).toMatch(/\S/);
    const body = api.creates().at(-1)?.body as Record<string, unknown>;
    expect(body).toEqual({
      action: 'generate',
      prompt: 'a white siamese cat',
      model: 'nano-banana',
      async: true,
    });
    expect(api.creates().at(-1)?.headers.authorization).toBe(`Bearer ${TOKEN}`);

    const pending = await client.retrieveTask(created.taskId);
    expect(pending.status.state).toBe('pending');
    api.finishTask(created.taskId);
    const done = await client.retrieveTask(created.taskId);
    expect(done.status.state).toBe('succeeded');
    if (done.status.state === 'succeeded')
      expect(done.status.images[0]?.url).toMatch(/^http:\/\/127\.0\.0\.1/);
    api.setDelay(50);
  });

  it('answers a synchronous create with the images', async () => {
    const { client } = makeClient();
    const request = validateRequest({ prompt: 'two cats --count 2', count: 2 }, limits);
    const created = await client.create(request, { async: false });
    expect(created.images).toHaveLength(2);
  });

  it('sends every field of an edit in the API format', async () => {
    const { client } = makeClient();
    const edit = validateRequest(
      {
        prompt: 'make it blue',
        model: 'pro',
        imageUrls: ['https://example.com/a.png'],
        aspectRatio: '16:9',
        resolution: '2k',
        count: 2,
      },
      limits,
    );
    await client.create(edit, { async: true, callbackUrl: 'http://127.0.0.1:9/callback' });
    expect(api.creates().at(-1)?.body).toEqual({
      action: 'edit',
      prompt: 'make it blue',
      model: 'nano-banana-pro',
      image_urls: ['https://example.com/a.png'],
      aspect_ratio: '16:9',
      resolution: '2K',
      count: 2,
      async: true,
      callback_url: 'http://127.0.0.1:9/callback',
    });
  });

  const errorTable: [number, string, ErrorCode][] = [
    [400, 'bad_request', 'invalid_input'],
    [400, 'token_mismatched', 'auth_failed'],
    [400, 'disabled', 'auth_failed'],
    [400, 'api_not_implemented', 'upstream_error'],
    [401, 'invalid_token', 'auth_failed'],
    [401, 'token_expired', 'auth_failed'],
    [403, 'used_up', 'balance_used_up'],
    [403, 'forbidden', 'moderation_blocked'],
    [403, 'content_blocked', 'moderation_blocked'],
    [404, 'no_api', 'upstream_error'],
    [413, 'request_too_large', 'request_too_large'],
    [500, 'api_error', 'upstream_error'],
    [502, 'bad_gateway', 'upstream_error'],
  ];
  it.each(errorTable)(
    'maps HTTP %i %s to %s, with the trace id, and never retries the create',
    async (status, code, expected) => {
      const { client, clock } = makeClient();
      const before = api.creates().length;
      api.failNextCreates({ status, code, message: `mock ${code}` });
      const error = await failure(client.create(generate));
      expect(error.code).toBe(expected);
      expect(error.status).toBe(status);
      expect(error.apiCode).toBe(code);
      expect(error.traceId).toMatch(/\S/);
      expect(error.retryable).toBe(false);
      expect(api.creates().length - before).toBe(1);
      expect(clock.sleeps).toEqual([]);
      expect(error.message).not.toContain(TOKEN);
    },
  );

  it('reads an error given as a bare string, or no body at all, from the status', async () => {
    const { client } = makeClient();
    api.failNextCreates({
      status: 403,
      code: 'used_up',
      message: 'balance used up',
      errorAsString: true,
    });
    expect((await failure(client.create(generate))).code).toBe('moderation_blocked');
    api.failNextCreates({ status: 401, noBody: true });
    expect((await failure(client.create(generate))).code).toBe('auth_failed');
    api.failNextCreates({ status: 413, noBody: true });
    expect((await failure(client.create(generate))).code).toBe('request_too_large');
  });

  it('retries a create refused with 429, honouring Retry-After', async () => {
    const { client, clock } = makeClient();
    const before = api.creates().length;
    api.failNextCreates({ status: 429, code: 'too_many_requests', retryAfter: 7 });
    const created = await client.create(generate);
    expect(created.taskId).toMatch(/\S/);
    expect(clock.sleeps).toEqual([7000]);
    expect(api.creates().length - before).toBe(2);
  });

  it('backs off exponentially on 429 without Retry-After, then gives up as rate_limited', async () => {
    const { client, clock } = makeClient({
      createRetry: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 30_000 },
    });
    const failures = Array.from({ length: 3 }, () => ({ status: 429, code: 'too_many_requests' }));
    api.failNextCreates(...failures);
    const error = await failure(client.create(generate));
    expect(error.code).toBe('rate_limited');
    expect(error.retryable).toBe(true);
    // random() is 0.5: half the ceiling plus a quarter of it.
    expect(clock.sleeps).toEqual([750, 1500]);
  });

  it('caps a long Retry-After at the policy maximum', async () => {
    const { client, clock } = makeClient({
      createRetry: { maxAttempts: 2, baseDelayMs: 100, maxDelayMs: 5000 },
    });
    api.failNextCreates({ status: 429, code: 'too_many_requests', retryAfter: 3600 });
    await client.create(generate);
    expect(clock.sleeps).toEqual([5000]);
  });

  it('does not retry a create that failed with 500: it may have made a paid task', async () => {
    const { client, clock } = makeClient();
    const before = api.creates().length;
    api.failNextCreates({ status: 500, code: 'api_error', message: 'fetch failed' });
    const error = await failure(client.create(generate));
    expect(error.code).toBe('upstream_error');
    expect(api.creates().length - before).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('does not retry a create whose connection dropped after sending', async () => {
    const { client } = makeClient();
    const before = api.creates().length;
    api.failNextCreates('drop');
    const error = await failure(client.create(generate));
    expect(error.code).toBe('network');
    expect(error.retryable).toBe(false);
    expect(api.creates().length - before).toBe(1);
  });

  it('times out a create that gets no answer, and does not send it again', async () => {
    const { client } = makeClient({ timeoutMs: 300 });
    const before = api.creates().length;
    api.failNextCreates('hang');
    const error = await failure(client.create(generate));
    expect(error.code).toBe('timeout');
    expect(error.retryable).toBe(false);
    expect(api.creates().length - before).toBe(1);
  });

  it('retries a create whose connection was refused: it never reached the service', async () => {
    const port = await unusedPort();
    const clock = recordingClock();
    const client = new NanoBananaClient({
      apiToken: TOKEN,
      baseUrl: `http://127.0.0.1:${port}`,
      clock,
    });
    clients.push(client);
    const error = await failure(client.create(generate));
    expect(error.code).toBe('network');
    expect(error.params.reason).toBe('ECONNREFUSED');
    expect(clock.sleeps).toHaveLength(2);
  });

  it('retries a retrieval on 500 and on a hang, with backoff', async () => {
    const { client, clock } = makeClient({ timeoutMs: 300 });
    const created = await client.create(generate);
    const before = api.retrievals().length;
    api.failNextRetrievals({ status: 500, code: 'api_error' }, 'hang', { status: 503 });
    const snapshot = await client.retrieveTask(created.taskId);
    expect(snapshot.id).toBe(created.taskId);
    expect(api.retrievals().length - before).toBe(4);
    expect(clock.sleeps).toHaveLength(3);
  });

  it('gives up a retrieval after the policy attempts', async () => {
    const { client } = makeClient({
      retrieveRetry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
    });
    api.failNextRetrievals({ status: 500 }, { status: 500 });
    const error = await failure(client.retrieveTask('whatever'));
    expect(error.code).toBe('upstream_error');
    expect(error.retryable).toBe(true);
  });

  it('stops waiting to retry when the caller aborts', async () => {
    const controller = new AbortController();
    const client = new NanoBananaClient({
      apiToken: TOKEN,
      baseUrl: api.url,
      clock: {
        now: () => Date.now(),
        sleep: (_ms, signal) =>
          new Promise((_resolve, reject) => {
            signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
            controller.abort();
          }),
      },
    });
    clients.push(client);
    api.failNextCreates({ status: 429, code: 'too_many_requests' });
    const error = await failure(client.create(generate, { signal: controller.signal }));
    expect(error.code).toBe('cancelled');
  });

  it('refuses an answer larger than the cap', async () => {
    const { client } = makeClient();
    // The finished task repeats its prompt in its response: 3,000 bytes kept, over a 2,000 cap.
    const long = validateRequest({ prompt: `a long prompt ${'x'.repeat(3000)}` }, limits);
    const created = await client.create(long);
    api.finishTask(created.taskId);
    const error = await failure(client.retrieveTask(created.taskId, { maxResponseBytes: 2000 }));
    expect(error.params.reason).toBe('response_too_large');
    const whole = await client.retrieveTask(created.taskId, { maxResponseBytes: 100_000 });
    expect(whole.id).toBe(created.taskId);
  });

  it('does not count the echoed request against the cap: it is left out as it arrives', async () => {
    const { client } = makeClient();
    const big = validateRequest(
      { prompt: 'edit', imageUrls: [`data:image/png;base64,${'A'.repeat(200_000)}`] },
      limits,
    );
    const created = await client.create(big);
    const snapshot = await client.retrieveTask(created.taskId, { maxResponseBytes: 100_000 });
    expect(snapshot.id).toBe(created.taskId);
  });

  it('reads a failed task as the safety filter refusing, and an empty result as no_image', async () => {
    const { client } = makeClient();
    const refused = await client.create(validateRequest({ prompt: 'something mock:fail' }, limits));
    const empty = await client.create(
      validateRequest({ prompt: 'something mock:noimage' }, limits),
    );
    api.finishTask(refused.taskId);
    api.finishTask(empty.taskId);
    const [first, second] = await client.retrieveTasks([refused.taskId, empty.taskId]);
    const byId = new Map([first, second].map((snapshot) => [snapshot?.id, snapshot]));
    const refusedStatus = byId.get(refused.taskId)?.status;
    const emptyStatus = byId.get(empty.taskId)?.status;
    expect(refusedStatus?.state === 'failed' && refusedStatus.error.code).toBe(
      'moderation_blocked',
    );
    expect(emptyStatus?.state === 'failed' && emptyStatus.error.code).toBe('no_image');
  });

  it('refuses a batch of more than 50 ids before sending it', async () => {
    const { client } = makeClient();
    const before = api.retrievals().length;
    await expect(
      client.retrieveTasks(Array.from({ length: 51 }, (_, index) => `id-${index}`)),
    ).rejects.toThrow(RangeError);
    expect(api.retrievals().length).toBe(before);
  });
});

async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}
