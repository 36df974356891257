import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { LOCALES, type Locale } from './messages.js';
import { createModelCatalog, type ModelCatalog, parseExtraModels } from './models.js';
import {
  describeIssues,
  duration,
  httpUrl,
  integer,
  list,
  optionalHttpUrl,
  optionalPostgresUrl,
  optionalText,
} from './settings.js';

/**
 * Every setting, read once at start-up from the environment (and a `.env` file in the working
 * directory), validated into one typed object. An error names the variable and what it expects.
 */

/**
 * How long the engine keeps following an unfinished task before giving up on it (its default
 * `giveUpAfterMs`). The job timeout must end before it, or the user would never hear of a timeout.
 */
export const TASK_GIVE_UP_AFTER_MS = 2 * 60 * 60_000;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** `mention`: a reply in a result thread is a request only when it mentions the bot (or, on Slack,
 * carries images); `any`: every reply there is an edit, as a conversation. */
const THREAD_REPLIES = ['mention', 'any'] as const;

/** Exported for the settings documentation test, which compares it with the README. */
export const environmentSchema = z.object({
  ACEDATA_API_TOKEN: optionalText,
  ACEDATA_BASE_URL: httpUrl('https://api.acedata.cloud'),
  NANO_BANANA_DEFAULT_MODEL: z.string().trim().default('nano-banana'),
  NANO_BANANA_EXTRA_MODELS: z.string().default(''),
  // The model of an Upscale when the result's own model cannot make that resolution.
  NANO_BANANA_UPSCALE_MODEL: z.string().trim().default('nano-banana-2'),
  NANO_BANANA_MAX_PROMPT: integer(4000, 1, 100_000),
  NANO_BANANA_REQUEST_TIMEOUT: integer(60, 1, 3600),
  NANO_BANANA_POLL_INTERVAL_MS: integer(1000, 100, 60_000),
  LOG_LEVEL: z
    .string()
    .trim()
    .toLowerCase()
    .default('info')
    .pipe(z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` })),
  DATA_DIR: z.string().trim().default('./data'),
  DATABASE_URL: optionalPostgresUrl,
  PORT: integer(3000, 0, 65_535),
  PUBLIC_URL: optionalHttpUrl,
  METRICS_TOKEN: optionalText,
  NANO_BANANA_MAX_HTTP_CONNECTIONS: integer(256, 1, 100_000),
  NANO_BANANA_MAX_CONCURRENT_JOBS: integer(8, 1, 1000),
  NANO_BANANA_MAX_JOBS_PER_USER: integer(2, 1, 100),
  NANO_BANANA_MAX_QUEUED_PER_USER: integer(10, 1, 10_000),
  NANO_BANANA_JOB_TIMEOUT: duration('15m', 'm', 10_000, 24 * 3_600_000),
  NANO_BANANA_RETENTION_DAYS: integer(30, 1, 3650),
  NANO_BANANA_DAILY_IMAGES_PER_USER: integer(0, 0, 1_000_000),
  NANO_BANANA_DAILY_IMAGES_PER_SERVER: integer(0, 0, 1_000_000),
  // Empty: the same as the per-server limit, so that a DM is never a way around a server's.
  NANO_BANANA_DAILY_IMAGES_DM: z
    .string()
    .trim()
    .default('')
    .transform((value, context) => {
      if (value === '') return undefined;
      const number = Number(value);
      if (Number.isInteger(number) && number >= 0 && number <= 1_000_000) return number;
      context.addIssue({
        code: 'custom',
        message: `expected a whole number from 0 to 1000000, or nothing, got "${value}"`,
      });
      return z.NEVER;
    }),
  NANO_BANANA_DAILY_IMAGES_TOTAL: integer(0, 0, 1_000_000),
  NANO_BANANA_ADMIN_IDS: list,
  NANO_BANANA_ALLOWED_SERVERS: list,
  NANO_BANANA_ALLOWED_CHANNELS: list,
  NANO_BANANA_BLOCKED_WORDS: list,
  // The moderation log's language: one log read by the moderators, not by each requester.
  NANO_BANANA_AUDIT_LOCALE: z
    .string()
    .trim()
    .toLowerCase()
    .default('en')
    .transform((value) => (value === '' ? 'en' : value))
    .pipe(z.enum(LOCALES, { error: `expected one of ${LOCALES.join(', ')}` })),
  NANO_BANANA_THREAD_REPLIES: z
    .string()
    .trim()
    .toLowerCase()
    .default('mention')
    .transform((value) => (value === '' ? 'mention' : value))
    .pipe(z.enum(THREAD_REPLIES, { error: `expected one of ${THREAD_REPLIES.join(', ')}` })),
  NANO_BANANA_USED_UP_PAUSE: duration('10m', 'm', 1000, 24 * 3_600_000),
  // 8 s by default: Docker kills a container 10 s after SIGTERM, and the whole stop must fit.
  NANO_BANANA_SHUTDOWN_GRACE: duration('8s', 's', 0, 600_000),
  // How soon another process takes over the jobs (and Discord shards) of one that died.
  NANO_BANANA_LEASE: duration('30s', 's', 2000, 3_600_000),
});

export interface Config {
  readonly acedata: {
    /** Undefined until set; commands that call the API say so. */
    readonly apiToken: string | undefined;
    readonly baseUrl: string;
    /** Per-attempt timeout of one HTTP call, in milliseconds. */
    readonly requestTimeoutMs: number;
    readonly pollIntervalMs: number;
  };
  readonly defaultModel: string;
  /** Upscales run here when the result's own model cannot make the resolution (it makes 2K and 4K). */
  readonly upscaleModel: string;
  readonly maxPromptLength: number;
  readonly catalog: ModelCatalog;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** Where the embedded SQLite store lives when there is no `databaseUrl`. */
  readonly dataDir: string;
  /** A PostgreSQL database shared by several bot processes (a fleet); undefined: SQLite. */
  readonly databaseUrl: string | undefined;
  readonly service: {
    readonly port: number;
    /** The public base URL of this service; tasks then report back by callback. */
    readonly publicUrl: string | undefined;
    readonly metricsToken: string | undefined;
    /** Open HTTP connections at once; more are closed on arrival. */
    readonly maxHttpConnections: number;
    /** How long deliveries under way may finish after SIGTERM. */
    readonly shutdownGraceMs: number;
  };
  readonly engine: {
    readonly maxConcurrentJobs: number;
    readonly maxJobsPerUser: number;
    /** Unfinished jobs one user may have at once; more are refused (operator admins excepted). */
    readonly maxQueuedPerUser: number;
    readonly jobTimeoutMs: number;
    readonly retentionMs: number;
    readonly usedUpPauseMs: number;
    /** How long a process's claim on a job or a Discord shard lasts without renewal. */
    readonly leaseMs: number;
  };
  readonly quotas: {
    readonly perUser: number;
    readonly perServer: number;
    /** All direct messages together, a bucket of their own (they have no server). */
    readonly perDirectMessages: number;
    readonly total: number;
  };
  readonly access: {
    readonly adminIds: ReadonlySet<string>;
    readonly allowedServers: ReadonlySet<string> | undefined;
    readonly allowedChannels: ReadonlySet<string> | undefined;
    readonly blockedWords: readonly string[];
  };
  /** The language of the moderation log's lines (`NANO_BANANA_AUDIT_LOCALE`). */
  readonly auditLocale: Locale;
  /** When a reply in a channel or result thread is a request (`NANO_BANANA_THREAD_REPLIES`). */
  readonly threadReplies: (typeof THREAD_REPLIES)[number];
  /** Values that must never reach a log line or an error message. */
  readonly secrets: readonly string[];
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** One line per problem: `VARIABLE: what it expects`. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
    this.problems = problems;
  }
}

/**
 * Reads `.env` from a folder, if there is one. Values already in the environment win, as with
 * every dotenv tool, so a deployment can override the file.
 */
export function readDotEnv(directory: string): Record<string, string> {
  const file = path.join(directory, '.env');
  if (!existsSync(file)) return {};
  return parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
}

export type Environment = Readonly<Record<string, string | undefined>>;

/** The settings as the configuration sees them: `.env` first, the environment over it. */
export function environmentWithDotEnv(
  environment: Environment,
  directory: string,
): Record<string, string> {
  return { ...readDotEnv(directory), ...withoutUndefined(environment) };
}

export function loadConfig(
  environment: Environment = process.env,
  directory: string = process.cwd(),
): Config {
  const merged = environmentWithDotEnv(environment, directory);
  const parsed = environmentSchema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError(describeIssues(parsed.error));
  }
  const values = parsed.data;
  if (values.NANO_BANANA_JOB_TIMEOUT >= TASK_GIVE_UP_AFTER_MS) {
    throw new ConfigError([
      `NANO_BANANA_JOB_TIMEOUT: must be shorter than 2h, when the bot stops waiting for a task and gives up; got "${merged.NANO_BANANA_JOB_TIMEOUT}"`,
    ]);
  }

  let catalog: ModelCatalog;
  try {
    catalog = createModelCatalog(parseExtraModels(values.NANO_BANANA_EXTRA_MODELS));
  } catch (error) {
    throw new ConfigError([`NANO_BANANA_EXTRA_MODELS: ${(error as Error).message}`]);
  }
  const defaultModel = catalog.find(values.NANO_BANANA_DEFAULT_MODEL);
  if (defaultModel === undefined) {
    throw new ConfigError([
      `NANO_BANANA_DEFAULT_MODEL: expected one of ${catalog.modelIds.join(', ')}, got "${values.NANO_BANANA_DEFAULT_MODEL}"`,
    ]);
  }
  const upscaleModel = catalog.find(values.NANO_BANANA_UPSCALE_MODEL);
  if (
    upscaleModel === undefined ||
    !upscaleModel.resolutions.includes('2K') ||
    !upscaleModel.resolutions.includes('4K')
  ) {
    const able = catalog.models
      .filter((model) => model.resolutions.includes('2K') && model.resolutions.includes('4K'))
      .map((model) => model.id);
    throw new ConfigError([
      `NANO_BANANA_UPSCALE_MODEL: expected a model that makes 2K and 4K images (${able.join(', ')}), got "${values.NANO_BANANA_UPSCALE_MODEL}"`,
    ]);
  }

  return {
    acedata: {
      apiToken: values.ACEDATA_API_TOKEN,
      baseUrl: values.ACEDATA_BASE_URL,
      requestTimeoutMs: values.NANO_BANANA_REQUEST_TIMEOUT * 1000,
      pollIntervalMs: values.NANO_BANANA_POLL_INTERVAL_MS,
    },
    defaultModel: defaultModel.id,
    upscaleModel: upscaleModel.id,
    maxPromptLength: values.NANO_BANANA_MAX_PROMPT,
    catalog,
    logLevel: values.LOG_LEVEL,
    dataDir: path.resolve(directory, values.DATA_DIR),
    databaseUrl: values.DATABASE_URL,
    service: {
      port: values.PORT,
      publicUrl: values.PUBLIC_URL,
      metricsToken: values.METRICS_TOKEN,
      maxHttpConnections: values.NANO_BANANA_MAX_HTTP_CONNECTIONS,
      shutdownGraceMs: values.NANO_BANANA_SHUTDOWN_GRACE,
    },
    engine: {
      maxConcurrentJobs: values.NANO_BANANA_MAX_CONCURRENT_JOBS,
      maxJobsPerUser: values.NANO_BANANA_MAX_JOBS_PER_USER,
      maxQueuedPerUser: values.NANO_BANANA_MAX_QUEUED_PER_USER,
      jobTimeoutMs: values.NANO_BANANA_JOB_TIMEOUT,
      retentionMs: values.NANO_BANANA_RETENTION_DAYS * 86_400_000,
      usedUpPauseMs: values.NANO_BANANA_USED_UP_PAUSE,
      leaseMs: values.NANO_BANANA_LEASE,
    },
    quotas: {
      perUser: values.NANO_BANANA_DAILY_IMAGES_PER_USER,
      perServer: values.NANO_BANANA_DAILY_IMAGES_PER_SERVER,
      perDirectMessages:
        values.NANO_BANANA_DAILY_IMAGES_DM === undefined
          ? values.NANO_BANANA_DAILY_IMAGES_PER_SERVER
          : values.NANO_BANANA_DAILY_IMAGES_DM,
      total: values.NANO_BANANA_DAILY_IMAGES_TOTAL,
    },
    access: {
      adminIds: new Set(values.NANO_BANANA_ADMIN_IDS),
      allowedServers: setOrUndefined(values.NANO_BANANA_ALLOWED_SERVERS),
      allowedChannels: setOrUndefined(values.NANO_BANANA_ALLOWED_CHANNELS),
      blockedWords: values.NANO_BANANA_BLOCKED_WORDS,
    },
    auditLocale: values.NANO_BANANA_AUDIT_LOCALE,
    threadReplies: values.NANO_BANANA_THREAD_REPLIES,
    secrets: [
      values.ACEDATA_API_TOKEN,
      values.METRICS_TOKEN,
      values.DATABASE_URL,
      databasePassword(values.DATABASE_URL),
    ].filter((value): value is string => value !== undefined && value !== ''),
  };
}

/** The password in a database URL, decoded, so that a log line never shows it either way. */
function databasePassword(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const password = new URL(url).password;
  return password === '' ? undefined : decodeURIComponent(password);
}

function setOrUndefined(values: readonly string[]): ReadonlySet<string> | undefined {
  return values.length === 0 ? undefined : new Set(values);
}

function withoutUndefined(environment: Environment): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(environment)) {
    if (value !== undefined) result[key] = value;
  }
  return result;
}
