import { EventEmitter } from 'node:events';
import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import type { JobEngine } from '../src/core/jobs/engine.js';
import { silentLogger } from '../src/core/logger.js';
import {
  type HealthReport,
  type HttpServerOptions,
  type HttpService,
  isLoopbackAddress,
  redactPath,
  startHttpServer,
} from '../src/service/http-server.js';
import {
  createMetrics,
  type EngineEventSource,
  type EngineStatsSnapshot,
  type MeasuredJob,
} from '../src/service/metrics.js';

const services: HttpService[] = [];
afterEach(async () => {
  await Promise.all(services.splice(0).map((service) => service.close()));
});

async function start(overrides: Partial<HttpServerOptions> = {}): Promise<HttpService> {
  const service = await startHttpServer({
    port: 0,
    host: '127.0.0.1',
    metrics: createMetrics(),
    health: () => ({ ready: true, checks: {} }),
    logger: silentLogger,
    ...overrides,
  });
  services.push(service);
  return service;
}

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A request through node:http, for what fetch cannot do (a lying length, a streamed body). */
function rawRequest(
  service: HttpService,
  options: {
    method: string;
    path: string;
    headers?: Record<string, string | number>;
    /** Written one after the other; the request ends after the last unless `keepOpen`. */
    chunks?: readonly Buffer[];
    keepOpen?: boolean;
    agent?: Agent;
  },
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: '127.0.0.1',
        port: service.port,
        method: options.method,
        path: options.path,
        headers: options.headers,
        ...(options.agent === undefined ? {} : { agent: options.agent }),
      },
      (incoming) => {
        const parts: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => parts.push(chunk));
        incoming.on('end', () => {
          resolve({
            status: incoming.statusCode ?? 0,
            headers: incoming.headers,
            body: Buffer.concat(parts).toString('utf8'),
          });
          if (options.keepOpen === true) outgoing.destroy();
        });
      },
    );
    // A server that answers before the body is all sent may close under the writer: the answer
    // is what the test checks, so a late write error is not a failure.
    outgoing.on('error', reject);
    for (const chunk of options.chunks ?? []) outgoing.write(chunk);
    if (options.keepOpen === true) outgoing.flushHeaders();
    else outgoing.end();
  });
}

type FakeEngine = EventEmitter & { stats: EngineStatsSnapshot };

function fakeEngine(stats: EngineStatsSnapshot): FakeEngine {
  const emitter = new EventEmitter() as FakeEngine;
  emitter.stats = stats;
  return emitter;
}

function job(state: string, platform: string, code?: string): MeasuredJob {
  return { state, platform, error: code === undefined ? undefined : { code } };
}

