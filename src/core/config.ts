import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { createModelCatalog, type ModelCatalog, parseExtraModels } from './models.js';

/**
 * Every setting, read once at start-up from the environment (and a `.env` file in the working
 * directory), validated into one typed object. An error names the variable and what it expects.
 */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

function integer(defaultValue: number, min: number, max: number) {
  return z
    .string()
    .trim()
    .default(String(defaultValue))
    .transform((value, context) => {
      const number = Number(value === '' ? defaultValue : value);
      if (!Number.isInteger(number) || number < min || number > max) {
        context.addIssue({
          code: 'custom',
          message: `expected a whole number from ${min} to ${max}, got "${value}"`,
        });
        return z.NEVER;
      }
      return number;
    });
}

function httpUrl(defaultValue: string) {
  return z
    .string()
    .trim()
    .default(defaultValue)
    .transform((value, context) => {
      const text = value === '' ? defaultValue : value;
      try {
        const url = new URL(text);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
        return text.replace(/\/+$/, '');
      } catch {
        context.addIssue({ code: 'custom', message: `expected an http(s) URL, got "${value}"` });
        return z.NEVER;
      }
    });
}

const environmentSchema = z.object({
  ACEDATA_API_TOKEN: optionalText,
  ACEDATA_BASE_URL: httpUrl('https://api.acedata.cloud'),
  NANO_BANANA_DEFAULT_MODEL: z.string().trim().default('nano-banana'),
  NANO_BANANA_EXTRA_MODELS: z.string().default(''),
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
  readonly maxPromptLength: number;
  readonly catalog: ModelCatalog;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly dataDir: string;
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

export function loadConfig(
  environment: Environment = process.env,
  directory: string = process.cwd(),
): Config {
  const merged = { ...readDotEnv(directory), ...withoutUndefined(environment) };
  const parsed = environmentSchema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
    );
  }
  const values = parsed.data;

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

  return {
    acedata: {
      apiToken: values.ACEDATA_API_TOKEN,
      baseUrl: values.ACEDATA_BASE_URL,
      requestTimeoutMs: values.NANO_BANANA_REQUEST_TIMEOUT * 1000,
      pollIntervalMs: values.NANO_BANANA_POLL_INTERVAL_MS,
    },
    defaultModel: defaultModel.id,
    maxPromptLength: values.NANO_BANANA_MAX_PROMPT,
    catalog,
    logLevel: values.LOG_LEVEL,
    dataDir: path.resolve(directory, values.DATA_DIR),
    secrets: [values.ACEDATA_API_TOKEN].filter((value): value is string => value !== undefined),
  };
}

function withoutUndefined(environment: Environment): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(environment)) {
    if (value !== undefined) result[key] = value;
  }
  return result;
}
