import { type Logger as BoltLogger, LogLevel } from '@slack/bolt';
import type { Logger } from '../core/index.js';

/**
 * The longest text kept from one Bolt or Web API client message: at `debug` the client prints
 * whole request bodies and answers (a thread's history, say), which a log line needs no more of.
 */
const MAX_TEXT_CHARS = 2_000;

/**
 * Bolt's and the Web API client's logs, written through our pino logger so they share its level,
 * format, error serializer and secret redaction. Their level is pino's: `setLevel` only records
 * what Bolt asked.
 */
export function boltLogger(logger: Logger): BoltLogger {
  let level = LogLevel.INFO;
  const write =
    (method: 'debug' | 'info' | 'warn' | 'error') =>
    (...messages: unknown[]): void => {
      const error = messages.find((message) => message instanceof Error);
      const text = messages
        .filter((message) => !(message instanceof Error))
        .map((message) => (typeof message === 'string' ? message : String(message)))
        .join(' ');
      const clipped = text.length > MAX_TEXT_CHARS ? `${text.slice(0, MAX_TEXT_CHARS)}…` : text;
      logger[method](error === undefined ? {} : { err: error }, clipped);
    };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
