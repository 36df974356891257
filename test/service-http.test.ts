import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/core/config.js';
import { silentLogger } from '../src/core/logger.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { type Service, type ServiceAdapter, startService } from '../src/service/service.js';
import { FAKE_SLACK_DEFAULTS, type FakeSlack, startFakeSlack } from './fakes/slack/index.js';

/** Issue 9 §4 and issue 10 §5: the service's one HTTP server, as someone outside reaches it. */

const API_TOKEN = 'service-http-api-token';
const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin/nano-banana.js');
const MIB = 1024 * 1024;

let api: MockApi;
beforeAll(async () => {
  // Tasks that take a minute: a job stays running while its callbacks arrive.
  api = await startMockApi({ token: API_TOKEN, delayMs: 60_000 });
});
afterAll(async () => {
  await api?.close();
});

/** The value of one sample line of the Prometheus exposition. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('callbacks in /metrics', () => {
  let service: Service | undefined;
  afterAll(async () => {
    await service?.stop();
  });

  it('counts each callback once, by whether a job took it', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'nb-service-http-'));
    const env = {
      ACEDATA_API_TOKEN: API_TOKEN,
      ACEDATA_BASE_URL: api.url,
      DATA_DIR: dataDir,
      PORT: '0',
      PUBLIC_URL: 'http://127.0.0.1:9',
      NANO_BANANA_SHUTDOWN_GRACE: '1s',
    };
    // An adapter that posts nothing: this test is about the HTTP server.
    const quiet: ServiceAdapter = {
      name: 'quiet',
      platform: {
        platform: 'quiet',
        fetchInput: () => Promise.reject(new Error('no inputs here')),
        notify: async () => {},
        deliver: async () => ({}),
      },
      start: async () => {},
      ready: () => true,
      stop: async () => {},
    };
    service = await startService({
      config: loadConfig(env, dataDir),
      env,
      logger: silentLogger,
      host: '127.0.0.1',
      adapters: [() => quiet],
    });
    const { job } = await service.jobs.submit({
      platform: 'quiet',
      requesterId: 'user',
      channelId: 'channel',
      locale: 'en',
      action: 'generate',
      prompt: 'a callback test',
      options: { model: 'nano-banana' },
      inputs: [],
      destination: {},
    });
    const callbackUrl = `${service.http.url}/callbacks/nano-banana/${job.id}`;
    const taken = await fetch(`${callbackUrl}/${job.callbackToken}`, {
      method: 'POST',
      body: '{}',
    });
    expect(taken.status).toBe(204);
    const refused = await fetch(`${callbackUrl}/not-the-token`, { method: 'POST', body: '{}' });
    expect(refused.status).toBe(404);

    const text = await (await fetch(`${service.http.url}/metrics`)).text();
    expect(sample(text, 'nano_banana_callbacks_total{accepted="true"}')).toBe(1);
    expect(sample(text, 'nano_banana_callbacks_total{accepted="false"}')).toBe(1);
  });
});

describe('a slow-body attack on Slack’s endpoint', () => {
  let slack: FakeSlack;
  let child: ChildProcess | undefined;
  let log = '';
  beforeAll(async () => {
    slack = await startFakeSlack();
  });
  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    await slack?.close();
  });

  /** The bot's resident memory, from the kernel. */
  const rss = (pid: number): number =>
    Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;

  /**
   * One connection that declares a 4 MiB body and sends 1 MiB of it, then nothing. Resolves with
   * how long the server took to answer or close it (the answer's first line, if any).
   */
  function slowBody(
    port: number,
    headers: Record<string, string>,
    framing: 'length' | 'chunked' = 'length',
  ): Promise<{ ms: number; firstLine: string }> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      let received = '';
      const socket = connect(port, '127.0.0.1', () => {
        const head = Object.entries({
          host: 'bot',
          'content-type': 'application/json',
          ...(framing === 'length'
            ? { 'content-length': String(4 * MIB) }
            : { 'transfer-encoding': 'chunked' }),
          ...headers,
        })
          .map(([name, value]) => `${name}: ${value}`)
          .join('\r\n');
        socket.write(`POST /slack/events HTTP/1.1\r\n${head}\r\n\r\n`);
        if (framing === 'length') {
          socket.write(Buffer.alloc(MIB, 0x7b));
        } else {
          // 2 MiB in 64 KiB chunks, and never the last, empty one.
          const chunk = Buffer.alloc(64 * 1024, 0x7b);
          for (let index = 0; index < 32; index += 1) {
            socket.write(`${chunk.length.toString(16)}\r\n`);
            socket.write(chunk);
            socket.write('\r\n');
          }
        }
      });
      // The server may close while this side still writes: the outcome is what counts.
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
      });
      const guard = setTimeout(() => {
        socket.destroy();
        reject(new Error('the bot held a connection that never finished its body for 15 s'));
      }, 15_000);
      socket.once('close', () => {
        clearTimeout(guard);
        resolve({ ms: Date.now() - started, firstLine: received.split('\r\n')[0] ?? '' });
      });
    });
  }

  it('refuses and closes them at once, holds no memory for them, and keeps serving Slack', async () => {
    if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) {
      throw new Error('dist/ is missing: run `npm run build` first');
    }
    const cwd = mkdtempSync(path.join(tmpdir(), 'nb-slow-body-'));
    child = spawn(process.execPath, [BIN, 'start'], {
      cwd,
      env: {
        PATH: process.env.PATH ?? '',
        // As `npm start` and the Docker image run it (README, Operations): freed memory goes back.
        MALLOC_ARENA_MAX: '2',
        MALLOC_MMAP_THRESHOLD_: '131072',
        ACEDATA_API_TOKEN: API_TOKEN,
        ACEDATA_BASE_URL: api.url,
        DATA_DIR: path.join(cwd, 'data'),
        PORT: '0',
        LOG_LEVEL: 'info',
        SLACK_BOT_TOKEN: slack.botToken,
        SLACK_API_URL: slack.apiUrl,
        SLACK_SIGNING_SECRET: slack.signingSecret,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      log += chunk.toString('utf8');
    });
    const port = Number(
      await slack.waitFor(() => /"port":(\d+)/.exec(log)?.[1], { timeoutMs: 20_000 }),
    );
    const pid = child.pid ?? 0;
    const before = rss(pid);

    const now = () => String(Math.floor(Date.now() / 1000));
    const unsigned = Array.from({ length: 64 }, () => slowBody(port, {}));
    // Headers that look fresh (anyone can make them) do not buy a 4 MiB body either.
    const forged = Array.from({ length: 64 }, () =>
      slowBody(port, {
        'x-slack-signature': `v0=${randomBytes(32).toString('hex')}`,
        'x-slack-request-timestamp': now(),
      }),
    );
    // And a body that declares no length and just keeps coming is cut once past 1 MiB.
    const streamed = slowBody(
      port,
      {
        'x-slack-signature': `v0=${randomBytes(32).toString('hex')}`,
        'x-slack-request-timestamp': now(),
      },
      'chunked',
    );
    const [refused, tooLarge, endless] = await Promise.all([
      Promise.all(unsigned),
      Promise.all(forged),
      streamed,
    ]);
    expect(endless.firstLine).toBe('HTTP/1.1 413 Payload Too Large');
    const after = rss(pid);
    console.info(`slow-body attack: RSS ${before / MIB} → ${after / MIB} MiB`);

    for (const outcome of refused) expect(outcome.firstLine).toMatch(/^(HTTP\/1\.1 401|)/);
    for (const outcome of tooLarge) expect(outcome.firstLine).toMatch(/^(HTTP\/1\.1 413|)/);
    expect(refused.some((outcome) => outcome.firstLine.startsWith('HTTP/1.1 401'))).toBe(true);
    expect(tooLarge.some((outcome) => outcome.firstLine.startsWith('HTTP/1.1 413'))).toBe(true);
    const slowest = Math.max(...[...refused, ...tooLarge].map((outcome) => outcome.ms));
    expect(slowest, 'the longest a connection was held, in ms').toBeLessThan(10_000);
    // 130 MiB were sent; code that buffers them holds at least that much (the issue measured
    // 156 → 658 MiB for 128 such connections at 4 MiB). What is left here is the allocator's and
    // a just-started process's own growth (0 to ~35 MiB measured).
    expect((after - before) / MIB, 'RSS growth in MiB').toBeLessThan(64);

    // Slack's own (signed) requests still get through.
    slack.deliverTo({ url: `http://127.0.0.1:${port}/slack/events` });
    const ack = await slack.deliverSlashCommand({
      command: '/imagine',
      text: '--help',
      userId: FAKE_SLACK_DEFAULTS.userId,
      channelId: FAKE_SLACK_DEFAULTS.channelId,
    });
    expect(ack.status).toBe(200);

    child.kill('SIGTERM');
    const code = await new Promise((resolve) => child?.once('exit', resolve));
    expect(code).toBe(0);
  }, 90_000);
});
