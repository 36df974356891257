import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MALLOC_SETTINGS,
  RELAUNCHED_VARIABLE,
  relaunchEnvironment,
} from '../src/cli/malloc-relaunch.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord } from './fakes/discord/index.js';

const TOKEN = 'relaunch-token-0123';
const linuxGlibc = { platform: 'linux' as const, usesGlibc: () => true };

describe('when start relaunches itself with the malloc settings', () => {
  it('adds what is missing, keeps the operator’s values, and never relaunches twice', () => {
    expect(relaunchEnvironment({ ...linuxGlibc, env: { HOME: '/home/bot' } })).toEqual({
      HOME: '/home/bot',
      MALLOC_ARENA_MAX: '2',
      MALLOC_MMAP_THRESHOLD_: '131072',
      [RELAUNCHED_VARIABLE]: '1',
    });
    expect(relaunchEnvironment({ ...linuxGlibc, env: { MALLOC_ARENA_MAX: '4' } })).toMatchObject({
      MALLOC_ARENA_MAX: '4',
      MALLOC_MMAP_THRESHOLD_: '131072',
    });
    // Both set (the Docker image, npm start, the operator): run as is.
    expect(relaunchEnvironment({ ...linuxGlibc, env: { ...MALLOC_SETTINGS } })).toBeUndefined();
    // Already relaunched: never again, even if something dropped the settings.
    expect(
      relaunchEnvironment({ ...linuxGlibc, env: { [RELAUNCHED_VARIABLE]: '1' } }),
    ).toBeUndefined();
    // The settings are glibc's: nothing to gain elsewhere.
    expect(relaunchEnvironment({ ...linuxGlibc, platform: 'darwin', env: {} })).toBeUndefined();
    expect(relaunchEnvironment({ ...linuxGlibc, usesGlibc: () => false, env: {} })).toBeUndefined();
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

/** The environment of this test run, without the malloc settings: a plain shell's. */
function plainEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...extra };
  for (const name of Object.keys(MALLOC_SETTINGS)) delete env[name];
  return env;
}

function environOf(pid: number): Record<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .filter((entry) => entry.includes('='))
    .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]);
  return Object.fromEntries(entries);
}

/** The parent pid, from /proc/<pid>/stat (the field after the parenthesised name and state). */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

interface Relaunched {
  readonly child: ChildProcess;
  /** The pid in the bot's "is running" line: the process running the bot. */
  readonly runningPid: number;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

async function startPlainly(extra: Record<string, string> = {}): Promise<Relaunched> {
  const child = spawn(process.execPath, [path.resolve('bin/nano-banana.js'), 'start'], {
    cwd: mkdtempSync(path.join(tmpdir(), 'nb-relaunch-cwd-')),
    env: plainEnvironment({
      ACEDATA_API_TOKEN: TOKEN,
      ACEDATA_BASE_URL: api.url,
      DISCORD_TOKEN: fake.botToken,
      DISCORD_API_URL: fake.apiUrl,
      DATA_DIR: mkdtempSync(path.join(tmpdir(), 'nb-relaunch-data-')),
      PORT: '0',
      LOG_LEVEL: 'info',
      ...extra,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const runningPid = await fake.waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`start exited ${child.exitCode}: ${stderr}`);
      const pid = /"pid":(\d+)[^\n]*is running/.exec(stderr)?.[1];
      return pid === undefined ? undefined : Number(pid);
    },
    { timeoutMs: 30_000, description: 'the running line' },
  );
  return { child, runningPid, stderr: () => stderr, exited };
}

/** Resolves once the process is gone (bounded): it is not our child, so no exit event. */
async function gone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!existsSync(`/proc/${pid}`)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

describe.runIf(process.platform === 'linux')('node bin/nano-banana.js start, plainly', () => {
  it('runs the bot in a child with the malloc settings, passes SIGTERM on and the exit code back', async () => {
    const { child, runningPid, stderr, exited } = await startPlainly();
    const childPid = child.pid ?? -1;

    // The bot runs in a child of the process started, once relaunched, with both settings.
    expect(runningPid).not.toBe(childPid);
    expect(parentOf(runningPid)).toBe(childPid);
    const environ = environOf(runningPid);
    expect(environ.MALLOC_ARENA_MAX).toBe('2');
    expect(environ.MALLOC_MMAP_THRESHOLD_).toBe('131072');
    expect(environOf(childPid).MALLOC_ARENA_MAX).toBeUndefined();
    expect(stderr().match(/is running/g)).toHaveLength(1);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr()).toMatch(/"msg":"Stopped"/);
    expect(existsSync(`/proc/${runningPid}`)).toBe(false);
  }, 90_000);

  it('stops cleanly on a terminal’s Ctrl-C, which reaches both processes', async () => {
    const { child, runningPid, stderr, exited } = await startPlainly();
    // The terminal signals the whole foreground group; the launcher passes its copy on too.
    process.kill(runningPid, 'SIGINT');
    child.kill('SIGINT');
    expect(await exited, stderr()).toBe(0);
    expect(stderr()).toMatch(/"msg":"Stopped"/);
  }, 90_000);

  it('is not cut short by a second signal that arrives while it stops', async () => {
    // An API that never answers creates, so that the stop waits for one (up to the grace).
    const creates: string[] = [];
    const silent: Server = createServer((incoming, outgoing) => {
      incoming.resume();
      if (incoming.url?.endsWith('/nano-banana/images')) {
        creates.push(incoming.url);
        return;
      }
      outgoing.writeHead(500, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { child, runningPid, stderr, exited } = await startPlainly({
        ACEDATA_BASE_URL: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
        NANO_BANANA_SHUTDOWN_GRACE: '4s',
      });
      fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'a slow create' } });
      await fake.waitFor(() => creates.length > 0, { timeoutMs: 20_000 });
      process.kill(runningPid, 'SIGINT');
      await fake.waitFor(() => stderr().includes('Stopping'), { timeoutMs: 10_000 });
      // The launcher's copy (or systemd's, or a second Ctrl-C), mid-stop.
      child.kill('SIGINT');
      expect(await exited, stderr()).toBe(0);
      expect(stderr()).toContain('Already stopping');
      expect(stderr()).toMatch(/"msg":"Stopped"/);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 90_000);

  it('stops the bot when the launcher is killed outright', async () => {
    const { child, runningPid, stderr } = await startPlainly();
    child.kill('SIGKILL');
    expect(await gone(runningPid, 20_000), stderr()).toBe(true);
    expect(stderr()).toMatch(/"msg":"Stopped"/);
  }, 90_000);

  it('exits with the code the relaunched command exits with', async () => {
    const child = spawn(process.execPath, [path.resolve('bin/nano-banana.js'), 'start'], {
      cwd: mkdtempSync(path.join(tmpdir(), 'nb-relaunch-cwd-')),
      env: plainEnvironment({}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    // Said once: one relaunch, not a loop.
    expect(stderr.match(/no chat platform is configured/g)).toHaveLength(1);
  }, 30_000);
});
