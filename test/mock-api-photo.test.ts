import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { type MockApi, type MockApiOptions, startMockApi } from '../src/mock-api/index.js';

// The mock's photo-like images and drawing before a task finishes: what the benchmarks use to
// give the bot realistic results (large PNGs that shrink well as JPEGs), ready when "done".

const TOKEN = 'photo-test-token';
const started: MockApi[] = [];

async function start(options: MockApiOptions = {}): Promise<MockApi> {
  const api = await startMockApi({ token: TOKEN, delayMs: 10, ...options });
  started.push(api);
  return api;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((api) => api.close()));
});

async function post(api: MockApi, path: string, body: unknown) {
  const response = await fetch(`${api.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

interface SyncAnswer {
  success: boolean;
  data: { image_url: string }[];
}

async function imagesOf(api: MockApi, body: Record<string, unknown>): Promise<Buffer[]> {
  const answer = await post(api, '/nano-banana/images', { action: 'generate', ...body });
  expect(answer.status).toBe(200);
  const urls = (answer.json as unknown as SyncAnswer).data.map((item) => item.image_url);
  return Promise.all(urls.map(async (url) => Buffer.from(await (await fetch(url)).arrayBuffer())));
}

describe('the mock API photo option', () => {
  it('draws photo-like images: a large PNG that shrinks tenfold as a JPEG, each one different', async () => {
    const api = await start({ photo: true });
    const [first, second] = await imagesOf(api, { prompt: 'a lake at dawn', count: 2 });
    if (first === undefined || second === undefined) throw new Error('two images expected');
    const metadata = await sharp(first).metadata();
    expect(metadata).toMatchObject({ format: 'png', width: 1024, height: 1024, channels: 3 });
    const rawBytes = 1024 * 1024 * 3;
    // Far more than a flat picture (a few kB), less than the raw pixels.
    expect(first.length).toBeGreaterThan(rawBytes / 4);
    expect(first.length).toBeLessThan(rawBytes);
    const jpeg = await sharp(first).jpeg({ quality: 90 }).toBuffer();
    expect(jpeg.length).toBeLessThan(first.length / 5);
    expect(first.equals(second)).toBe(false);
  });

  it('still makes noise for mock:incompressible, and flat pictures without the option', async () => {
    const photo = await start({ photo: true });
    const [noise] = await imagesOf(photo, { prompt: 'static mock:incompressible' });
    expect(noise?.length).toBeGreaterThan(1024 * 1024 * 3);

    const plain = await start();
    const [flat] = await imagesOf(plain, { prompt: 'a lake at dawn' });
    expect(flat?.length).toBeLessThan(100_000);
  });
});

describe('the mock API drawBeforeFinish option', () => {
  it('finishes tasks with their images ready, in every mode, and finishTask still ends one at once', async () => {
    const api = await start({ drawBeforeFinish: true, photo: true });
    const [image] = await imagesOf(api, { prompt: 'sync' });
    expect((await sharp(image).metadata()).width).toBe(1024);

    const created = await post(api, '/nano-banana/images', {
      action: 'generate',
      prompt: 'async',
      async: true,
    });
    const taskId = String(created.json.task_id);
    let response: SyncAnswer | undefined;
    for (let attempt = 0; attempt < 500 && response === undefined; attempt += 1) {
      const answer = await post(api, '/nano-banana/tasks', { action: 'retrieve', id: taskId });
      response = answer.json.response as SyncAnswer | undefined;
      if (response === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(response?.success).toBe(true);
    const url = response?.data[0]?.image_url ?? '';
    expect((await fetch(url)).status).toBe(200);

    api.setDelay(60_000);
    const slow = await post(api, '/nano-banana/images', {
      action: 'generate',
      prompt: 'by hand',
      async: true,
    });
    const slowId = String(slow.json.task_id);
    api.finishTask(slowId);
    expect(api.tasks.get(slowId)?.response?.success).toBe(true);
  });

  it('ends a task told to fail without drawing anything', async () => {
    const api = await start({ drawBeforeFinish: true, delayMs: 50 });
    const created = await post(api, '/nano-banana/images', {
      action: 'generate',
      prompt: 'refused',
      async: true,
    });
    const taskId = String(created.json.task_id);
    api.setTaskOutcome(taskId, { fail: 'forbidden' });
    for (
      let attempt = 0;
      attempt < 500 && api.tasks.get(taskId)?.response === undefined;
      attempt++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(api.tasks.get(taskId)?.response).toMatchObject({
      success: false,
      error: { code: 'forbidden' },
    });
  });
});
