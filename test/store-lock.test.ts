import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreInUseError } from '../src/core/jobs/store-lock.js';
import { openSqliteStore } from '../src/core/jobs/stores/sqlite.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord } from './fakes/discord/index.js';

const TOKEN = 'lock-token-0123';

describe('the store lock, in one process', () => {
  it('refuses a second exclusive opening, naming the holder, and is free again once closed', async () => {
    const storePath = path.join(mkdtempSync(path.join(tmpdir(), 'nb-lock-')), 'jobs.db');
    const first = await openSqliteStore({ path: storePath, exclusive: true });
    let refusal: unknown;
    try {
      await openSqliteStore({ path: storePath, exclusive: true });
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(StoreInUseError);
    expect((refusal as StoreInUseError).holderPid).toBe(process.pid);
    expect((refusal as Error).message).toContain(storePath);
    // A plain connection (a tool, a test peeking at the store) is not the bot: it may still read.
    const peek = await openSqliteStore({ path: storePath });
    expect(await peek.listByState(['queued'])).toEqual([]);
    await peek.close();
    await first.close();
    const again = await openSqliteStore({ path: storePath, exclusive: true });
    await again.close();
  });
});

let api: MockApi;
let fake: FakeDiscord;
const children: ChildProcess[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: TOKEN, delayMs: 50 });
  fake = await FakeDiscord.start();
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await fake.close();
  await api.close();
});

interface Started {
  readonly child: ChildProcess;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

/** `node bin/nano-banana.js start` as an admin runs it, over the given DATA_DIR. */
function start(dataDir: string): Started {
  const child = spawn(process.execPath, [path.resolve('bin/nano-banana.js'), 'start'], {
    cwd: mkdtempSync(path.join(tmpdir(), 'nb-lock-cwd-')),
    env: {
      PATH: process.env.PATH,
      // Set, so that start runs in this very process (no relaunch for the malloc settings) and
      // the pid spawned is the pid holding the lock.
      MALLOC_ARENA_MAX: '2',
      MALLOC_MMAP_THRESHOLD_: '131072',
      ACEDATA_API_TOKEN: TOKEN,
      ACEDATA_BASE_URL: api.url,
      DISCORD_TOKEN: fake.botToken,
      DISCORD_API_URL: fake.apiUrl,
      DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, stderr: () => stderr, exited };
}

async function running(started: Started): Promise<number> {
  return fake.waitFor(
    () => {
      if (started.child.exitCode !== null) {
        throw new Error(`start exited ${started.child.exitCode}: ${started.stderr()}`);
      }
      const port = /"port":(\d+)[^\n]*is running/.exec(started.stderr())?.[1];
      return port === undefined ? undefined : Number(port);
    },
    { timeoutMs: 30_000, description: 'the running line' },
  );
}

describe('two nano-banana start over one DATA_DIR', () => {
  it('refuses the second within seconds, naming DATA_DIR and the holder; SIGKILL frees the lock', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'nb-lock-data-'));
    const first = start(dataDir);
    await running(first);

    const startedAt = Date.now();
    const second = start(dataDir);
    const code = await second.exited;
    const tookMs = Date.now() - startedAt;
    expect(code, second.stderr()).toBe(1);
    // A child's own start (Node, the bundle, better-sqlite3) takes seconds on a loaded 2-core
    // machine; what matters is that it refuses at once rather than waiting for the lock.
    expect(tookMs).toBeLessThan(20_000);
    expect(second.stderr()).toContain(`DATA_DIR ${dataDir} is in use`);
    expect(second.stderr()).toContain(`(pid ${first.child.pid})`);
    // It stopped before connecting anywhere: the first is still the only bot logged in.
    expect(second.stderr()).not.toContain('is running');
    expect(first.child.exitCode).toBeNull();

    first.child.kill('SIGKILL');
    await first.exited;
    const third = start(dataDir);
    const port = await running(third);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }, 120_000);
});
