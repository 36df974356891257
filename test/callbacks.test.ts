import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/core/config.js';
import { silentLogger } from '../src/core/logger.js';
import { type MockApi, type RecordedCall, startMockApi } from '../src/mock-api/index.js';
import { type Service, startService } from '../src/service/service.js';
import { RecordingAdapter, request } from './helpers/engine-fixture.js';

/**
 * Issue 11: callbacks through the real wiring. The mock API calls back the URL the engine built
 * from `PUBLIC_URL`, that URL is the service's own HTTP server, and the server hands the callback
 * to the engine, which may only nudge the task follower. Nothing here calls the engine directly.
 */

const API_TOKEN = 'callbacks-api-token';
/** The follower's round: long enough that a retrieval caused by a callback stands out from one. */
const POLL_INTERVAL_MS = 1000;
/** Timers may fire a millisecond or so early; rounds are never closer than this. */
const TIMER_SLACK_MS = 20;

let api: MockApi;
let service: Service | undefined;
beforeAll(async () => {
  // Tasks end only when the test says so (finishTask).
  api = await startMockApi({ token: API_TOKEN, delayMs: 600_000 });
});
afterAll(async () => {
  await service?.stop();
  await api?.close();
});

/** A port free now, so that `PUBLIC_URL` can name the service before it starts. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The mock API's retrievals that asked for this task. */
function retrievalsOf(taskId: string): RecordedCall[] {
  return api.retrievals().filter((call) => {
    const body = call.body as { ids?: unknown; task_id?: unknown } | undefined;
    return (Array.isArray(body?.ids) && body.ids.includes(taskId)) || body?.task_id === taskId;
  });
}

async function until(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('callbacks through the service', () => {
  it('refuses a forged token mid-run without a retrieval, and delivers once despite a repeated valid callback', async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'nb-callbacks-'));
    const env = {
      ACEDATA_API_TOKEN: API_TOKEN,
      ACEDATA_BASE_URL: api.url,
      DATA_DIR: dataDir,
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      NANO_BANANA_POLL_INTERVAL_MS: String(POLL_INTERVAL_MS),
      NANO_BANANA_SHUTDOWN_GRACE: '1s',
    };
    const adapter = new RecordingAdapter('test');
    service = await startService({
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
    const { engine } = service;
    const { job } = await engine.submit(request('called back through the service'));
    await until(async () => (await engine.getJob(job.id))?.state === 'running', 'the task created');
    const taskId = (await engine.getJob(job.id))?.taskId ?? '';
    const create = api
      .creates()
      .find((call) => (call.body as { prompt?: string }).prompt === job.prompt);
    const callbackUrl = (create?.body as { callback_url?: string } | undefined)?.callback_url ?? '';
    expect(callbackUrl).toBe(
      `http://127.0.0.1:${port}/callbacks/nano-banana/${job.id}/${job.callbackToken}`,
    );

    // Mid-run, right after a round: the next retrieval is a whole round away unless something
    // wakes the follower early.
    const seen = retrievalsOf(taskId).length;
    await until(() => retrievalsOf(taskId).length > seen, 'a round of retrievals');
    // Counted before the forged callback is sent: a retrieval it set off may arrive before its 404.
    const round = retrievalsOf(taskId).length;
    const roundAt = retrievalsOf(taskId)[round - 1]?.at ?? 0;
    const forged = await fetch(
      `http://127.0.0.1:${port}/callbacks/nano-banana/${job.id}/${'x'.repeat(job.callbackToken.length)}`,
      { method: 'POST', body: JSON.stringify({ task_id: taskId, success: true }) },
    );
    expect(forged.status).toBe(404);
    const forgedAnsweredAt = Date.now();
    // Conclusive only if the forged callback was answered well inside the round.
    expect(forgedAnsweredAt).toBeLessThan(roundAt + POLL_INTERVAL_MS - 200);
    await until(() => retrievalsOf(taskId).length > round, 'the next round of retrievals');
    const next = retrievalsOf(taskId)[round];
    // No retrieval came early: the forged callback woke nothing.
    expect((next?.at ?? 0) - roundAt).toBeGreaterThanOrEqual(POLL_INTERVAL_MS - TIMER_SLACK_MS);
    expect((await engine.getJob(job.id))?.state).toBe('running');

    // The task ends; the mock API calls back the URL built from PUBLIC_URL, the service takes it.
    api.finishTask(taskId);
    await until(async () => (await engine.getJob(job.id))?.state === 'done', 'the delivery');
    expect(api.callbacks.filter((callback) => callback.taskId === taskId)).toEqual([
      expect.objectContaining({ url: callbackUrl, status: 204 }),
    ]);
    expect(adapter.deliveries.filter((delivery) => delivery.jobId === job.id)).toHaveLength(1);

    // The same valid callback again, one poll interval later: a hint for a finished job.
    const retrievalsWhenDone = retrievalsOf(taskId).length;
    await sleep(POLL_INTERVAL_MS);
    const repeated = await fetch(callbackUrl, {
      method: 'POST',
      body: JSON.stringify({ task_id: taskId, success: true }),
    });
    expect(repeated.status).toBe(204);
    // A round and a bit for anything it might have set off.
    await sleep(POLL_INTERVAL_MS + 200);
    expect(adapter.deliveries.filter((delivery) => delivery.jobId === job.id)).toHaveLength(1);
    expect(retrievalsOf(taskId)).toHaveLength(retrievalsWhenDone);
    expect((await engine.getJob(job.id))?.state).toBe('done');
  });
});
