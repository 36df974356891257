import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { API_TOKEN, createEngine, request } from './helpers/engine-fixture.js';

/**
 * The engine's own result download: results on the API's origin are fetched as they are (its mock
 * serves them on loopback), a result anywhere else only from a public address. A task whose
 * result points at the operator's network (here a loopback "metadata" server) fails without the
 * bot ever connecting there.
 */

let api: MockApi;
let metadata: { origin: string; seen: string[]; server: Server };

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 20 });
  const seen: string[] = [];
  const server = createServer((request, response) => {
    seen.push(request.url ?? '/');
    response.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(8));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  metadata = { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
});
afterAll(async () => {
  await api.close();
  await new Promise<void>((resolve) => metadata.server.close(() => resolve()));
});

describe('result downloads', () => {
  it('never connect to a non-public address outside the API’s origin', async () => {
    const fixture = await createEngine(api, {
      follower: {
        follow: async (taskId) => ({
          taskId,
          traceId: undefined,
          images: [{ url: `${metadata.origin}/latest/meta-data/` }],
          finishedAt: undefined,
        }),
        nudge: () => {},
      },
    });
    try {
      const { engine, adapter } = fixture;
      await engine.start();
      const { job } = await engine.submit(request('a result on the wrong host'));
      await adapter.until(async () => (await engine.getJob(job.id))?.state === 'failed', 15_000);
      expect((await engine.getJob(job.id))?.error).toMatchObject({
        code: 'upstream_error',
        params: { reason: 'blocked_address' },
      });
      expect(adapter.deliveries).toEqual([]);
      expect(metadata.seen).toEqual([]);
    } finally {
      await fixture.close();
    }
  });
});