/** The value of one sample line of the exposition, e.g. `name{label="x"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('health and readiness', () => {
  it('answers /healthz with ok, also for HEAD', async () => {
    const service = await start();
    const answer = await fetch(`${service.url}/healthz`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ status: 'ok' });
    const head = await fetch(`${service.url}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('flips /readyz between 503 and 200 with the checks', async () => {
    let report: HealthReport = { ready: false, checks: { store: true, discord: 'connecting' } };
    const service = await start({ health: () => report });
    const notReady = await fetch(`${service.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({
      ready: false,
      checks: { store: true, discord: 'connecting' },
    });
    report = { ready: true, checks: { store: true, discord: true } };
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, checks: { store: true, discord: true } });
  });

  it('is not ready when the health check throws', async () => {
    const service = await start({
      health: () => {
        throw new Error('store gone');
      },
    });
    const answer = await fetch(`${service.url}/readyz`);
    expect(answer.status).toBe(503);
    expect(((await answer.json()) as { ready: boolean }).ready).toBe(false);
  });
});

describe('metrics', () => {
  it('exposes the metric names and what a fake engine and follower report', async () => {
    const metrics = createMetrics();
    const engine = fakeEngine({ queued: 3, inFlight: 2, paused: true });
    metrics.bindEngine(engine);
    let retrievals = 5;
    metrics.observeFollower(() => ({ retrievals, size: 7 }));
    const service = await start({ metrics, callbacks: { handle: () => false } });

    engine.emit('finished', job('done', 'discord'));
    engine.emit('finished', job('done', 'slack'));
    engine.emit('finished', job('failed', 'discord', 'moderation_blocked'));
    engine.emit('finished', job('cancelled', 'slack'));
    engine.emit('created', 1500, true);
    engine.emit('created', 250, false);
    engine.emit('delivered', job('done', 'discord'), 800);
    engine.emit('claimed', job('queued', 'discord'), 4);
    engine.emit('claimed', job('queued', 'slack'), 120);
    await expect(
      rawRequest(service, { method: 'POST', path: '/callbacks/nano-banana/a/b' }),
    ).resolves.toMatchObject({ status: 404 });

    const answer = await fetch(`${service.url}/metrics`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toContain('text/plain');
    const text = await answer.text();
    for (const name of [
      'nodejs_eventloop_lag_seconds',
      'process_cpu_seconds_total',
      'nano_banana_jobs_total',
      'nano_banana_queue_depth',
      'nano_banana_jobs_in_flight',
      'nano_banana_api_create_seconds',
      'nano_banana_task_retrievals_total',
      'nano_banana_delivery_seconds',
      'nano_banana_callbacks_total',
      'nano_banana_claim_wait_seconds',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(sample(text, 'nano_banana_jobs_total{outcome="done",code="none"}')).toBe(2);
    expect(sample(text, 'nano_banana_jobs_total{outcome="failed",code="moderation_blocked"}')).toBe(
      1,
    );
    expect(sample(text, 'nano_banana_jobs_total{outcome="cancelled",code="none"}')).toBe(1);
    expect(sample(text, 'nano_banana_queue_depth')).toBe(3);
    expect(sample(text, 'nano_banana_jobs_in_flight')).toBe(2);
    expect(sample(text, 'nano_banana_engine_paused')).toBe(1);
    expect(sample(text, 'nano_banana_tasks_followed')).toBe(7);
    expect(sample(text, 'nano_banana_task_retrievals_total')).toBe(5);
    expect(sample(text, 'nano_banana_api_create_seconds_count{ok="true"}')).toBe(1);
    expect(sample(text, 'nano_banana_api_create_seconds_sum{ok="true"}')).toBe(1.5);
    expect(sample(text, 'nano_banana_api_create_seconds_bucket{le="1",ok="true"}')).toBe(0);
    expect(sample(text, 'nano_banana_api_create_seconds_bucket{le="2",ok="true"}')).toBe(1);
    expect(sample(text, 'nano_banana_api_create_seconds_count{ok="false"}')).toBe(1);
    expect(sample(text, 'nano_banana_delivery_seconds_sum{platform="discord"}')).toBe(0.8);
    expect(sample(text, 'nano_banana_callbacks_total{accepted="false"}')).toBe(1);
    // Claim waits, in buckets fine from 1 ms.
    expect(sample(text, 'nano_banana_claim_wait_seconds_bucket{le="0.001"}')).toBe(0);
    expect(sample(text, 'nano_banana_claim_wait_seconds_bucket{le="0.005"}')).toBe(1);
    expect(sample(text, 'nano_banana_claim_wait_seconds_bucket{le="0.1"}')).toBe(1);
    expect(sample(text, 'nano_banana_claim_wait_seconds_bucket{le="0.15"}')).toBe(2);
    expect(sample(text, 'nano_banana_claim_wait_seconds_count')).toBe(2);
    expect(sample(text, 'nano_banana_callbacks_total{accepted="true"}')).toBe(0);

    // Stats are read on each scrape, and the retrievals counter grows with the follower's total.
    engine.stats = { queued: 0, inFlight: 1, paused: false };
    retrievals = 12;
    const later = await (await fetch(`${service.url}/metrics`)).text();
    expect(sample(later, 'nano_banana_queue_depth')).toBe(0);
    expect(sample(later, 'nano_banana_jobs_in_flight')).toBe(1);
    expect(sample(later, 'nano_banana_engine_paused')).toBe(0);
    expect(sample(later, 'nano_banana_task_retrievals_total')).toBe(12);
    // A follower whose total starts again (a new one) never makes the counter go down.
    retrievals = 4;
    const after = await (await fetch(`${service.url}/metrics`)).text();
    expect(sample(after, 'nano_banana_task_retrievals_total')).toBe(16);
  });

  it('accepts the real engine where it takes a fake one', () => {
    // Checked by the compiler (tsc), since vitest does not type-check.
    expectTypeOf<JobEngine>().toExtend<EngineEventSource>();
  });

  it('stops counting once unbound', async () => {
    const metrics = createMetrics();
    const engine = fakeEngine({ queued: 0, inFlight: 0, paused: false });
    const unbind = metrics.bindEngine(engine);
    engine.emit('finished', job('done', 'discord'));
    unbind();
    engine.emit('finished', job('done', 'discord'));
    expect(engine.listenerCount('finished')).toBe(0);
    expect(engine.listenerCount('claimed')).toBe(0);
    const { body } = await metrics.render();
    expect(sample(body, 'nano_banana_jobs_total{outcome="done",code="none"}')).toBe(1);
  });

  it('needs the bearer token when METRICS_TOKEN is set', async () => {
    const service = await start({ metricsToken: 'scrape-secret-123' });
    const without = await fetch(`${service.url}/metrics`);
    expect(without.status).toBe(401);
    expect(without.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await fetch(`${service.url}/metrics`, {
      headers: { authorization: 'Bearer scrape-secret-12' },
    });
    expect(wrong.status).toBe(401);
    const basic = await fetch(`${service.url}/metrics`, {
      headers: { authorization: 'Basic scrape-secret-123' },
    });
    expect(basic.status).toBe(401);
    const right = await fetch(`${service.url}/metrics`, {
      headers: { authorization: 'Bearer scrape-secret-123' },
    });
    expect(right.status).toBe(200);
    expect(await right.text()).toContain('nano_banana_jobs_total');
    // Health stays open to probes without the token.
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
  });

  it('lets two servers in one process keep their own registries', async () => {
    const first = createMetrics();
    const second = createMetrics();
    first.bindEngine(fakeEngine({ queued: 1, inFlight: 0, paused: false }));
    second.bindEngine(fakeEngine({ queued: 9, inFlight: 0, paused: false }));
    const one = await start({ metrics: first });
    const two = await start({ metrics: second });
    const [textOne, textTwo] = await Promise.all(
      [one, two].map(async (service) => (await fetch(`${service.url}/metrics`)).text()),
    );
    expect(sample(textOne ?? '', 'nano_banana_queue_depth')).toBe(1);
    expect(sample(textTwo ?? '', 'nano_banana_queue_depth')).toBe(9);
  });
});

describe('callbacks', () => {
  function recordingHandler(answer: boolean) {
    const calls: [string, string][] = [];
    return {
      calls,
      handler: {
        handle(jobId: string, token: string) {
          calls.push([jobId, token]);
          return answer;
        },
      },
    };
  }

  it('answers 204 when the engine takes it, with the decoded id and token', async () => {
    const { calls, handler } = recordingHandler(true);
    const service = await start({ callbacks: handler });
    const answer = await fetch(`${service.url}/callbacks/nano-banana/job%201/tok-_%2Bx?ignored=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ success: true, task_id: 't1' }),
    });
    expect(answer.status).toBe(204);
    expect(calls).toEqual([['job 1', 'tok-_+x']]);
  });

  it('answers 404 when the engine refuses it, and for malformed paths without asking', async () => {
    const { calls, handler } = recordingHandler(false);
    const service = await start({ callbacks: handler });
    const refused = await fetch(`${service.url}/callbacks/nano-banana/job1/wrong`, {
      method: 'POST',
      body: '{}',
    });
    expect(refused.status).toBe(404);
    expect(await refused.json()).toEqual({ error: 'not_found' });
    for (const path of [
      '/callbacks/nano-banana/job1',
      '/callbacks/nano-banana/job1/',
      '/callbacks/nano-banana/job1/token/extra',
      '/callbacks/nano-banana/%E0%A4%A/token',
    ]) {
      const answer = await fetch(`${service.url}${path}`, { method: 'POST', body: '{}' });
      expect(answer.status, path).toBe(404);
    }
    expect(calls).toEqual([['job1', 'wrong']]);
    const get = await fetch(`${service.url}/callbacks/nano-banana/job1/wrong`);
    expect(get.status).toBe(405);
    expect(calls).toHaveLength(1);
  });

  it('takes a body of exactly 1 MiB', async () => {
    const { calls, handler } = recordingHandler(true);
    const service = await start({ callbacks: handler });
    const answer = await rawRequest(service, {
      method: 'POST',
      path: '/callbacks/nano-banana/job1/token1',
      headers: { 'content-length': 1024 * 1024 },
      chunks: [Buffer.alloc(1024 * 1024, 0x61)],
    });
    expect(answer.status).toBe(204);
    expect(calls).toHaveLength(1);
  });

  it('answers 413 to a declared length over 1 MiB without reading it or asking the engine', async () => {
    const { calls, handler } = recordingHandler(true);
    const service = await start({ callbacks: handler });
    const answer = await rawRequest(service, {
      method: 'POST',
      path: '/callbacks/nano-banana/job1/token1',
      headers: { 'content-length': 1024 * 1024 + 1 },
      keepOpen: true,
    });
    expect(answer.status).toBe(413);
    expect(answer.headers.connection).toBe('close');
    expect(JSON.parse(answer.body)).toEqual({ error: 'payload_too_large' });
    expect(calls).toEqual([]);
  });

  it('answers 413 to a streamed body that grows past 1 MiB', async () => {
    const { calls, handler } = recordingHandler(true);
    const metrics = createMetrics();
    const service = await start({ callbacks: handler, metrics });
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    const answer = await rawRequest(service, {
      method: 'POST',
      path: '/callbacks/nano-banana/job1/token1',
      headers: { 'transfer-encoding': 'chunked' },
      chunks: Array.from({ length: 20 }, () => chunk),
    });
    expect(answer.status).toBe(413);
    // The token is checked before the body is read, so the engine was asked (once).
    expect(calls).toEqual([['job1', 'token1']]);
    const { body } = await metrics.render();
    expect(sample(body, 'nano_banana_callbacks_total{accepted="true"}')).toBe(1);
  });

  it('checks the token before reading the body: a wrong one is answered at once', async () => {
    const { calls, handler } = recordingHandler(false);
    const service = await start({ callbacks: handler });
    // Headers that promise 512 KiB, and not one byte of it: only the path can be judged.
    const answer = await rawRequest(service, {
      method: 'POST',
      path: '/callbacks/nano-banana/job1/wrong-token',
      headers: { 'content-length': 512 * 1024 },
      keepOpen: true,
    });
    expect(answer.status).toBe(404);
    expect(answer.headers.connection).toBe('close');
    expect(calls).toEqual([['job1', 'wrong-token']]);
  });

  it('is 404 when no engine is given', async () => {
    const service = await start();
    const answer = await fetch(`${service.url}/callbacks/nano-banana/job1/token1`, {
      method: 'POST',
      body: '{}',
    });
    expect(answer.status).toBe(404);
  });

  it('never logs the token, the query or the headers', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = pino({ level: 'debug' }, destination);
    const { handler } = recordingHandler(true);
    const service = await start({ callbacks: handler, logger });
    const answer = await fetch(
      `${service.url}/callbacks/nano-banana/job7/secret-token-xyz?key=query-secret`,
      { method: 'POST', body: '{}', headers: { authorization: 'Bearer header-secret' } },
    );
    expect(answer.status).toBe(204);
    await service.close();
    const logged = lines.join('');
    expect(logged).toContain('/callbacks/nano-banana/job7/[redacted]');
    expect(logged).toContain('"status":204');
    expect(logged).not.toContain('secret-token-xyz');
    expect(logged).not.toContain('query-secret');
    expect(logged).not.toContain('header-secret');
  });

  it('redacts only the token segment of a callback path', () => {
    expect(redactPath('/callbacks/nano-banana/job1/abc')).toBe(
      '/callbacks/nano-banana/job1/[redacted]',
    );
    expect(redactPath('/callbacks/nano-banana/job1/abc/more')).toBe(
      '/callbacks/nano-banana/job1/[redacted]',
    );
    expect(redactPath('/slack/events')).toBe('/slack/events');
  });
});

describe('who may read /metrics', () => {
  /** An address of this machine that is not loopback, when it has one (eth0 in a container). */
  const otherAddress = Object.values(networkInterfaces())
    .flat()
    .find((entry) => entry !== undefined && !entry.internal && entry.family === 'IPv4')?.address;

  it('tells loopback addresses from others, IPv4-mapped ones included', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
      expect(isLoopbackAddress(address), address).toBe(true);
    }
    for (const address of ['10.0.0.1', '192.0.2.2', '::ffff:10.0.0.1', 'fd00::2', '', undefined]) {
      expect(isLoopbackAddress(address), String(address)).toBe(false);
    }
  });

  it.skipIf(otherAddress === undefined)(
    'answers loopback only without METRICS_TOKEN, and says so when it starts',
    async () => {
      const lines: string[] = [];
      const logger = pino(
        { level: 'info' },
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            lines.push(chunk.toString('utf8'));
            done();
          },
        }),
      );
      // Reached on this machine's own non-loopback address: the request comes from it.
      const service = await start({ host: '0.0.0.0', logger });
      const fromElsewhere = await fetch(`http://${otherAddress}:${service.port}/metrics`);
      expect(fromElsewhere.status).toBe(404);
      expect(await fromElsewhere.json()).toEqual({ error: 'not_found' });
      // Health stays open to probes from anywhere.
      expect((await fetch(`http://${otherAddress}:${service.port}/healthz`)).status).toBe(200);
      const local = await fetch(`http://127.0.0.1:${service.port}/metrics`);
      expect(local.status).toBe(200);
      expect(lines.join('')).toContain(
        '/metrics answers requests from this machine (loopback) only',
      );
    },
  );

  it.skipIf(otherAddress === undefined)(
    'with METRICS_TOKEN, needs the token from anywhere, and takes it from anywhere',
    async () => {
      const service = await start({ host: '0.0.0.0', metricsToken: 'scrape-secret-456' });
      for (const host of [otherAddress, '127.0.0.1']) {
        const url = `http://${host}:${service.port}/metrics`;
        expect((await fetch(url)).status, host).toBe(401);
        const authorized = await fetch(url, {
          headers: { authorization: 'Bearer scrape-secret-456' },
        });
        expect(authorized.status, host).toBe(200);
      }
    },
  );
});

