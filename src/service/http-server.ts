import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, isIPv4 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { CALLBACK_PATH_PREFIX } from '../core/jobs/engine.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from './metrics.js';

export interface HealthReport {
  /** True once the adapters are connected, the store is open and the engine has started. */
  readonly ready: boolean;
  readonly checks: Record<string, boolean | string>;
}

export interface CallbackHandler {
  /** True when the job exists and the token is its own (the engine then confirms the task). */
  handle(jobId: string, token: string): boolean | Promise<boolean>;
}

export type RequestListener = (request: IncomingMessage, response: ServerResponse) => void;

export interface HttpServerOptions {
  /** `PORT`, default 3000 in the configuration; 0 picks a free port. */
  readonly port: number;
  /** Default `0.0.0.0`. */
  readonly host?: string;
  readonly metrics: Metrics;
  /**
   * `METRICS_TOKEN`: when set, `GET /metrics` needs `Authorization: Bearer <token>` from anywhere;
   * without it, `/metrics` answers loopback addresses only (others get 404).
   */
  readonly metricsToken?: string | undefined;
  /** What `/readyz` reports; may ask the database, so it may be async. */
  readonly health: () => HealthReport | Promise<HealthReport>;
  /** The job engine, for `POST /callbacks/nano-banana/<job>/<token>`; without it those are 404. */
  readonly callbacks?: CallbackHandler | undefined;
  readonly logger: Logger;
  /** How long `close()` lets requests under way finish before it cuts them; default 5,000 ms. */
  readonly closeGraceMs?: number;
  /** `NANO_BANANA_MAX_HTTP_CONNECTIONS`: open connections at once; more are closed on arrival. */
  readonly maxConnections?: number;
  /** Time to receive a request's headers; default 10,000 ms. */
  readonly headersTimeoutMs?: number;
  /** Time to receive a whole request, body included; default 20,000 ms. */
  readonly requestTimeoutMs?: number;
}

export interface HttpService {
  /** Where this server answers (`0.0.0.0` shown as `127.0.0.1`), without a trailing slash. */
  readonly url: string;
  readonly port: number;
  /** Sends requests whose path is `pathPrefix` or under it to `listener` (Slack's endpoint, say). */
  mount(pathPrefix: string, listener: RequestListener): void;
  /**
   * Stops accepting, closes idle keep-alive connections, lets requests under way finish for up to
   * `closeGraceMs`, then cuts what is left. Resolves when the server is closed.
   */
  close(): Promise<void>;
}

/** A callback is only a hint: its body is never used, so a small cap is plenty. */
const MAX_CALLBACK_BODY_BYTES = 1024 * 1024;
/** The default cap on open connections (`NANO_BANANA_MAX_HTTP_CONNECTIONS`). */
export const DEFAULT_MAX_CONNECTIONS = 256;
/**
 * Node's defaults (60 s for headers, 300 s for a request) let a client that never finishes hold a
 * connection and what it sent for minutes. Slack, the image API and probes send small requests
 * at once: seconds are plenty.
 */
const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 20_000;
/** The warning about refused connections is written at most this often. */
const DROP_LOG_INTERVAL_MS = 60_000;
/** How often Node looks for requests past those timeouts (its default, 30 s, would add to them). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/** After a 413, how much more of the body is read (and dropped) before the connection is cut. */
const LINGER_MAX_BYTES = 4 * 1024 * 1024;
const LINGER_MS = 2_000;
const DEFAULT_CLOSE_GRACE_MS = 5_000;

/**
 * The service's one HTTP server: liveness, readiness, Prometheus metrics, the image API's
 * callbacks, and room for platform endpoints. Plain node:http, no framework.
 */
