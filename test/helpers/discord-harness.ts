import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, loadConfig, type NamedLocks } from '../../src/core/index.js';
import { createDiscordAdapter } from '../../src/discord/index.js';
import type { MockApi } from '../../src/mock-api/index.js';
import { type Service, startService } from '../../src/service/service.js';
import type { FakeDiscord } from '../fakes/discord/index.js';

export const API_TOKEN = 'discord-e2e-api-token';

export interface DiscordBot {
  readonly service: Service;
  readonly dataDir: string;
  stop(): Promise<void>;
}

/**
 * The whole bot as `nano-banana start` runs it (service, engine, SQLite store, HTTP server), with
 * the real discord.js adapter pointed at the fake Discord and the engine at the mock API.
 */
export async function startDiscordBot(
  fake: FakeDiscord,
  api: MockApi,
  options: {
    dataDir?: string;
    env?: Record<string, string>;
    /** Receives the bot's log lines (JSON), from `warn` up unless TEST_LOG_LEVEL says otherwise. */
    logLines?: string[];
    /** The locks this bot shares with others (a fleet in one test process). */
    locks?: NamedLocks;
    /** A PostgreSQL database (`DATABASE_URL`), shared with the other bots of a fleet. */
    databaseUrl?: string;
  } = {},
): Promise<DiscordBot> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'nb-discord-'));
  const env = {
    ACEDATA_API_TOKEN: API_TOKEN,
    ACEDATA_BASE_URL: api.url,
    DATA_DIR: dataDir,
    PORT: '0',
    NANO_BANANA_POLL_INTERVAL_MS: '100',
    DISCORD_TOKEN: fake.botToken,
    DISCORD_API_URL: fake.apiUrl,
    ...(options.databaseUrl === undefined ? {} : { DATABASE_URL: options.databaseUrl }),
    ...options.env,
  };
  const config = loadConfig(env, dataDir);
  const logLines = options.logLines;
  const logger = createLogger({
    level: process.env.TEST_LOG_LEVEL ?? (logLines ? 'warn' : 'silent'),
    secrets: [...config.secrets, fake.botToken],
    ...(logLines ? { destination: { write: (line: string) => void logLines.push(line) } } : {}),
  });
  const service = await startService({
    config,
    env,
    logger,
    // The bot tells time by the fake's clock, as a real bot and Discord share the wall clock:
    // `fake.advanceClock` then ages interaction tokens for both.
    adapters: [createDiscordAdapter({ now: () => fake.now() })],
    host: '127.0.0.1',
    ...(options.locks ? { locks: options.locks } : {}),
    client: {
      createRetry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
      retrieveRetry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
    },
  });
  return { service, dataDir, stop: () => service.stop() };
}