describe('holding connections', () => {
  /** A raw connection; resolves `closed` when the server ends it. */
  function openSocket(
    service: HttpService,
    firstBytes = '',
  ): { socket: Socket; closed: Promise<number> } {
    const opened = Date.now();
    const socket = connect(service.port, '127.0.0.1');
    if (firstBytes !== '') socket.write(firstBytes);
    socket.on('error', () => {});
    socket.resume();
    const closed = new Promise<number>((resolve) =>
      socket.once('close', () => resolve(Date.now() - opened)),
    );
    return { socket, closed };
  }

  it('closes connections past the cap on arrival, says so once, and takes new ones once there is room', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString('utf8'));
          done();
        },
      }),
    );
    const service = await start({ maxConnections: 3, logger });
    // Each of the three asks for something and keeps its connection: the server holds all three.
    const ask = 'GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n';
    const held = [openSocket(service, ask), openSocket(service, ask), openSocket(service, ask)];
    await Promise.all(
      held.map(({ socket }) => new Promise((resolve) => socket.once('data', resolve))),
    );
    await expect(fetch(`${service.url}/healthz`)).rejects.toThrow();
    await expect(fetch(`${service.url}/healthz`)).rejects.toThrow();
    const warnings = lines.filter((line) => line.includes('NANO_BANANA_MAX_HTTP_CONNECTIONS'));
    expect(warnings).toHaveLength(1);
    for (const { socket } of held) socket.destroy();
    await Promise.all(held.map(({ closed }) => closed));
    await expect
      .poll(async () => (await fetch(`${service.url}/healthz`).catch(() => undefined))?.status, {
        timeout: 5_000,
      })
      .toBe(200);
  });

  it('cuts a client that never finishes its headers or its body, within seconds', async () => {
    const service = await start({ headersTimeoutMs: 500, requestTimeoutMs: 1_000 });
    const partialHeaders = openSocket(service, 'GET /healthz HTTP/1.1\r\nhost: x\r\n');
    const partialBody = openSocket(
      service,
      'POST /callbacks/nano-banana/job1/token1 HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\nabc',
    );
    // Node's own defaults are 60 s and 300 s; here both must go within a few seconds.
    const [headersCut, bodyCut] = await Promise.all([partialHeaders.closed, partialBody.closed]);
    expect(headersCut).toBeLessThan(5_000);
    expect(bodyCut).toBeLessThan(5_000);
  });
});

