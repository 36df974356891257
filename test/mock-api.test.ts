import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import {
  describeMockApi,
  MOCK_DIRECTIVES,
  type MockApi,
  type MockApiOptions,
  startMockApi,
} from '../src/mock-api/index.js';

const TOKEN = 'test-token';
const started: MockApi[] = [];

async function start(options: MockApiOptions = {}): Promise<MockApi> {
  const api = await startMockApi({ token: TOKEN, delayMs: 10, ...options });
  started.push(api);
  return api;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((api) => api.close()));
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test helper reading arbitrary JSON answers
  json: any;
}

async function post(
  api: MockApi,
  path: string,
  body: unknown,
  init: { token?: string | null; signal?: AbortSignal; rawBody?: string } = {},
): Promise<Answer> {
  const token = init.token === undefined ? TOKEN : init.token;
  const response = await fetch(`${api.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
    body: init.rawBody ?? JSON.stringify(body),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

const createImage = (api: MockApi, body: Record<string, unknown>, init = {}) =>
  post(api, '/nano-banana/images', { action: 'generate', ...body }, init);
const retrieve = (api: MockApi, id: string) =>
  post(api, '/nano-banana/tasks', { id, action: 'retrieve' });

async function imageSize(url: string): Promise<{ width: number; height: number; bytes: number }> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('image/png');
  const bytes = Buffer.from(await response.arrayBuffer());
  const metadata = await sharp(bytes).metadata();
  expect(metadata.format).toBe('png');
  return { width: metadata.width ?? 0, height: metadata.height ?? 0, bytes: bytes.length };
}

/** Polls a task until it has a response; bounded, so a broken mock fails instead of hanging. */
async function waitForResponse(api: MockApi, id: string) {
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const answer = await retrieve(api, id);
    if (answer.json?.response !== undefined) return answer.json;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`task ${id} never finished`);
}

describe('synchronous create', () => {
  it('answers with images of the size the model, ratio and resolution give', async () => {
    const api = await start();
    const cases = [
      { model: 'nano-banana-pro', aspect_ratio: '16:9', resolution: '2K', size: [2752, 1536] },
      { model: 'nano-banana', aspect_ratio: '3:2', size: [1248, 832] },
      { model: 'nano-banana-2', aspect_ratio: '9:16', resolution: '1K', size: [768, 1376] },
      { model: 'nano-banana-pro', aspect_ratio: '3:4', resolution: '2K', size: [1792, 2400] },
    ];
    for (const { size, ...fields } of cases) {
      const answer = await createImage(api, { prompt: 'a <b>cat</b> & "dog"', ...fields });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toBe('application/json');
      expect(answer.json.success).toBe(true);
      expect(answer.json.task_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(answer.json.trace_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(answer.json.data).toHaveLength(1);
      expect(answer.json.data[0].prompt).toBe('a <b>cat</b> & "dog"');
      expect(answer.json.data[0].image_url).toMatch(
        new RegExp(`^${api.url}/images/[0-9a-f-]{36}\\.png$`),
      );
      const image = await imageSize(answer.json.data[0].image_url);
      expect([image.width, image.height]).toEqual(size);
    }
    expect(api.creates()).toHaveLength(cases.length);
    expect(api.creates()[0]?.status).toBe(200);
    expect(api.creates()[0]?.body).toMatchObject({ model: 'nano-banana-pro', resolution: '2K' });
  });

  it('makes `count` distinct images, and the same image twice from the cache', async () => {
    const api = await start();
    const answer = await createImage(api, { prompt: 'four apples', count: 4 });
    expect(answer.json.data).toHaveLength(4);
    const urls = answer.json.data.map((item: { image_url: string }) => item.image_url);
    expect(new Set(urls).size).toBe(4);
    const first = await fetch(urls[0]).then((response) => response.arrayBuffer());
    const again = await fetch(urls[0]).then((response) => response.arrayBuffer());
    expect(Buffer.from(again).equals(Buffer.from(first))).toBe(true);
    const missing = await fetch(`${api.url}/images/00000000-0000-0000-0000-000000000000.png`);
    expect(missing.status).toBe(404);
  });

  it('follows the first input image of an edit without aspect_ratio, and echoes data: URLs', async () => {
    const api = await start();
    const png = await sharp({
      create: { width: 300, height: 200, channels: 3, background: '#336699' },
    })
      .png()
      .toBuffer();
    const dataUrl = `data:image/png;base64,${png.toString('base64')}`;
    const answer = await post(api, '/nano-banana/images', {
      action: 'edit',
      prompt: 'make it red',
      image_urls: [dataUrl],
    });
    expect(answer.status).toBe(200);
    const image = await imageSize(answer.json.data[0].image_url);
    expect([image.width, image.height]).toEqual([1248, 832]);
    const task = await retrieve(api, answer.json.task_id);
    expect(task.json.request.image_urls[0]).toBe(dataUrl);
    expect(task.json.request.action).toBe('edit');
    expect(api.creates()[0]?.bodyBytes).toBeGreaterThan(dataUrl.length);
  });
});

describe('asynchronous create and the tasks endpoint', () => {
  it('answers at once, is pending, then done', async () => {
    const api = await start({ delayMs: 60_000 });
    const created = await createImage(api, { prompt: 'a slow cat', async: true });
    expect(created.status).toBe(200);
    expect(created.json).toEqual({
      success: true,
      task_id: expect.any(String),
      trace_id: expect.any(String),
    });
    const pending = await retrieve(api, created.json.task_id);
    expect(pending.status).toBe(200);
    expect(pending.json).toMatchObject({ id: created.json.task_id, type: 'images' });
    expect(pending.json.trace_id).toBe(created.json.trace_id);
    expect(typeof pending.json.created_at).toBe('number');
    expect(typeof pending.json.started_at).toBe('number');
    expect(pending.json).not.toHaveProperty('response');
    expect(pending.json).not.toHaveProperty('finished_at');
    expect(pending.json.request).toEqual({ action: 'generate', prompt: 'a slow cat', async: true });

    api.finishTask(created.json.task_id);
    const done = await retrieve(api, created.json.task_id);
    expect(done.json.finished_at).toBeGreaterThanOrEqual(done.json.created_at);
    expect(done.json.elapsed).toBe(
      Math.round((done.json.finished_at - done.json.created_at) * 1000) / 1000,
    );
    expect(done.json.response).toMatchObject({
      success: true,
      task_id: created.json.task_id,
      trace_id: created.json.trace_id,
    });
    expect(done.json.response.data).toHaveLength(1);
    expect(api.retrievals()).toHaveLength(2);
  });

  it('finishes by itself after the delay', async () => {
    const api = await start({ delayMs: 20 });
    const created = await createImage(api, { prompt: 'soon', async: true });
    const task = await waitForResponse(api, created.json.task_id);
    expect(task.response.success).toBe(true);
    expect(api.tasks.get(created.json.task_id)?.finishedAt).toBeTypeOf('number');
  });

  it('retrieves a batch, omitting unknown ids, and refuses more than 50 ids', async () => {
    const api = await start({ delayMs: 60_000 });
    const ids: string[] = [];
    for (let index = 0; index < 3; index += 1) {
      ids.push((await createImage(api, { prompt: `cat ${index}`, async: true })).json.task_id);
    }
    api.finishTask(ids[1] ?? '');
    const batch = await post(api, '/nano-banana/tasks', {
      action: 'retrieve_batch',
      ids: [...ids, 'no-such-task'],
    });
    expect(batch.status).toBe(200);
    expect(batch.json.count).toBe(3);
    expect(batch.json.items.map((item: { id: string }) => item.id)).toEqual(ids);
    expect(batch.json.items[0]).not.toHaveProperty('response');
    expect(batch.json.items[1].response.success).toBe(true);
    expect(batch.json.trace_id).toMatch(/^[0-9a-f-]{36}$/);

    const tooMany = await post(api, '/nano-banana/tasks', {
      action: 'retrieve_batch',
      ids: Array.from({ length: 51 }, (_, index) => `id-${index}`),
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error.code).toBe('bad_request');

    const unknown = await retrieve(api, 'no-such-task');
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ success: false, error: { code: 'not_found' } });
    expect(unknown.json.trace_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('holds 200 tasks in flight and answers batches of 50 of them', async () => {
    const api = await start({ delayMs: 60_000 });
    const created = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        createImage(api, { prompt: `task ${index}`, async: true }),
      ),
    );
    const ids = created.map((answer) => answer.json.task_id as string);
    expect(new Set(ids).size).toBe(200);
    expect(api.tasks.size).toBe(200);
    for (let start = 0; start < 200; start += 50) {
      const batch = await post(api, '/nano-banana/tasks', {
        action: 'retrieve_batch',
        ids: ids.slice(start, start + 50),
      });
      expect(batch.json.count).toBe(50);
    }
  });

  it('lets a test change a pending task’s outcome', async () => {
    const api = await start({ delayMs: 60_000 });
    const refused = await createImage(api, { prompt: 'a', async: true });
    const empty = await createImage(api, { prompt: 'b', async: true });
    api.setTaskOutcome(refused.json.task_id, { fail: 'forbidden', message: 'unsafe' });
    api.setTaskOutcome(empty.json.task_id, 'noimage');
    api.finishTask(refused.json.task_id);
    api.finishTask(empty.json.task_id);
    expect((await retrieve(api, refused.json.task_id)).json.response).toMatchObject({
      success: false,
      error: { code: 'forbidden', message: 'unsafe' },
    });
    expect((await retrieve(api, empty.json.task_id)).json.response).toMatchObject({
      success: true,
      data: [],
    });
    expect(() => api.setTaskOutcome(empty.json.task_id, 'images')).toThrow(/finished/);
    expect(() => api.finishTask('no-such-task')).toThrow(/no task/);
  });

  it('holds the tasks a test picks past their delay until released, one or all', async () => {
    const api = await start({ delayMs: 10 });
    api.hold((task) => String(task.request.prompt).startsWith('held'));
    const idOf = async (prompt: string): Promise<string> =>
      (await createImage(api, { prompt, async: true })).json.task_id;
    const first = await idOf('held one');
    const second = await idOf('held two');
    // Created last with the same delay, so its end means the held ones' delays have run.
    await waitForResponse(api, await idOf('free'));
    expect(api.tasks.get(first)?.response).toBeUndefined();
    expect(api.tasks.get(second)?.response).toBeUndefined();

    api.release(first);
    expect((await waitForResponse(api, first)).response.success).toBe(true);
    expect(api.tasks.get(second)?.response).toBeUndefined();
    expect(() => api.release(first)).toThrow(/not held/);

    // The hold stays on for new tasks until everything is released.
    const third = await idOf('held three');
    api.release();
    expect((await waitForResponse(api, second)).response.success).toBe(true);
    expect((await waitForResponse(api, third)).response.success).toBe(true);
    expect((await waitForResponse(api, await idOf('held no more'))).response.success).toBe(true);
  });
});

describe('callbacks', () => {
  let receiver: Server | undefined;

  afterEach(async () => {
    await new Promise((resolve) => receiver?.close(resolve) ?? resolve(undefined));
    receiver = undefined;
  });

  it('POSTs the finished result to callback_url', async () => {
    const received = new Promise<{ message: IncomingMessage; body: string }>((resolve) => {
      receiver = createServer((message, response) => {
        let body = '';
        message.setEncoding('utf8');
        message.on('data', (chunk: string) => {
          body += chunk;
        });
        message.on('end', () => {
          response.end('ok');
          resolve({ message, body });
        });
      });
    });
    await new Promise<void>((resolve) => receiver?.listen(0, '127.0.0.1', resolve));
    const port = (receiver?.address() as AddressInfo | undefined)?.port;
    const api = await start({ delayMs: 10 });
    const created = await createImage(api, {
      prompt: 'called back',
      callback_url: `http://127.0.0.1:${port}/hook?token=secret`,
    });
    expect(created.status).toBe(200);
    expect(created.json.task_id).toBeTypeOf('string');
    expect(created.json).not.toHaveProperty('data');

    const { message, body } = await received;
    expect(message.method).toBe('POST');
    expect(message.url).toBe('/hook?token=secret');
    expect(message.headers['content-type']).toBe('application/json');
    const payload = JSON.parse(body);
    expect(payload).toMatchObject({
      success: true,
      task_id: created.json.task_id,
      trace_id: created.json.trace_id,
    });
    expect(payload.data[0].prompt).toBe('called back');
    for (let attempt = 0; attempt < 200 && api.callbacks.length === 0; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(api.callbacks[0]).toMatchObject({ taskId: created.json.task_id, status: 200 });
  });

  it('records a callback that could not be delivered', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const port = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });
    const api = await start({ delayMs: 0 });
    const created = await createImage(api, {
      prompt: 'nobody listens',
      callback_url: `http://127.0.0.1:${closedPort}/hook`,
    });
    for (let attempt = 0; attempt < 200 && api.callbacks.length === 0; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(api.callbacks[0]?.taskId).toBe(created.json.task_id);
    expect(api.callbacks[0]?.error).toBeTypeOf('string');
    expect(api.callbacks[0]?.status).toBeUndefined();
  });
});

