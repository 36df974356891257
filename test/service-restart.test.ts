import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFinal } from '../src/core/jobs/job.js';
import { openSqliteStore } from '../src/core/jobs/stores/sqlite.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { childEvents, startServiceChild, submitJob, until } from './helpers/service-child.js';

const TOKEN = 'restart-token-0123';
let api: MockApi;
const children: ChildProcess[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: TOKEN, delayMs: 1500 });
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await api.close();
});

/** The service child of this file: one job at a time, so a restart finds jobs in every state. */
function startChild(dataDir: string, outDir: string, extraEnv: Record<string, string> = {}) {
  return startServiceChild({
    token: TOKEN,
    apiUrl: api.url,
    dataDir,
    outDir,
    env: { NANO_BANANA_MAX_CONCURRENT_JOBS: '1', ...extraEnv },
    readyTimeoutMs: 15_000,
    children,
  });
}

const submit = (url: string, prompt: string) => submitJob(url, { prompt });

/**
 * Waits (bounded) until every job is final in the store, read as a second connection: only then is
 * a count of deliveries the whole story (a second delivery would come before the job ends).
 */
async function untilAllFinal(dataDir: string, jobIds: readonly string[]): Promise<void> {
  const store = await openSqliteStore({ path: path.join(dataDir, 'jobs.db') });
  try {
    await until(
      async () =>
        (await Promise.all(jobIds.map((jobId) => store.get(jobId)))).every((job) =>
          isFinal(job?.state ?? 'queued'),
        ),
      20_000,
      'every job final in the store',
    );
    for (const jobId of jobIds) expect((await store.get(jobId))?.state, jobId).toBe('done');
  } finally {
    await store.close();
  }
}

/** How many times the fake (the child's file adapter) received each job's images. */
function deliveriesPerJob(outDir: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const entry of childEvents(outDir)) {
    if (entry.type === 'delivered') counts.set(entry.jobId, (counts.get(entry.jobId) ?? 0) + 1);
  }
  return counts;
}

const createsFor = (prompt: string) =>
  api
    .creates()
    .filter((call) => (call.body as { prompt?: string }).prompt === prompt && call.status === 200);

describe('a real service process', () => {
  it('loses nothing when killed with SIGKILL mid-job, creates no task twice, and stops cleanly on SIGTERM', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'nb-restart-data-'));
    const outDir = mkdtempSync(path.join(tmpdir(), 'nb-restart-out-'));
    const first = await startChild(dataDir, outDir);

    const health = await fetch(`${first.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${first.url}/readyz`);
    expect(await ready.json()).toMatchObject({ ready: true, checks: { engine: true, file: true } });

    const prompts = ['killed while running', 'killed while queued one', 'killed while queued two'];
    const jobIds: string[] = [];
    for (const prompt of prompts) jobIds.push(await submit(first.url, prompt));
    // The first job's task exists and its id is stored; the other two wait behind it (one job at
    // a time). Read from the store file itself, as a second connection.
    const store = await openSqliteStore({ path: path.join(dataDir, 'jobs.db') });
    await until(
      async () => (await store.get(jobIds[0] ?? ''))?.state === 'running',
      10_000,
      'the first task id stored',
    );
    expect((await store.get(jobIds[1] ?? ''))?.state).toBe('queued');
    await store.close();
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    expect(childEvents(outDir).filter((entry) => entry.type === 'delivered')).toHaveLength(0);

    const second = await startChild(dataDir, outDir);
    await untilAllFinal(dataDir, jobIds);
    expect(deliveriesPerJob(outDir)).toEqual(new Map(jobIds.map((jobId) => [jobId, 1])));
    const delivered = childEvents(outDir).filter((entry) => entry.type === 'delivered');
    expect(new Set(delivered.map((entry) => entry.pid))).toEqual(new Set([second.child.pid]));
    for (const prompt of prompts) expect(createsFor(prompt), prompt).toHaveLength(1);
    for (const jobId of jobIds) expect(existsSync(path.join(outDir, `${jobId}-0.png`))).toBe(true);

    second.child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => second.child.once('exit', resolve));
    expect(code).toBe(0);
  });
  it('delivers a job killed while delivering exactly once after the restart, and the job behind it too', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'nb-restart-data-'));
    const outDir = mkdtempSync(path.join(tmpdir(), 'nb-restart-out-'));
    const held = 'killed while delivering';
    const first = await startChild(dataDir, outDir, { HOLD_DELIVERY_OF: held });
    const prompts = [held, 'queued behind a delivery'];
    const jobIds: string[] = [];
    for (const prompt of prompts) jobIds.push(await submit(first.url, prompt));
    const [deliveringId = '', queuedId = ''] = jobIds;
    // The adapter has the images in hand (its delivery began) and has posted nothing yet.
    await until(
      () =>
        childEvents(outDir).some(
          (entry) => entry.type === 'delivering' && entry.jobId === deliveringId,
        ),
      15_000,
      'the first delivery under way',
    );
    const store = await openSqliteStore({ path: path.join(dataDir, 'jobs.db') });
    expect((await store.get(deliveringId))?.state).toBe('delivering');
    expect((await store.get(queuedId))?.state).toBe('queued');
    await store.close();
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    expect(deliveriesPerJob(outDir).size).toBe(0);

    const second = await startChild(dataDir, outDir);
    await untilAllFinal(dataDir, jobIds);
    expect(deliveriesPerJob(outDir)).toEqual(new Map(jobIds.map((jobId) => [jobId, 1])));
    const delivered = childEvents(outDir).filter((entry) => entry.type === 'delivered');
    expect(new Set(delivered.map((entry) => entry.pid))).toEqual(new Set([second.child.pid]));
    // The result was paid for once: the restart delivers the stored task's images, it does not
    // create the task again.
    for (const prompt of prompts) expect(createsFor(prompt), prompt).toHaveLength(1);
    for (const jobId of jobIds) expect(existsSync(path.join(outDir, `${jobId}-0.png`))).toBe(true);

    second.child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => second.child.once('exit', resolve));
    expect(code).toBe(0);
  });
});