describe('routing and closing', () => {
  it('sends a mounted prefix and what is under it to its listener, longest prefix first', async () => {
    const service = await start();
    const seen: string[] = [];
    service.mount('/slack', (request, response) => {
      seen.push(`slack ${request.method} ${request.url}`);
      response.writeHead(200, { 'content-type': 'text/plain' }).end('slack');
    });
    service.mount('/slack/events/', async (request, response) => {
      seen.push(`events ${request.method} ${request.url}`);
      response.writeHead(200).end('events');
    });
    service.mount('/broken', async () => {
      throw new Error('listener failed');
    });
    expect(await (await fetch(`${service.url}/slack`)).text()).toBe('slack');
    expect(await (await fetch(`${service.url}/slack/commands`)).text()).toBe('slack');
    const events = await fetch(`${service.url}/slack/events?x=1`, { method: 'POST', body: '{}' });
    expect(await events.text()).toBe('events');
    expect((await fetch(`${service.url}/slacker`)).status).toBe(404);
    expect((await fetch(`${service.url}/broken`)).status).toBe(500);
    expect(seen).toEqual([
      'slack GET /slack',
      'slack GET /slack/commands',
      'events POST /slack/events?x=1',
    ]);
    expect(() => service.mount('/slack', () => {})).toThrow(/already mounted/);
    expect(() => service.mount('slack', () => {})).toThrow(/must start/);
  });

  it('answers anything else with 404 JSON, and a wrong method with 405', async () => {
    const service = await start();
    const unknown = await fetch(`${service.url}/nothing/here`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/json');
    expect(await unknown.json()).toEqual({ error: 'not_found' });
    const wrongMethod = await fetch(`${service.url}/healthz`, { method: 'POST', body: '' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD');
  });

  it('closes even with a keep-alive connection open, and stops accepting', async () => {
    const service = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      metrics: createMetrics(),
      health: () => ({ ready: true, checks: {} }),
      logger: silentLogger,
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await rawRequest(service, { method: 'GET', path: '/healthz', agent });
      expect(first.status).toBe(200);
      // The agent keeps the socket for another request: the connection stays open and idle.
      expect(Object.values(agent.freeSockets).flat()).toHaveLength(1);
      await service.close();
      await expect(fetch(`${service.url}/healthz`)).rejects.toThrow();
      // Closing twice is harmless.
      await service.close();
    } finally {
      agent.destroy();
    }
  });

  it('closes while a request is under way, cutting it after the grace period', async () => {
    const service = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      metrics: createMetrics(),
      health: () => ({ ready: true, checks: {} }),
      logger: silentLogger,
      closeGraceMs: 50,
    });
    let arrived: () => void = () => {};
    const requestArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    // A listener that never answers.
    service.mount('/hang', () => arrived());
    const hanging = fetch(`${service.url}/hang`).then(
      () => 'answered',
      () => 'cut',
    );
    await requestArrived;
    await service.close();
    expect(await hanging).toBe('cut');
  });

  it('rejects when the port is taken', async () => {
    const service = await start();
    await expect(
      startHttpServer({
        port: service.port,
        host: '127.0.0.1',
        metrics: createMetrics(),
        health: () => ({ ready: true, checks: {} }),
        logger: silentLogger,
      }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});
