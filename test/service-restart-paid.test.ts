import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import {
  type ChildEvent,
  childEvents,
  startServiceChild,
  submitJob,
  until,
} from './helpers/service-child.js';

// Paid tasks across a SIGKILL of a real service process (the built dist/, as
// test/service-restart.test.ts runs it): inline inputs that every look at the task echoes back,
// and a job already told it timed out, which must not block everyone after the restart.

const TOKEN = 'restart-paid-token-0123';
let api: MockApi;
const children: ChildProcess[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: TOKEN, delayMs: 3000 });
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await api.close();
});

function startChild(dataDir: string, outDir: string, env: Record<string, string> = {}) {
  return startServiceChild({
    token: TOKEN,
    apiUrl: api.url,
    dataDir,
    outDir,
    env,
    readyTimeoutMs: 20_000,
    children,
  });
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const submit = submitJob;

/** The job's last word: delivered, or failed with its error. */
function ending(outDir: string, jobId: string): ChildEvent | undefined {
  return childEvents(outDir).find(
    (entry) =>
      entry.jobId === jobId &&
      (entry.type === 'delivered' || (entry.type === 'notify' && entry.event?.kind === 'failed')),
  );
}

const tasksFor = (prompt: string) =>
  [...api.tasks.values()].filter((task) => task.request.prompt === prompt);

const retrievalsOf = (taskId: string) =>
  api.retrievals().filter((call) => {
    const body = call.body as { id?: string; ids?: string[] };
    return body.id === taskId || (body.ids ?? []).includes(taskId);
  });

describe('paid tasks across a SIGKILL', () => {
  it('delivers an edit whose inline input is over 1 MB after the process is killed past its create', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'nb-paid-data-'));
    const outDir = mkdtempSync(path.join(tmpdir(), 'nb-paid-out-'));
    const first = await startChild(dataDir, outDir);
    const prompt = 'edit with a big inline input mock:delay=4000';
    const jobId = await submit(first.url, { prompt, inputBytes: 1_500_000 });
    // Its task exists and is being followed: the job is stored as running.
    await until(() => tasksFor(prompt).length === 1, 20_000, 'the create');
    const [task] = tasksFor(prompt);
    const taskId = task?.id ?? '';
    const inputs = (task?.request as { image_urls?: string[] } | undefined)?.image_urls ?? [];
    expect(inputs[0]?.length ?? 0).toBeGreaterThan(1_500_000);
    await until(() => retrievalsOf(taskId).length > 0, 20_000, 'the first look at the task');
    await kill(first.child);
    expect(ending(outDir, jobId)).toBeUndefined();

    const second = await startChild(dataDir, outDir);
    await until(() => ending(outDir, jobId) !== undefined, 30_000, 'the job to end');
    expect(ending(outDir, jobId)).toMatchObject({ type: 'delivered', pid: second.child.pid });
    // One paid task, never created again.
    expect(tasksFor(prompt)).toHaveLength(1);
    await stop(second.child);
  });

  it('lets other users’ jobs run after a restart when a job was already told it timed out', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'nb-paid-data-'));
    const outDir = mkdtempSync(path.join(tmpdir(), 'nb-paid-out-'));
    const settings = { NANO_BANANA_MAX_CONCURRENT_JOBS: '1', NANO_BANANA_JOB_TIMEOUT: '10s' };
    const first = await startChild(dataDir, outDir, settings);
    const slowJob = await submit(first.url, {
      prompt: 'takes far too long mock:delay=600000',
      requesterId: 'alice',
    });
    await until(
      () =>
        childEvents(outDir).some(
          (entry) => entry.jobId === slowJob && entry.event?.kind === 'timeout',
        ),
      30_000,
      'the timeout notice',
    );
    await kill(first.child);

    const second = await startChild(dataDir, outDir, settings);
    const otherJob = await submit(second.url, {
      prompt: 'bob after the restart',
      requesterId: 'bob',
    });
    await until(() => ending(outDir, otherJob) !== undefined, 40_000, 'bob’s job to end');
    // Not failed with a timeout while waiting behind the slow job's slot.
    expect(ending(outDir, otherJob)).toMatchObject({ type: 'delivered' });
    expect(ending(outDir, slowJob)).toBeUndefined();
    await stop(second.child);
  });
});
