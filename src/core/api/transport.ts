import { Agent, type Dispatcher, request } from 'undici';
import type { Clock } from '../clock.js';
import { NanoBananaError } from '../errors.js';
import type { Logger } from '../logger.js';
import { apiError, type Operation } from './api-errors.js';
import { RequestEchoFilter } from './request-echo.js';
import { backoffDelay, parseRetryAfter, type RetryPolicy } from './retry.js';

export interface TransportOptions {
  readonly baseUrl: string;
  readonly apiToken: string;
  /** Per-attempt timeout, in milliseconds. */
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** An undici dispatcher; by default a keep-alive pool of our own. */
  readonly dispatcher?: Dispatcher | undefined;
  readonly random?: (() => number) | undefined;
}

export interface PostOptions {
  readonly signal?: AbortSignal | undefined;
  readonly retry: RetryPolicy;
  /** Answers longer than this are cut off and refused (a batch of tasks can be huge). */
  readonly maxResponseBytes: number;
}

/**
 * Errors that prove the request never left this machine: nothing reached the service, so nothing
 * was billed, and even a create may be sent again.
 */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

/** JSON over HTTP to the API: one attempt at a time, each with its own timeout, retried by policy. */
export class ApiTransport {
  readonly #options: TransportOptions;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;

  constructor(options: TransportOptions) {
    this.#options = options;
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ??
      new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000, connections: 32 });
  }

  async post(
    operation: Operation,
    path: string,
    body: unknown,
    options: PostOptions,
  ): Promise<unknown> {
    const { clock, logger } = this.#options;
    const payload = JSON.stringify(body);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#attempt(operation, path, payload, options);
      } catch (error) {
        const failure = error as NanoBananaError;
        if (!failure.retryable || attempt >= options.retry.maxAttempts || options.signal?.aborted) {
          throw failure;
        }
        const delay = backoffDelay(
          options.retry,
          attempt,
          failure.retryAfterMs,
          this.#options.random,
        );
        logger.warn(
          { operation, path, attempt, delayMs: delay, code: failure.code, status: failure.status },
          'Nano Banana API call failed; retrying',
        );
        try {
          await clock.sleep(delay, options.signal);
        } catch {
          throw new NanoBananaError('cancelled', `${operation} cancelled while waiting to retry`);
        }
      }
    }
  }

  async #attempt(operation: Operation, path: string, payload: string, options: PostOptions) {
    const { baseUrl, apiToken, timeoutMs, clock, logger } = this.#options;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const started = clock.now();
    try {
      const response = await request(`${baseUrl}${path}`, {
        method: 'POST',
        dispatcher: this.#dispatcher,
        signal,
        headers: {
          authorization: `Bearer ${apiToken}`,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: payload,
      });
      // A retrieval's answer carries each task's create body again (its inline images too),
      // which nothing reads: it is left out as it arrives rather than held and parsed.
      const text = await readCapped(
        response.body,
        options.maxResponseBytes,
        operation === 'retrieve' ? new RequestEchoFilter() : undefined,
      );
      const json = parseJson(text);
      logger.debug(
        {
          operation,
          path,
          status: response.statusCode,
          ms: clock.now() - started,
          bytes: text.length,
        },
        'Nano Banana API answered',
      );
      const refused =
        typeof json === 'object' && json !== null && 'success' in json && json.success === false;
      if (response.statusCode >= 200 && response.statusCode < 300 && !refused) return json;
      const retryAfter = parseRetryAfter(response.headers['retry-after'], clock.now());
      throw apiError(
        operation,
        response.statusCode >= 300 ? response.statusCode : undefined,
        json,
        retryAfter,
      );
    } catch (error) {
      if (error instanceof NanoBananaError) throw error;
      if (options.signal?.aborted) {
        throw new NanoBananaError('cancelled', `${operation} cancelled`, { cause: error });
      }
      if (timeout.aborted) {
        // A create that timed out may still run (and be billed): never resent.
        throw new NanoBananaError('timeout', `${operation} got no answer within ${timeoutMs} ms`, {
          retryable: operation === 'retrieve',
        });
      }
      const code = networkCode(error);
      throw new NanoBananaError(
        'network',
        `${operation} could not reach the API (${code ?? 'unknown'})`,
        {
          retryable: operation === 'retrieve' || (code !== undefined && NOT_SENT_CODES.has(code)),
          params: { reason: code ?? 'unknown' },
        },
      );
    }
  }

  /** Shared by a second transport with another timeout, so both use one connection pool. */
  get dispatcher(): Dispatcher {
    return this.#dispatcher;
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }
}

/**
 * The answer as text; `maxBytes` caps what is kept. The echoed requests a filter leaves out are
 * never held, so they do not count: a task is never refused for the size of its own inputs, which
 * nothing may know any more (a restart forgets them). The attempt's timeout bounds the rest.
 */
async function readCapped(
  body: Dispatcher.ResponseData['body'],
  maxBytes: number,
  filter: RequestEchoFilter | undefined,
): Promise<string> {
  const chunks: Buffer[] = [];
  let kept = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    for (const part of filter === undefined ? [buffer] : filter.push(buffer)) {
      chunks.push(part);
      kept += part.length;
    }
    if (kept > maxBytes) {
      body.destroy();
      throw new NanoBananaError('upstream_error', `The API answered more than ${maxBytes} bytes`, {
        params: { reason: 'response_too_large', max: maxBytes },
      });
    }
  }
  return Buffer.concat(chunks, kept).toString('utf8');
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function networkCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
