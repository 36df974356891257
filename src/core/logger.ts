import { type DestinationStream, type Logger, pino } from 'pino';
import { maskCredentials, serializeError } from './log-serializer.js';

export type { Logger } from 'pino';

/** Field paths that may hold a credential anywhere in a log object. */
const REDACTED_PATHS = [
  'token',
  'apiToken',
  'authorization',
  'Authorization',
  '*.token',
  '*.apiToken',
  '*.authorization',
  '*.Authorization',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'config.secrets',
  'secrets',
];

export interface LoggerOptions {
  readonly level?: string;
  /**
   * Secret values (API and platform tokens). Besides the field paths above, any line that still
   * holds one of them (inside an error message or a URL, say) has it replaced before it is written.
   * Credentials known by their place (an interaction's webhook URL, an Authorization header) are
   * masked in every line too (`maskCredentials`).
   */
  readonly secrets?: readonly string[];
  /** Where lines go; standard error by default, so that stdout stays for command output. */
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const secrets = (options.secrets ?? []).filter((secret) => secret.length >= 4);
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      // One serializer for every error logged, under either name: never a library error whole.
      serializers: { err: serializeError, error: serializeError },
      hooks: {
        streamWrite: (line) => maskCredentials(redactSecrets(line, secrets)),
      },
    },
    options.destination ?? pino.destination(2),
  );
}

export function redactSecrets(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length >= 4 && result.includes(secret))
      result = result.replaceAll(secret, '[redacted]');
  }
  return result;
}

/** A logger that writes nothing, for tests and library use without a logger. */
export const silentLogger: Logger = pino({ level: 'silent' });
