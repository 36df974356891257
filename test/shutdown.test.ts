import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../src/core/jobs/stores/sqlite.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord } from './fakes/discord/index.js';

const TOKEN = 'shutdown-token-0123';
const GRACE_MS = 2000;
let api: MockApi;
let fake: FakeDiscord;
const children: ChildProcess[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: TOKEN, delayMs: 100 });
  fake = await FakeDiscord.start();
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await fake.close();
  await api.close();
});

/** Resolves with the first JSON line on stdout that `pick` accepts; rejects on exit or timeout. */
function line<T>(
  child: ChildProcess,
  pick: (entry: Record<string, unknown>) => T | undefined,
  timeoutMs: number,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      cleanUp();
      reject(new Error(`no such line within ${timeoutMs} ms; got: ${buffer}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      buffer += String(chunk);
      for (const text of buffer.split('\n')) {
        if (!text.startsWith('{')) continue;
        const picked = pick(JSON.parse(text) as Record<string, unknown>);
        if (picked !== undefined) {
          cleanUp();
          resolve(picked);
          return;
        }
      }
    };
    const onExit = (code: number | null) => {
      cleanUp();
      reject(new Error(`child exited with ${code}; got: ${buffer}`));
    };
    const cleanUp = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

describe('stopping a service with a delivery that never ends and an adapter that never stops', () => {
  it('ends the whole stop within NANO_BANANA_SHUTDOWN_GRACE and leaves the job for the next start', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'nb-shutdown-'));
    const child = spawn(process.execPath, [path.resolve('test/fixtures/stubborn-child.mjs')], {
      env: {
        PATH: process.env.PATH,
        ACEDATA_API_TOKEN: TOKEN,
        ACEDATA_BASE_URL: api.url,
        DATA_DIR: dataDir,
        PORT: '0',
        LOG_LEVEL: 'warn',
        NANO_BANANA_POLL_INTERVAL_MS: '100',
        NANO_BANANA_SHUTDOWN_GRACE: `${GRACE_MS}ms`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const port = await line(child, (entry) => entry.port as number | undefined, 20_000);
    const submitted = await fetch(`http://127.0.0.1:${port}/test/submit`, { method: 'POST' });
    const { jobId } = (await submitted.json()) as { jobId: string };
    await line(child, (entry) => (entry.delivering === jobId ? true : undefined), 20_000);

    const stopped = line(child, (entry) => entry.stoppedInMs as number | undefined, 20_000);
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    const stoppedInMs = await stopped;
    const code = await exited;
    const exitedAfterMs = Date.now() - signalledAt;

    expect(code, stderr).toBe(0);
    // A timer in a busy process may fire a little late; a hang would be far beyond this.
    expect(stoppedInMs).toBeGreaterThanOrEqual(GRACE_MS - 50);
    expect(stoppedInMs).toBeLessThan(GRACE_MS + 1000);
    expect(exitedAfterMs).toBeLessThan(GRACE_MS + 3000);
    expect(stderr).toContain('Stopped at the end of the grace period');
    expect(stderr).toContain('adapter stubborn');

    // The store was closed properly and keeps the job: the next start delivers it.
    const store = await openSqliteStore({ path: path.join(dataDir, 'jobs.db'), exclusive: true });
    try {
      expect((await store.get(jobId))?.state).toBe('delivering');
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('nano-banana start, stopped while a client holds a request open', () => {
  it('exits within the grace, not when the HTTP server finally cuts the connection', async () => {
    const grace = 1000;
    const child = spawn(process.execPath, [path.resolve('bin/nano-banana.js'), 'start'], {
      cwd: mkdtempSync(path.join(tmpdir(), 'nb-shutdown-cwd-')),
      env: {
        PATH: process.env.PATH,
        MALLOC_ARENA_MAX: '2',
        MALLOC_MMAP_THRESHOLD_: '131072',
        ACEDATA_API_TOKEN: TOKEN,
        ACEDATA_BASE_URL: api.url,
        DISCORD_TOKEN: fake.botToken,
        DISCORD_API_URL: fake.apiUrl,
        DATA_DIR: mkdtempSync(path.join(tmpdir(), 'nb-shutdown-data-')),
        PORT: '0',
        LOG_LEVEL: 'info',
        NANO_BANANA_SHUTDOWN_GRACE: `${grace}ms`,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const port = await fake.waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`start exited ${child.exitCode}: ${stderr}`);
        return /"port":(\d+)[^\n]*is running/.exec(stderr)?.[1];
      },
      { timeoutMs: 30_000, description: 'the running line' },
    );
    // A request whose headers never end: the HTTP server waits for it, then cuts it after its
    // own close delay, longer than the grace.
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.on('error', () => {});
    socket.write('POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 10\r\n');
    await new Promise((resolve) => setTimeout(resolve, 200));

    const signalledAt = Date.now();
    child.kill('SIGTERM');
    const code = await exited;
    const tookMs = Date.now() - signalledAt;
    socket.destroy();
    expect(code, stderr).toBe(0);
    expect(tookMs).toBeLessThan(grace + 2500);
  }, 60_000);
});
