import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NanoBananaError } from '../src/core/errors.js';
import type {
  DeliveryCheckpoint,
  PlatformAdapter,
  ProgressEvent,
  ResultImageFile,
} from '../src/core/jobs/adapter.js';
import type { Job } from '../src/core/jobs/job.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { API_TOKEN, createEngine, type EngineFixture, request } from './helpers/engine-fixture.js';

/**
 * The delivery checkpoint: an adapter saves in the job how far its posting got, before it returns,
 * so that whoever delivers the job next (a later attempt, or the process that takes it over) knows
 * what may already be on the platform. A process that lost the job meanwhile is refused the save
 * and stops, leaving the job to its new owner.
 */

let api: MockApi;
const fixtures: EngineFixture[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  await Promise.all(fixtures.splice(0).map((fixture) => fixture.close()));
});

/** An adapter whose `deliver` the test writes; it records what it was given. */
class ScriptedAdapter implements PlatformAdapter {
  readonly platform = 'test';
  readonly given: unknown[] = [];
  readonly events: ProgressEvent[] = [];
  constructor(
    readonly script: (
      job: Job,
      attempt: number,
      checkpoint: DeliveryCheckpoint | undefined,
    ) => Promise<unknown>,
  ) {}
  async fetchInput(): Promise<never> {
    throw new Error('no inputs here');
  }
  async notify(_job: Job, event: ProgressEvent): Promise<void> {
    this.events.push(event);
  }
  async deliver(
    job: Job,
    _images: readonly ResultImageFile[],
    _signal: AbortSignal,
    checkpoint?: DeliveryCheckpoint,
  ): Promise<unknown> {
    this.given.push(job.delivery);
    return this.script(job, this.given.length, checkpoint);
  }
}

async function engineWith(adapter: ScriptedAdapter): Promise<EngineFixture> {
  // The fixture's recording adapter takes another platform: jobs of `test` come to this one.
  const fixture = await createEngine(api, { platform: 'recorded' });
  fixtures.push(fixture);
  fixture.engine.registerAdapter(adapter);
  await fixture.engine.start();
  return fixture;
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the delivery checkpoint', () => {
  it('stores what the adapter saved, and hands it to the next attempt', async () => {
    const adapter = new ScriptedAdapter(async (_job, attempt, checkpoint) => {
      if (attempt === 1) {
        await checkpoint?.save({ uploaded: ['file-1'] });
        throw new NanoBananaError('network', 'the answer was lost', { retryable: true });
      }
      return { uploaded: ['file-1'], buttons: 'ts-1' };
    });
    const fixture = await engineWith(adapter);
    const { job } = await fixture.engine.submit(request('a saved step'));
    await until(
      async () => (await fixture.store.get(job.id))?.state === 'done',
      'the job delivered',
    );
    expect(adapter.given).toEqual([undefined, { uploaded: ['file-1'] }]);
    expect((await fixture.store.get(job.id))?.delivery).toEqual({
      uploaded: ['file-1'],
      buttons: 'ts-1',
    });
  });

  it('refuses the save to a process that lost the job, which stops without failing it', async () => {
    let reached: () => void = () => {};
    const atDelivery = new Promise<void>((resolve) => {
      reached = resolve;
    });
    let resume: () => void = () => {};
    const resumed = new Promise<void>((resolve) => {
      resume = resolve;
    });
    let refusal: unknown;
    const adapter = new ScriptedAdapter(async (_job, _attempt, checkpoint) => {
      reached();
      await resumed;
      try {
        await checkpoint?.save({ started: true });
      } catch (error) {
        refusal = error;
        throw error;
      }
      return { posted: true };
    });
    const fixture = await engineWith(adapter);
    const { job } = await fixture.engine.submit(request('a stolen job'));
    await atDelivery;
    // Another process takes the job over, as if this one had stalled past its lease.
    const [taken] = await fixture.store.takeOverExpired({
      owner: 'another-process',
      now: Date.now() + 3_600_000,
      leaseUntil: Date.now() + 7_200_000,
      platforms: ['test'],
      limit: 10,
    });
    expect(taken?.id).toBe(job.id);
    resume();
    await until(async () => refusal !== undefined, 'the save refused');
    // Settled here: no failure recorded, nothing told; the job is the other process's.
    await until(async () => fixture.engine.stats.inFlight === 0, 'the work here to end');
    const stored = await fixture.store.get(job.id);
    expect(stored?.state).toBe('delivering');
    expect(stored?.leaseOwner).toBe('another-process');
    expect(stored?.delivery).toBeUndefined();
    expect(stored?.deliveryAttempts).toBe(0);
    expect(adapter.events.some((event) => event.kind === 'failed')).toBe(false);
  });
});
