import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, type Job, loadConfig } from '../../src/core/index.js';
import { discordAdapter } from '../../src/discord/index.js';
import type { MockApi } from '../../src/mock-api/index.js';
import { type Service, type ServiceOptions, startService } from '../../src/service/service.js';
import { createSlackAdapter } from '../../src/slack/index.js';
import { FakeDiscord, type FakeDiscordOptions } from '../fakes/discord/index.js';
import { type FakeSlack, type FakeSlackOptions, startFakeSlack } from '../fakes/slack/index.js';

/**
 * One service running both adapters, as `nano-banana start` does with both platforms' tokens set:
 * one engine, one store, one HTTP server; discord.js against the fake Discord, Bolt (HTTP mode,
 * signed requests on the shared server) against the fake Slack, the engine against `api`.
 */

export interface BothHarnessOptions {
  /** The image API to use; the caller owns it (and its fault plan) and closes it. */
  readonly api: MockApi;
  /** Its bearer token. */
  readonly apiToken: string;
  readonly discord?: FakeDiscordOptions;
  readonly slack?: FakeSlackOptions;
  /** More environment: limits, quotas. */
  readonly env?: Record<string, string>;
  /** Overrides the result download (the service's option). */
  readonly download?: ServiceOptions['download'];
  /** Wraps the job port the adapters get (the service's option). */
  readonly wrapJobs?: ServiceOptions['wrapJobs'];
}

export interface BothHarness {
  readonly discord: FakeDiscord;
  readonly slack: FakeSlack;
  readonly service: Service;
  /** Every `finished` event of the engine, in order (a job finishing twice shows up twice). */
  readonly finished: readonly Job[];
  /** Warnings and errors logged, for a failing test to show. */
  readonly logs: readonly string[];
  close(): Promise<void>;
}

export async function startBothHarness(options: BothHarnessOptions): Promise<BothHarness> {
  const discord = await FakeDiscord.start(options.discord);
  const slack = await startFakeSlack(options.slack);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'nb-both-'));
  const env: Record<string, string> = {
    ACEDATA_API_TOKEN: options.apiToken,
    ACEDATA_BASE_URL: options.api.url,
    DATA_DIR: dataDir,
    PORT: '0',
    LOG_LEVEL: 'warn',
    NANO_BANANA_POLL_INTERVAL_MS: '100',
    NANO_BANANA_SHUTDOWN_GRACE: '1s',
    DISCORD_TOKEN: discord.botToken,
    DISCORD_API_URL: discord.apiUrl,
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_API_URL: slack.apiUrl,
    SLACK_SIGNING_SECRET: slack.signingSecret,
    ...options.env,
  };
  const config = loadConfig(env, dataDir);
  const logs: string[] = [];
  const logger = createLogger({
    level: process.env.TEST_LOG_LEVEL ?? 'warn',
    secrets: [...config.secrets, discord.botToken, slack.botToken, slack.signingSecret],
    destination: { write: (line: string) => logs.push(line) },
  });
  let service: Service;
  try {
    service = await startService({
      config,
      env,
      logger,
      host: '127.0.0.1',
      adapters: [
        discordAdapter,
        createSlackAdapter({ retryConfig: { retries: 0 }, progressIntervalMs: 50 }),
      ],
      client: {
        createRetry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
        retrieveRetry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
      },
      ...(options.download === undefined ? {} : { download: options.download }),
      ...(options.wrapJobs === undefined ? {} : { wrapJobs: options.wrapJobs }),
    });
  } catch (error) {
    await Promise.allSettled([discord.close(), slack.close()]);
    throw error;
  }
  const finished: Job[] = [];
  service.engine.on('finished', (job) => finished.push(job));
  slack.deliverTo({ url: `${service.http.url}/slack/events` });
  await discord.ready();

  let closed = false;
  return {
    discord,
    slack,
    service,
    finished,
    logs,
    close: async () => {
      if (closed) return;
      closed = true;
      await service.stop();
      await Promise.allSettled([discord.close(), slack.close()]);
    },
  };
}
