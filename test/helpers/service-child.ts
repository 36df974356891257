import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

/**
 * The service as a real process (test/fixtures/service-child.mjs, over the built dist/), for the
 * tests that kill it and start it again over the same store: its adapter writes what it is told
 * into `OUT_DIR/events.jsonl`, and `/test/submit` stands for a platform request.
 */

export interface ServiceChild {
  readonly child: ChildProcess;
  readonly url: string;
}

export interface ServiceChildOptions {
  readonly token: string;
  readonly apiUrl: string;
  readonly dataDir: string;
  readonly outDir: string;
  /** More settings (limits, the fixture's own switches). */
  readonly env?: Record<string, string>;
  /** How long the child may take to say it is ready. */
  readonly readyTimeoutMs: number;
  /** Every child started goes here, for the file's afterAll to kill what is left. */
  readonly children: ChildProcess[];
}

/** Starts the built service as a real process and waits (bounded) for its ready line. */
export async function startServiceChild(options: ServiceChildOptions): Promise<ServiceChild> {
  const child = spawn(process.execPath, [path.resolve('test/fixtures/service-child.mjs')], {
    env: {
      PATH: process.env.PATH,
      ACEDATA_API_TOKEN: options.token,
      ACEDATA_BASE_URL: options.apiUrl,
      DATA_DIR: options.dataDir,
      OUT_DIR: options.outDir,
      PORT: '0',
      LOG_LEVEL: 'warn',
      NANO_BANANA_POLL_INTERVAL_MS: '100',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  options.children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`child not ready: ${stderr}`)),
      options.readyTimeoutMs,
    );
    let buffer = '';
    child.stdout?.on('data', (chunk) => {
      buffer += String(chunk);
      const line = buffer.split('\n').find((candidate) => candidate.includes('"ready"'));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

/** Submits a request to the child as a platform would; the new job's id. */
export async function submitJob(url: string, body: Record<string, unknown>): Promise<string> {
  const response = await fetch(`${url}/test/submit`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { jobId: string }).jobId;
}

/** One line of what the child's adapter was told or did. */
export interface ChildEvent {
  type: string;
  jobId: string;
  pid: number;
  event?: { kind: string; error?: { code: string; params?: Record<string, unknown> } };
}

export function childEvents(outDir: string): ChildEvent[] {
  const file = path.join(outDir, 'events.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ChildEvent);
}

/** Polls `predicate` every 50 ms until it holds, or fails naming `what` after `timeoutMs`. */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
