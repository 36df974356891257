import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NanoBananaClient } from '../../src/core/api/client.js';
import type { InputImage } from '../../src/core/images/index.js';
import type {
  PlatformAdapter,
  ProgressEvent,
  ResultImageFile,
} from '../../src/core/jobs/adapter.js';
import { type EngineLimits, JobEngine, type JobEngineOptions } from '../../src/core/jobs/engine.js';
import type { Job, NewJob } from '../../src/core/jobs/job.js';
import type { JobStore } from '../../src/core/jobs/store.js';
import { openSqliteStore } from '../../src/core/jobs/stores/sqlite.js';
import { createModelCatalog } from '../../src/core/models.js';
import { TaskFollower } from '../../src/core/task-follower.js';
import type { MockApi } from '../../src/mock-api/index.js';

export const API_TOKEN = 'engine-test-token';

/** An adapter that records what the engine asked it to show and deliver. */
export class RecordingAdapter implements PlatformAdapter {
  readonly platform: string;
  readonly events: { jobId: string; event: ProgressEvent }[] = [];
  readonly deliveries: { jobId: string; images: readonly ResultImageFile[] }[] = [];
  readonly inputs = new Map<string, InputImage>();
  /** Failures to throw from the next deliveries, in order. */
  readonly deliveryFailures: Error[] = [];
  #waiters: (() => void)[] = [];

  constructor(platform = 'test') {
    this.platform = platform;
  }

  async fetchInput(_job: Job, input: { ref: string }, _signal?: AbortSignal): Promise<InputImage> {
    const image = this.inputs.get(input.ref);
    if (image === undefined) throw new Error(`no input ${input.ref}`);
    return image;
  }

  async notify(job: Job, event: ProgressEvent): Promise<void> {
    this.events.push({ jobId: job.id, event });
    this.#wake();
  }

  async deliver(job: Job, images: readonly ResultImageFile[]): Promise<unknown> {
    const failure = this.deliveryFailures.shift();
    if (failure !== undefined) throw failure;
    this.deliveries.push({ jobId: job.id, images });
    this.#wake();
    return { posted: images.length };
  }

  eventsOf(jobId: string): ProgressEvent[] {
    return this.events.filter((entry) => entry.jobId === jobId).map((entry) => entry.event);
  }

  /** Waits (bounded) until the predicate holds after some notification or delivery. */
  async until(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await predicate())) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for the engine');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

export interface EngineFixture {
  readonly engine: JobEngine;
  readonly adapter: RecordingAdapter;
  readonly store: JobStore;
  readonly storePath: string;
  readonly client: NanoBananaClient;
  readonly follower: TaskFollower;
  close(): Promise<void>;
}

/**
 * An engine over the mock API and a SQLite store of its own, or over `store` when given (two
 * engines sharing one store stand for two processes of a fleet).
 */
export async function createEngine(
  api: MockApi,
  overrides: Partial<Omit<JobEngineOptions, 'limits'>> & {
    limits?: Partial<EngineLimits>;
    storePath?: string;
    pollIntervalMs?: number;
    /** The recording adapter's platform; default `test`. */
    platform?: string;
  } = {},
): Promise<EngineFixture> {
  const storePath =
    overrides.storePath ?? path.join(mkdtempSync(path.join(tmpdir(), 'nb-engine-')), 'jobs.db');
  const sharedStore = overrides.store;
  const store = sharedStore ?? (await openSqliteStore({ path: storePath }));
  const client = new NanoBananaClient({
    apiToken: API_TOKEN,
    baseUrl: api.url,
    createRetry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
    retrieveRetry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
  });
  const follower = new TaskFollower({ client, pollIntervalMs: overrides.pollIntervalMs ?? 40 });
  const adapter = new RecordingAdapter(overrides.platform);
  const engine = new JobEngine({
    store,
    client,
    follower,
    requestLimits: {
      catalog: createModelCatalog(),
      defaultModel: 'nano-banana',
      maxPromptLength: 4000,
    },
    access: {
      adminIds: new Set(['admin']),
      allowedServers: undefined,
      allowedChannels: undefined,
      blockedWords: [],
    },
    quotas: { perUser: 0, perServer: 0, total: 0 },
    // The mock API serves results on loopback: trusted, as the service trusts ACEDATA_BASE_URL.
    resultOrigins: [new URL(api.url).origin],
    ...overrides,
    limits: { progressEveryMs: 60_000, ...overrides.limits },
  });
  engine.registerAdapter(adapter);
  return {
    engine,
    adapter,
    store,
    storePath,
    client,
    follower,
    close: async () => {
      await engine.stop(1000);
      follower.close();
      await client.close();
      // A shared store belongs to the test that opened it.
      if (sharedStore === undefined) await store.close();
    },
  };
}

export function request(prompt: string, extra: Partial<NewJob> = {}): NewJob {
  return {
    platform: 'test',
    requesterId: 'alice',
    serverId: 'server-1',
    channelId: 'channel-1',
    locale: 'en',
    action: 'generate',
    prompt,
    options: { model: 'nano-banana' },
    inputs: [],
    destination: { where: 'here' },
    ...extra,
  };
}