describe('prompt directives', () => {
  it('mock:error=<code> answers that error at once with its status', async () => {
    const api = await start({ delayMs: 60_000 });
    const expected: Record<string, number> = {
      used_up: 403,
      forbidden: 403,
      invalid_token: 401,
      token_expired: 401,
      bad_request: 400,
      request_too_large: 413,
      too_many_requests: 429,
      api_error: 500,
      no_api: 404,
    };
    for (const [code, status] of Object.entries(expected)) {
      const answer = await createImage(api, { prompt: `a cat mock:error=${code}` });
      expect(answer.status).toBe(status);
      expect(answer.json).toMatchObject({ success: false, error: { code } });
      expect(answer.json.error.message).toBeTypeOf('string');
      expect(answer.json.trace_id).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(api.tasks.size).toBe(0);
  });

  it('mock:fail ends an async task refused; mock:fail=<code> with that code', async () => {
    const api = await start({ delayMs: 10 });
    const refused = await createImage(api, { prompt: 'mock:fail a cat', async: true });
    const usedUp = await createImage(api, { prompt: 'a cat mock:fail=used_up', async: true });
    expect(refused.status).toBe(200);
    const refusedTask = await waitForResponse(api, refused.json.task_id);
    expect(refusedTask.response).toMatchObject({
      success: false,
      task_id: refused.json.task_id,
      error: { code: 'forbidden' },
    });
    const usedUpTask = await waitForResponse(api, usedUp.json.task_id);
    expect(usedUpTask.response.error.code).toBe('used_up');
  });

  it('mock:fail answers a synchronous create with a 403 after the delay', async () => {
    const api = await start({ delayMs: 10 });
    const answer = await createImage(api, { prompt: 'mock:fail' });
    expect(answer.status).toBe(403);
    expect(answer.json).toMatchObject({ success: false, error: { code: 'forbidden' } });
    expect(api.tasks.size).toBe(1);
  });

  it('mock:noimage succeeds with an empty data', async () => {
    const api = await start();
    const answer = await createImage(api, { prompt: 'mock:noimage nothing' });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ success: true, data: [] });
  });

  it('mock:delay=<ms> overrides the server delay for that task', async () => {
    const api = await start({ delayMs: 60_000 });
    const quick = await createImage(api, { prompt: 'quick mock:delay=0', async: true });
    expect((await waitForResponse(api, quick.json.task_id)).response.success).toBe(true);

    api.setDelay(0);
    const slow = await createImage(api, { prompt: 'slow mock:delay=60000', async: true });
    expect(api.tasks.get(slow.json.task_id)?.delayMs).toBe(60_000);
    expect((await retrieve(api, slow.json.task_id)).json).not.toHaveProperty('response');
  });

  it('mock:incompressible and the incompressible option make noise images', async () => {
    const api = await start();
    const flat = await createImage(api, { prompt: 'flat' });
    const noise = await createImage(api, { prompt: 'noise mock:incompressible' });
    const flatImage = await imageSize(flat.json.data[0].image_url);
    const noiseImage = await imageSize(noise.json.data[0].image_url);
    const rawBytes = 1024 * 1024 * 3;
    expect(flatImage.bytes).toBeLessThan(rawBytes / 10);
    expect(noiseImage.bytes).toBeGreaterThan(rawBytes);

    const noisy = await start({ incompressible: true });
    const answer = await createImage(noisy, { prompt: 'plain prompt' });
    expect((await imageSize(answer.json.data[0].image_url)).bytes).toBeGreaterThan(rawBytes);
  });

  it('lists every directive, and describeMockApi shows them with the URL', async () => {
    const api = await start();
    const text = describeMockApi(api);
    expect(text).toContain(api.url);
    for (const directive of MOCK_DIRECTIVES) expect(text).toContain(directive.syntax);
    expect(MOCK_DIRECTIVES.map((directive) => directive.syntax.split(/[=[]/)[0])).toEqual([
      'mock:error',
      'mock:fail',
      'mock:noimage',
      'mock:delay',
      'mock:incompressible',
    ]);
  });
});

