import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The bot as an admin runs it, `node bin/nano-banana.js start`, in a process of its own: its
 * figures are then its own (its event loop, its memory), not shared with the fakes that drive it.
 * It runs the built code in dist/, so `npm run build` first (`npm run bench` does). Without the
 * malloc settings in its environment, `start` relaunches itself once with them: the figures are
 * then the relaunched process's, as the cold start includes the relaunch.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/nano-banana.js');
const GC_PRELOAD = path.join(import.meta.dirname, 'gc-on-signal.cjs');
/** What the preload prints once a collection asked for by SIGUSR2 is done. */
const GC_DONE = 'nano-banana-bench:gc-done';

export interface BotOptions {
  /** Settings: tokens, URLs, limits. PORT and DATA_DIR are added when missing. */
  readonly env: Record<string, string>;
  /** Allows `collectGarbage()` (node --expose-gc with a preload that collects on SIGUSR2). */
  readonly exposeGc?: boolean;
  /** How long to wait for /readyz to answer 200; default 20 s. */
  readonly readyTimeoutMs?: number;
}

export interface BotProcess {
  readonly pid: number;
  /** `http://127.0.0.1:PORT`: /readyz, /metrics, /slack/events, task callbacks. */
  readonly url: string;
  readonly port: number;
  /** Milliseconds from spawning to /readyz answering 200. */
  readonly readyMs: number;
  /** The latest log lines (stderr), for a failing benchmark to show. */
  logTail(): string;
  /** Resident memory now, in bytes (Linux: /proc/<pid>/status VmRSS). */
  rssBytes(): number;
  /** The largest resident memory the process has had, in bytes (VmHWM). */
  peakRssBytes(): number;
  /** Runs a full garbage collection in the bot (needs `exposeGc`). */
  collectGarbage(): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited in time; resolves with the exit code. */
  stop(): Promise<number | null>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A port that was free a moment ago: the bot's PORT must be known before it starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startBot(options: BotOptions): Promise<BotProcess> {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');
  }
  const port = Number(options.env.PORT ?? (await freePort()));
  // Its own working folder: no .env from the developer's machine is read.
  const cwd = mkdtempSync(path.join(tmpdir(), 'nb-bench-bot-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    LOG_LEVEL: 'warn',
    DATA_DIR: path.join(cwd, 'data'),
    ...options.env,
    PORT: String(port),
  };
  const nodeArguments = options.exposeGc ? ['--expose-gc', '--require', GC_PRELOAD] : [];
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [...nodeArguments, BIN, 'start'], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const launcherPid = child.pid ?? 0;
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-20_000);
  });
  const gcWaiters: Array<() => void> = [];
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout = (stdout + chunk.toString('utf8')).slice(-1_000);
    if (stdout.includes(GC_DONE)) {
      stdout = '';
      for (const resolve of gcWaiters.splice(0)) resolve();
    }
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      exitCode = code;
      running.delete(child);
      resolve(code);
    });
  });

  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + (options.readyTimeoutMs ?? 20_000);
  let readyMs: number | undefined;
  while (readyMs === undefined) {
    if (exitCode !== undefined) throw new Error(`the bot exited with ${exitCode}:\n${log}`);
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the bot was not ready in time:\n${log}`);
    }
    try {
      const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.status === 200) readyMs = performance.now() - spawnedAt;
    } catch {
      // Not listening yet.
    }
    if (readyMs === undefined) await sleep(5);
  }

  const pid = botProcessId(launcherPid);
  const status = (field: 'VmRSS' | 'VmHWM'): number => {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kilobytes = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1];
    if (kilobytes === undefined) throw new Error(`no ${field} for process ${pid}`);
    return Number(kilobytes) * 1024;
  };

  return {
    pid,
    url,
    port,
    readyMs,
    logTail: () => log.slice(-4_000),
    rssBytes: () => status('VmRSS'),
    peakRssBytes: () => status('VmHWM'),
    collectGarbage: async () => {
      if (!options.exposeGc) throw new Error('start the bot with exposeGc to collect garbage');
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('the bot did not report its garbage collection')),
          10_000,
        );
        gcWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      process.kill(pid, 'SIGUSR2');
      await done;
    },
    stop: async () => {
      if (exitCode !== undefined) return exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * The process running the bot: the launcher's child when `start` relaunched itself with the
 * malloc settings (src/cli/malloc-relaunch.ts), else the launcher itself.
 */
function botProcessId(launcherPid: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The parent pid is the second field after the parenthesised command name.
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === launcherPid) return Number(entry);
    } catch {
      // The process ended while the folder was read.
    }
  }
  return launcherPid;
}

/** Polls until `predicate` returns something (bounded); `describe` says what was awaited. */
export async function waitUntil<T>(
  predicate: () => T | undefined | false,
  options: { timeoutMs: number; what: string; intervalMs?: number; log?: () => string },
): Promise<T> {
  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    const value = predicate();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) {
      const log = options.log?.() ?? '';
      throw new Error(`timed out waiting for ${options.what}${log === '' ? '' : `:\n${log}`}`);
    }
    await sleep(options.intervalMs ?? 10);
  }
}
