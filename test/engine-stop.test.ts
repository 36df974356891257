import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NanoBananaClient } from '../src/core/api/client.js';
import type { PlatformAdapter } from '../src/core/jobs/adapter.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { API_TOKEN, createEngine, type EngineFixture, request } from './helpers/engine-fixture.js';

/*
 * At the end of the shutdown grace the engine aborts what its jobs are doing: a create or a
 * delivery that ignored the abort would hold the stop (and the process) past Docker's kill.
 */

let api: MockApi;
const fixtures: EngineFixture[] = [];
const cleanUps: (() => Promise<void>)[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  await Promise.all(fixtures.splice(0).map((fixture) => fixture.close()));
  for (const cleanUp of cleanUps.splice(0)) await cleanUp();
});

/** Milliseconds until the promise settles, or `undefined` if it has not within `limitMs`. */
async function timed(work: Promise<unknown>, limitMs: number): Promise<number | undefined> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    work.then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), limitMs);
    }),
  ]);
  clearTimeout(timer);
  return outcome ? Date.now() - started : undefined;
}

describe('JobEngine.stop at the end of the grace', () => {
  it('aborts a create the API never answers, and leaves the job creating for the next start', async () => {
    // An API that takes creates and never answers them.
    const received: IncomingMessage[] = [];
    const closed: boolean[] = [];
    const silent: Server = createServer((incoming) => {
      received.push(incoming);
      incoming.resume();
      incoming.socket.once('close', () => closed.push(true));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanUps.push(async () => {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    });
    const client = new NanoBananaClient({
      apiToken: API_TOKEN,
      baseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      timeoutMs: 60_000,
      createRetry: { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
    });
    cleanUps.push(() => client.close());
    const fixture = await createEngine(api, { client });
    fixtures.push(fixture);
    const { engine, adapter } = fixture;
    await engine.start();
    const { job } = await engine.submit(request('a create left hanging'));
    await adapter.until(() => received.length === 1);
    expect((await engine.getJob(job.id))?.state).toBe('creating');

    const tookMs = await timed(engine.stop(100), 5_000);
    expect(tookMs, 'stop() still waiting on the create after 5 s').toBeDefined();
    expect((await engine.getJob(job.id))?.state).toBe('creating');
    await adapter.until(() => closed.length === 1);
  });

  it('hands the delivery the abort signal, so a stuck post ends with the grace', async () => {
    const fixture = await createEngine(api);
    fixtures.push(fixture);
    const { engine, adapter } = fixture;
    const signals: (AbortSignal | undefined)[] = [];
    const stuck: PlatformAdapter = {
      platform: 'stuck',
      fetchInput: () => Promise.reject(new Error('no inputs here')),
      notify: async () => {},
      // A post that only ends when told to stop, as a REST call given the signal does.
      deliver: (_job, _images, signal?: AbortSignal) => {
        signals.push(signal);
        return new Promise((_resolve, reject) => {
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      },
    };
    engine.registerAdapter(stuck);
    await engine.start();
    const { job } = await engine.submit(request('a delivery left hanging', { platform: 'stuck' }));
    await adapter.until(() => signals.length === 1);
    expect(signals[0]).toBeInstanceOf(AbortSignal);
    expect(signals[0]?.aborted).toBe(false);

    const tookMs = await timed(engine.stop(100), 5_000);
    expect(tookMs, 'stop() still waiting on the delivery after 5 s').toBeDefined();
    expect(signals[0]?.aborted).toBe(true);
    // Delivered at the next start, not failed.
    expect((await engine.getJob(job.id))?.state).toBe('delivering');
  });
});
