import { NanoBananaClient } from '../core/api/client.js';
import { type Config, ConfigError, type Environment, loadConfig } from '../core/config.js';
import { toNanoBananaError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import { describeError, type Locale, resolveLocale } from '../core/messages.js';

/** What a command touches of the outside world, so tests can run it in-process. */
export interface CliContext {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Environment;
  readonly cwd: string;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM), for long-running commands. */
  readonly stopSignal?: AbortSignal;
}

export const EXIT_OK = 0;
/** The API or a download failed. */
export const EXIT_FAILED = 1;
/** Bad usage or input: nothing was sent. */
export const EXIT_USAGE = 2;

export function processContext(): CliContext {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    stopSignal: controller.signal,
  };
}

/** The terminal's language from the usual variables (`fr_FR.UTF-8` → French). */
export function cliLocale(env: Environment): Locale {
  const tag = env.LC_ALL || env.LC_MESSAGES || env.LANG || 'en';
  return resolveLocale(tag.split('.')[0]?.replace('_', '-'));
}

export type Loaded = { config: Config; logger: Logger } | { exitCode: number };

/** Reads the configuration once; a bad setting is reported with the variable's name. */
export function loadForCommand(context: CliContext): Loaded {
  try {
    const config = loadConfig(context.env, context.cwd);
    // A command line is for people: its own progress lines go to stderr, logs only when asked.
    const level = context.env.LOG_LEVEL === undefined ? 'warn' : config.logLevel;
    const logger = createLogger({
      level,
      secrets: config.secrets,
      destination: stderrDestination(context),
    });
    return { config, logger };
  } catch (error) {
    if (error instanceof ConfigError) {
      context.stderr.write(`${error.message}\n`);
      return { exitCode: EXIT_USAGE };
    }
    throw error;
  }
}

function stderrDestination(context: CliContext) {
  return { write: (line: string) => context.stderr.write(line) };
}

/** The API client for a command, or undefined (after saying which variable to set) without a token. */
export function apiClient(
  config: Config,
  logger: Logger,
  context: CliContext,
): NanoBananaClient | undefined {
  if (config.acedata.apiToken === undefined) {
    context.stderr.write('nano-banana: set ACEDATA_API_TOKEN to your AceData Cloud API token.\n');
    return undefined;
  }
  return new NanoBananaClient({
    apiToken: config.acedata.apiToken,
    baseUrl: config.acedata.baseUrl,
    timeoutMs: config.acedata.requestTimeoutMs,
    logger,
  });
}

/**
 * What failed, from the catalogue in the terminal's language, worded for the operator: the person
 * at the terminal runs the bot, so a refused token names ACEDATA_API_TOKEN rather than "tell an
 * admin".
 */
export function describeForOperator(error: unknown, env: Environment): string {
  return describeError(error, cliLocale(env), { audience: 'operator' });
}

/** Says what failed (see `describeForOperator`); with --json also on stdout. */
export function reportFailure(context: CliContext, error: unknown, json: boolean): void {
  const failure = toNanoBananaError(error);
  context.stderr.write(`nano-banana: ${describeForOperator(failure, context.env)}\n`);
  if (json) context.stdout.write(`${JSON.stringify({ ok: false, error: failure.toJSON() })}\n`);
}