export function startHttpServer(options: HttpServerOptions): Promise<HttpService> {
  const host = options.host ?? '0.0.0.0';
  const closeGraceMs = options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
  const logger = options.logger;
  const mounts: { prefix: string; listener: RequestListener }[] = [];
  let closing: Promise<void> | undefined;

  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const server = createServer(
    {
      requestTimeout: requestTimeoutMs,
      // Node requires the headers' timeout to be no longer than the request's.
      headersTimeout: Math.min(
        options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
        requestTimeoutMs,
      ),
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_INTERVAL_MS, requestTimeoutMs),
    },
    (request, response) => {
      const started = performance.now();
      const path = pathOf(request);
      // Once closing, answers end their connection instead of keeping it for another request.
      if (closing !== undefined) response.setHeader('connection', 'close');
      response.once('close', () => {
        // Never the headers or the query (either may hold a token), nor a callback's token.
        logger.debug(
          {
            method: request.method,
            path: redactPath(path),
            status: response.statusCode,
            durationMs: Math.round(performance.now() - started),
            ...(response.writableFinished ? {} : { aborted: true }),
          },
          'HTTP request',
        );
      });
      try {
        route(request, response, path);
      } catch (error) {
        fail(response, error);
      }
    },
  );
  // Past the cap, Node closes a new connection at once: memory stays bounded whatever arrives.
  server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  let lastDropLoggedAt = Number.NEGATIVE_INFINITY;
  server.on('drop', () => {
    // Once a minute at most: a flood must not become a flood of log lines.
    if (performance.now() - lastDropLoggedAt < DROP_LOG_INTERVAL_MS) return;
    lastDropLoggedAt = performance.now();
    logger.warn(
      { maxConnections: server.maxConnections },
      'HTTP connections refused: NANO_BANANA_MAX_HTTP_CONNECTIONS are open',
    );
  });

  function route(request: IncomingMessage, response: ServerResponse, path: string): void {
    const method = request.method ?? 'GET';
    if (path === '/healthz') {
      if (!allow(method, ['GET', 'HEAD'], response)) return;
      sendJson(response, 200, { status: 'ok' }, method === 'HEAD');
      return;
    }
    if (path === '/readyz') {
      if (!allow(method, ['GET', 'HEAD'], response)) return;
      void readHealth().then((report) =>
        sendJson(
          response,
          report.ready ? 200 : 503,
          { ready: report.ready, checks: report.checks },
          method === 'HEAD',
        ),
      );
      return;
    }
    if (path === '/metrics') {
      if (!allow(method, ['GET', 'HEAD'], response)) return;
      if (!metricsProtected() && !isLoopbackAddress(request.socket.remoteAddress)) {
        // Without a token, the metrics are this machine's business: elsewhere they do not exist.
        sendJson(response, 404, { error: 'not_found' }, method === 'HEAD');
        return;
      }
      if (!authorizedForMetrics(request)) {
        response.setHeader('www-authenticate', 'Bearer');
        sendJson(response, 401, { error: 'unauthorized' }, method === 'HEAD');
        return;
      }
      options.metrics.render().then(
        ({ contentType, body }) => {
          response.writeHead(200, {
            'content-type': contentType,
            'content-length': Buffer.byteLength(body),
            'cache-control': 'no-store',
          });
          response.end(method === 'HEAD' ? undefined : body);
        },
        (error: unknown) => fail(response, error),
      );
      return;
    }
    if (path.startsWith(CALLBACK_PATH_PREFIX)) {
      handleCallback(request, response, path, method).catch((error: unknown) =>
        fail(response, error),
      );
      return;
    }
    const mount = mounts.find(({ prefix }) => isUnder(path, prefix));
    if (mount !== undefined) {
      const result: unknown = mount.listener(request, response);
      // A listener may be async although the type says void: its failure must not go unhandled.
      if (result instanceof Promise) result.catch((error: unknown) => fail(response, error));
      return;
    }
    sendJson(response, 404, { error: 'not_found' });
  }

  async function readHealth(): Promise<HealthReport> {
    try {
      return await options.health();
    } catch (error) {
      logger.error({ err: error }, 'Health check threw');
      return { ready: false, checks: { health: 'error' } };
    }
  }

  function metricsProtected(): boolean {
    return options.metricsToken !== undefined && options.metricsToken !== '';
  }

  function authorizedForMetrics(request: IncomingMessage): boolean {
    const expected = options.metricsToken;
    if (expected === undefined || expected === '') return true;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    return match?.[1] !== undefined && sameSecret(match[1], expected);
  }

  async function handleCallback(
    request: IncomingMessage,
    response: ServerResponse,
    path: string,
    method: string,
  ): Promise<void> {
    const ids = callbackIds(path);
    // A malformed path, or no engine to ask, says no more than a wrong token would.
    if (ids === undefined || options.callbacks === undefined) {
      sendJson(response, 404, { error: 'not_found' });
      return;
    }
    if (!allow(method, ['POST'], response)) return;
    if (Number(request.headers['content-length'] ?? 0) > MAX_CALLBACK_BODY_BYTES) {
      options.metrics.recordCallback(false);
      rejectTooLarge(request, response);
      return;
    }
    // The token first: a request without the right one is answered before any of its body is
    // read, and its connection closed.
    let accepted: boolean;
    try {
      // The job's token is in the store (a database round trip in a fleet).
      accepted = await options.callbacks.handle(ids.jobId, ids.token);
    } catch (error) {
      fail(response, error);
      return;
    }
    options.metrics.recordCallback(accepted);
    if (!accepted) {
      // Never why: an unknown job and a wrong token look the same.
      response.setHeader('connection', 'close');
      sendJson(response, 404, { error: 'not_found' });
      return;
    }
    discardBody(request, MAX_CALLBACK_BODY_BYTES).then(
      (outcome) => {
        if (outcome === 'aborted') return;
        if (outcome === 'too_large') rejectTooLarge(request, response);
        else response.writeHead(204).end();
      },
      (error: unknown) => fail(response, error),
    );
  }

  function fail(response: ServerResponse, error: unknown): void {
    logger.error({ err: error }, 'HTTP handler failed');
    if (response.headersSent) {
      response.destroy();
      return;
    }
    sendJson(response, 500, { error: 'internal_error' });
  }

  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      server.on('error', (error) => logger.error({ err: error }, 'HTTP server error'));
      const port = (server.address() as AddressInfo).port;
      const url = `http://${displayHost(host)}:${port}`;
      logger.info(
        {
          url,
          maxConnections: server.maxConnections,
          metrics: metricsProtected() ? 'token' : 'loopback',
        },
        'HTTP server listening',
      );
      if (!metricsProtected()) {
        logger.info(
          'METRICS_TOKEN is not set: /metrics answers requests from this machine (loopback) only; set it to scrape from elsewhere',
        );
      }
      resolve({
        url,
        port,
        mount(pathPrefix, listener) {
          const prefix = pathPrefix.length > 1 ? pathPrefix.replace(/\/+$/, '') : pathPrefix;
          if (!prefix.startsWith('/'))
            throw new Error(`A mount path must start with "/": ${pathPrefix}`);
          if (mounts.some((mount) => mount.prefix === prefix)) {
            throw new Error(`Something is already mounted at ${prefix}`);
          }
          mounts.push({ prefix, listener });
          // The longest prefix wins, so `/slack/events` can sit beside `/slack`.
          mounts.sort((left, right) => right.prefix.length - left.prefix.length);
        },
        close() {
          closing ??= new Promise<void>((resolveClose) => {
            const cut = setTimeout(() => server.closeAllConnections(), closeGraceMs);
            cut.unref();
            server.close(() => {
              clearTimeout(cut);
              logger.info('HTTP server closed');
              resolveClose();
            });
            server.closeIdleConnections();
          });
          return closing;
        },
      });
    });
  });
}