describe('canned failures', () => {
  it('answers queued create failures in order, then works again', async () => {
    const api = await start();
    api.failNextCreates(
      { status: 429, retryAfter: 7 },
      { status: 500, message: 'fetch failed', errorAsString: true },
      { status: 502, noBody: true },
    );
    const limited = await createImage(api, { prompt: 'a' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect(limited.json).toMatchObject({ success: false, error: { code: 'too_many_requests' } });
    expect(limited.json.trace_id).toMatch(/^[0-9a-f-]{36}$/);

    const asString = await createImage(api, { prompt: 'a' });
    expect(asString.status).toBe(500);
    expect(asString.json.error).toBe('fetch failed');

    const empty = await createImage(api, { prompt: 'a' });
    expect(empty.status).toBe(502);
    expect(empty.text).toBe('');

    const fine = await createImage(api, { prompt: 'a' });
    expect(fine.status).toBe(200);
    expect(api.creates().map((call) => call.status)).toEqual([429, 500, 502, 200]);
    expect(api.tasks.size).toBe(1);
  });

  it('drops the connection, or never answers until the client gives up', async () => {
    const api = await start();
    api.failNextCreates('drop', 'hang');
    await expect(createImage(api, { prompt: 'dropped' })).rejects.toThrow();
    await expect(
      createImage(api, { prompt: 'hung' }, { signal: AbortSignal.timeout(200) }),
    ).rejects.toThrow();
    expect(api.creates().map((call) => call.status)).toEqual([0, 0]);
    expect(api.creates()[1]?.body).toMatchObject({ prompt: 'hung' });
    expect(api.tasks.size).toBe(0);
    expect((await createImage(api, { prompt: 'fine' })).status).toBe(200);
  });

  it('follows a fault plan by create index, after any queued failure', async () => {
    const seen: number[] = [];
    const api = await start({
      createFaults: (createIndex) => {
        seen.push(createIndex);
        if (createIndex % 4 === 1) return { status: 429, retryAfter: 0 };
        return createIndex % 4 === 3 ? { status: 500 } : undefined;
      },
    });
    api.failNextCreates({ status: 403, code: 'used_up' });
    const answers = [];
    // Sequential, so that each create's index is its place in this loop.
    for (let attempt = 0; attempt < 8; attempt += 1) {
      answers.push(await createImage(api, { prompt: `plan ${attempt}`, async: true }));
    }
    expect(answers.map((answer) => answer.status)).toEqual([
      403, 429, 200, 500, 200, 429, 200, 500,
    ]);
    // The queued failure took the first create: the plan was not asked about it.
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(answers[1]?.headers.get('retry-after')).toBe('0');
    expect(answers[1]?.json).toMatchObject({ error: { code: 'too_many_requests' } });
    expect(answers[3]?.json).toMatchObject({ error: { code: 'api_error' } });
    // Refused creates make no task.
    expect(api.tasks.size).toBe(3);
    expect(api.creates().map((call) => call.status)).toEqual(
      answers.map((answer) => answer.status),
    );
  });

  it('queues retrieval failures separately from creates', async () => {
    const api = await start({ delayMs: 60_000 });
    const created = await createImage(api, { prompt: 'a', async: true });
    api.failNextRetrievals({ status: 503, code: 'api_error' });
    const failed = await retrieve(api, created.json.task_id);
    expect(failed.status).toBe(503);
    expect(failed.json.error.code).toBe('api_error');
    expect((await retrieve(api, created.json.task_id)).status).toBe(200);
  });
});

describe('authentication and validation', () => {
  it('refuses a missing or wrong token with 401 invalid_token', async () => {
    const api = await start();
    for (const token of [null, 'wrong', '']) {
      const answer = await createImage(api, { prompt: 'a' }, { token });
      expect(answer.status).toBe(401);
      expect(answer.json).toMatchObject({ success: false, error: { code: 'invalid_token' } });
    }
    const tasks = await post(
      api,
      '/nano-banana/tasks',
      { id: 'x', action: 'retrieve' },
      {
        token: 'wrong',
      },
    );
    expect(tasks.status).toBe(401);
    expect(api.tasks.size).toBe(0);
  });

  it('accepts any non-empty token when none is configured', async () => {
    const api = await startMockApi({ delayMs: 0 });
    started.push(api);
    expect((await createImage(api, { prompt: 'a' }, { token: 'anything' })).status).toBe(200);
    expect((await createImage(api, { prompt: 'a' }, { token: null })).status).toBe(401);
  });

  it('refuses invalid bodies with 400 bad_request', async () => {
    const api = await start();
    const invalid: Record<string, unknown>[] = [
      { prompt: 'no action' },
      { action: 'paint', prompt: 'x' },
      { action: 'generate' },
      { action: 'generate', prompt: '   ' },
      { action: 'edit', prompt: 'no images' },
      { action: 'generate', prompt: 'x', model: 'pro' },
      { action: 'generate', prompt: 'x', model: 'dall-e' },
      { action: 'generate', prompt: 'x', aspect_ratio: '5:4' },
      { action: 'generate', prompt: 'x', resolution: '8K' },
      { action: 'generate', prompt: 'x', model: 'nano-banana', resolution: '2K' },
      { action: 'generate', prompt: 'x', count: 5 },
      { action: 'generate', prompt: 'x', count: 1.5 },
      { action: 'generate', prompt: 'x', async: 'yes' },
      { action: 'generate', prompt: 'x', callback_url: 'ftp://example/hook' },
      { action: 'edit', prompt: 'x', image_urls: ['not a url'] },
    ];
    for (const body of invalid) {
      const answer = await post(api, '/nano-banana/images', body);
      expect({ body, status: answer.status }).toEqual({ body, status: 400 });
      expect(answer.json).toMatchObject({ success: false, error: { code: 'bad_request' } });
    }
    const notJson = await post(api, '/nano-banana/images', undefined, { rawBody: '{oops' });
    expect(notJson.status).toBe(400);
    const tooMany = await post(api, '/nano-banana/images', {
      action: 'edit',
      prompt: 'x',
      image_urls: Array.from({ length: 17 }, (_, index) => `https://example.com/${index}.png`),
    });
    expect(tooMany.status).toBe(413);
    expect(tooMany.json.error.code).toBe('request_too_large');
    const tooLarge = await post(api, '/nano-banana/images', {
      action: 'edit',
      prompt: 'x',
      image_urls: [`data:image/png;base64,${'A'.repeat(14 * 1024 * 1024)}`],
    });
    expect(tooLarge.status).toBe(413);
    expect(api.tasks.size).toBe(0);
  });

  it('answers unknown paths with 404 no_api', async () => {
    const api = await start();
    const answer = await post(api, '/nano-banana/videos', { action: 'generate', prompt: 'x' });
    expect(answer.status).toBe(404);
    expect(answer.json.error.code).toBe('no_api');
  });
});

describe('close', () => {
  function resourceCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
    return counts;
  }

  it('ends pending tasks, hung requests and sockets, leaving no timer or server behind', async () => {
    // Handles closed by earlier tests go away on a later turn of the event loop.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = resourceCounts();
    const api = await startMockApi({ token: TOKEN, delayMs: 60_000 });
    for (let index = 0; index < 5; index += 1) {
      await createImage(api, { prompt: `pending ${index}`, async: true });
    }
    api.failNextCreates('hang');
    const hung = createImage(api, { prompt: 'hung' }).catch((error: unknown) => error);
    const waiting = createImage(api, { prompt: 'sync, never finishes' }).catch(
      (error: unknown) => error,
    );
    // A call is recorded on arrival; its task (and timer) once its body has been read.
    for (let attempt = 0; attempt < 200 && api.tasks.size < 6; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(api.creates()).toHaveLength(7);
    expect(api.tasks.size).toBe(6);
    // One timer per pending task: the count below must see them to mean anything.
    expect(resourceCounts().Timeout ?? 0).toBeGreaterThanOrEqual(6);

    await api.close();
    expect(await hung).toBeInstanceOf(Error);
    expect(await waiting).toBeInstanceOf(Error);
    const settled = (counts: Record<string, number>) =>
      ['TCPServerWrap', 'TCPSocketWrap', 'Timeout'].every(
        (name) => (counts[name] ?? 0) <= (before[name] ?? 0),
      );
    let after = resourceCounts();
    for (let attempt = 0; attempt < 100 && !settled(after); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      after = resourceCounts();
    }
    expect(after.TCPServerWrap ?? 0).toBeLessThanOrEqual(before.TCPServerWrap ?? 0);
    expect(after.TCPSocketWrap ?? 0).toBeLessThanOrEqual(before.TCPSocketWrap ?? 0);
    expect(after.Timeout ?? 0).toBeLessThanOrEqual(before.Timeout ?? 0);
    await api.close();
  });
});
