import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createLogger, type Job, loadConfig } from '../../src/core/index.js';
import { type MockApi, startMockApi } from '../../src/mock-api/index.js';
import { type Service, startService } from '../../src/service/service.js';
import { createSlackAdapter } from '../../src/slack/index.js';
import { type FakeSlack, type FakeSlackOptions, startFakeSlack } from '../fakes/slack/index.js';

/**
 * The whole bot as it runs in production (the service, the job engine over a SQLite file, the
 * real Bolt app) against the fake Slack and the mock image API, all on 127.0.0.1.
 */

export const API_TOKEN = 'slack-test-api-token';

export interface SlackHarnessOptions {
  readonly mode: 'http' | 'socket';
  readonly fake?: FakeSlackOptions;
  /** More environment: quotas, limits, admins. */
  readonly env?: Record<string, string>;
  /** How long each mock task takes; default 100 ms. */
  readonly apiDelayMs?: number;
}

export interface SlackHarness {
  readonly fake: FakeSlack;
  readonly api: MockApi;
  readonly service: Service;
  /** Jobs that reached a final state, across restarts. */
  readonly finished: readonly Job[];
  /** Warnings and errors logged, for a failing test to show. */
  readonly logs: readonly string[];
  /** The lines of `logs` at error level or above. */
  errorLogs(): string[];
  /** The service's data folder (its SQLite store is `jobs.db` there). */
  readonly dataDir: string;
  /** The first finished job the predicate accepts (bounded wait). */
  waitForJob(predicate: (job: Job) => boolean, timeoutMs?: number): Promise<Job>;
  /** Stops the service and starts a new one over the same store file. */
  restart(): Promise<void>;
  /** Stops everything; then fails when the bot acked any delivery later than Slack's 3 s. */
  close(): Promise<void>;
}

export async function startSlackHarness(options: SlackHarnessOptions): Promise<SlackHarness> {
  const fake = await startFakeSlack(options.fake);
  const api = await startMockApi({ token: API_TOKEN, delayMs: options.apiDelayMs ?? 100 });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'nb-slack-'));
  const env: Record<string, string> = {
    ACEDATA_API_TOKEN: API_TOKEN,
    ACEDATA_BASE_URL: api.url,
    DATA_DIR: dataDir,
    PORT: '0',
    LOG_LEVEL: 'warn',
    NANO_BANANA_POLL_INTERVAL_MS: '100',
    NANO_BANANA_SHUTDOWN_GRACE: '1s',
    SLACK_BOT_TOKEN: fake.botToken,
    SLACK_API_URL: fake.apiUrl,
    ...(options.mode === 'socket'
      ? { SLACK_APP_TOKEN: fake.appToken }
      : { SLACK_SIGNING_SECRET: fake.signingSecret }),
    ...options.env,
  };
  const finished: Job[] = [];
  const logs: string[] = [];

  const start = async (): Promise<Service> => {
    // The data folder has no `.env`: nothing from the developer's machine leaks in.
    const config = loadConfig(env, dataDir);
    // The Slack secrets are left out on purpose: a test can then check that none is ever logged.
    const logger = createLogger({
      level: 'warn',
      secrets: config.secrets,
      destination: { write: (line: string) => logs.push(line) },
    });
    const service = await startService({
      config,
      env,
      logger,
      host: '127.0.0.1',
      adapters: [createSlackAdapter({ retryConfig: { retries: 0 }, progressIntervalMs: 50 })],
      client: {
        createRetry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
        retrieveRetry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
      },
    });
    service.engine.on('finished', (job) => finished.push(job));
    if (options.mode === 'http') fake.deliverTo({ url: `${service.http.url}/slack/events` });
    else await fake.socketConnected();
    return service;
  };

  let service = await start();
  let running = true;
  const stop = async () => {
    if (!running) return;
    running = false;
    await service.stop();
    if (options.mode === 'socket') await fake.socketDisconnected();
  };

  return {
    fake,
    api,
    get service() {
      return service;
    },
    finished,
    logs,
    errorLogs: () => logs.filter((line) => logLevel(line) >= ERROR_LEVEL),
    dataDir,
    waitForJob: (predicate, timeoutMs = 10_000) =>
      fake.waitFor(() => finished.find(predicate), { timeoutMs }),
    restart: async () => {
      await stop();
      service = await start();
      running = true;
    },
    close: async () => {
      await stop();
      await fake.close();
      await api.close();
      // Slack shows the user an error for an ack after 3 s: every test gets this check.
      if (fake.lateAcks.length > 0) {
        throw new Error(`the bot acked late: ${JSON.stringify(fake.lateAcks)}`);
      }
    },
  };
}

/** pino's number for `error`. */
const ERROR_LEVEL = 50;

function logLevel(line: string): number {
  try {
    const level = (JSON.parse(line) as { level?: unknown }).level;
    return typeof level === 'number' ? level : 0;
  } catch {
    return 0;
  }
}

/** A small real PNG, different for each colour. */
export function pngOf(color: string): Promise<Buffer> {
  return sharp({ create: { width: 16, height: 16, channels: 3, background: color } })
    .png()
    .toBuffer();
}

/** A `data:` URL as the core sends an image it was given as bytes. */
export function dataUrl(bytes: Buffer, mime = 'image/png'): string {
  return `data:${mime};base64,${bytes.toString('base64')}`;
}