/** The path without the query; never parsed as a URL, so `//host` cannot become a host. */
function pathOf(request: IncomingMessage): string {
  const target = request.url ?? '/';
  const queryAt = target.indexOf('?');
  return queryAt === -1 ? target : target.slice(0, queryAt);
}

function isUnder(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  return path === prefix || path.startsWith(`${prefix}/`);
}

function callbackIds(path: string): { jobId: string; token: string } | undefined {
  const segments = path.slice(CALLBACK_PATH_PREFIX.length).split('/');
  if (segments.length !== 2) return undefined;
  const [rawJobId = '', rawToken = ''] = segments;
  try {
    const jobId = decodeURIComponent(rawJobId);
    const token = decodeURIComponent(rawToken);
    return jobId === '' || token === '' ? undefined : { jobId, token };
  } catch {
    return undefined;
  }
}

/** The path as logged: a callback's token segment is replaced. */
export function redactPath(path: string): string {
  if (!path.startsWith(CALLBACK_PATH_PREFIX)) return path;
  const rest = path.slice(CALLBACK_PATH_PREFIX.length);
  const slash = rest.indexOf('/');
  return slash === -1 ? path : `${CALLBACK_PATH_PREFIX}${rest.slice(0, slash)}/[redacted]`;
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (`::ffff:127.0.0.1`). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const unmapped = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address;
  if (isIPv4(unmapped)) return unmapped.startsWith('127.');
  return unmapped === '::1' || unmapped === '0:0:0:0:0:0:0:1';
}

/** Compares digests so that neither the content nor the length of the secret leaks by timing. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function allow(method: string, allowed: readonly string[], response: ServerResponse): boolean {
  if (allowed.includes(method)) return true;
  response.setHeader('allow', allowed.join(', '));
  sendJson(response, 405, { error: 'method_not_allowed' });
  return false;
}

function sendJson(
  response: ServerResponse,
  status: number,
  value: unknown,
  headOnly = false,
): void {
  const body = JSON.stringify(value);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  response.end(headOnly ? undefined : body);
}

type BodyOutcome = 'complete' | 'too_large' | 'aborted';

/** Reads a request body to its end, keeping none of it, and stops once it passes `maxBytes`. */
function discardBody(request: IncomingMessage, maxBytes: number): Promise<BodyOutcome> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBytes) return Promise.resolve('too_large');
  return new Promise((resolve) => {
    let received = 0;
    const settle = (outcome: BodyOutcome): void => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('close', onClose);
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > maxBytes) settle('too_large');
    };
    const onEnd = (): void => settle('complete');
    const onClose = (): void => settle(request.complete ? 'complete' : 'aborted');
    request.on('data', onData);
    request.once('end', onEnd);
    request.once('close', onClose);
  });
}

/**
 * Answers 413 and closes the connection. The rest of the body is read and dropped for a moment
 * first (bounded in bytes and time), because closing a socket with unread data resets it, and a
 * client still sending would then see a reset instead of the answer.
 */
function rejectTooLarge(request: IncomingMessage, response: ServerResponse): void {
  const body = JSON.stringify({ error: 'payload_too_large' });
  response.writeHead(413, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  response.write(body);
  let lingered = 0;
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    request.off('data', onData);
    response.end();
  };
  const onData = (chunk: Buffer): void => {
    lingered += chunk.length;
    if (lingered > LINGER_MAX_BYTES) end();
  };
  const timer = setTimeout(end, LINGER_MS);
  request.on('data', onData);
  request.once('end', end);
  request.once('close', end);
  if (request.complete) end();
  else request.resume();
}

function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
