import { Agent, type Dispatcher, request } from 'undici';
import { parseRetryAfter } from '../api/retry.js';
import { isNanoBananaError, NanoBananaError } from '../errors.js';
import { BLOCKED_ADDRESS_CODE, createGuardedAgent } from '../net/guarded-agent.js';
import { isTrustedUrl } from '../net/trusted-origins.js';
import { describeContent, describeImage, detectImageType, type ImageFile } from './image-type.js';

export interface DownloadImageOptions {
  /** Largest body accepted, in bytes; the download stops as soon as it goes over. */
  maxBytes: number;
  /** Time allowed for the whole download, headers and body, in milliseconds. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Where requests to trusted origins go (default: this module's own keep-alive pool). */
  dispatcher?: Dispatcher | undefined;
  /**
   * Sent with the request (a chat platform's private files need a token); never logged, and
   * dropped as soon as a redirect changes origin.
   */
  headers?: Record<string, string> | undefined;
  /**
   * Origins fetched as they are (`https://cdn.discordapp.com`, the API's origin): they may sit on
   * a private network (a proxy, a test server). A redirect is followed only to one of these.
   */
  trustedOrigins?: readonly string[] | undefined;
  /**
   * A URL outside the trusted origins is refused (`refuse`: a chat platform's inputs, which only
   * ever come from its own hosts), or fetched from public addresses only (`public-only`, the
   * default: results on the API's CDN, whose host we cannot list).
   */
  outside?: 'refuse' | 'public-only' | undefined;
  /** The connection for outside URLs (default: the module's own guarded pool); tests inject one. */
  outsideDispatcher?: Dispatcher | undefined;
}

export type DownloadRefusal = 'untrusted_host' | 'blocked_address';

/**
 * Our own pool rather than undici's process-wide dispatcher: that one is shared by every undici
 * copy in the process (discord.js bundles another major), and mixing them breaks uploads.
 */
let downloadAgent: Agent | undefined;
function defaultDispatcher(): Agent {
  downloadAgent ??= new Agent({ keepAliveTimeout: 30_000, connections: 16 });
  return downloadAgent;
}

/** Checks every address it connects to: only public ones (see `net/guarded-agent.ts`). */
let guardedAgent: Agent | undefined;
function defaultOutsideDispatcher(): Agent {
  guardedAgent ??= createGuardedAgent();
  return guardedAgent;
}

/** CDNs move files around; a few hops are plenty. */
const MAX_REDIRECTIONS = 5;

/**
 * Downloads an image (a result on the API's CDN, a chat platform's file), checking its content
 * is an image. Errors are `NanoBananaError`s: `upstream_error` for an HTTP error status
 * (`status`, retryable from 500 and on 429), a body over `maxBytes` (`reason: result_too_large`)
 * or content that is not an image (`reason: not_an_image`); `network` and `timeout` (retryable);
 * `cancelled` when the caller's signal aborts. A URL or redirect the bot will not follow is an
 * `upstream_error` with `reason: untrusted_host` (outside the trusted origins where they are
 * required, or a redirect leaving them) or `reason: blocked_address` (an outside host on a
 * non-public address); neither is retryable, and neither says more (no port, no address), so the
 * errors cannot be used to map a network. Messages name the host only: URLs may be signed and
 * headers may carry tokens.
 */
export async function downloadImage(
  url: string,
  options: DownloadImageOptions,
): Promise<ImageFile> {
  const first = checkedUrl(url);
  const host = first.host;
  const trusted = options.trustedOrigins ?? [];
  const outside = options.outside ?? 'public-only';
  if (outside === 'refuse' && !isTrustedUrl(first, trusted)) throw refused(host);
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal =
    options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);

  let bytes: Buffer;
  try {
    let current = first;
    let response: Dispatcher.ResponseData | undefined;
    for (let hop = 0; response === undefined; hop += 1) {
      const answer = await request(current, {
        method: 'GET',
        dispatcher: isTrustedUrl(current, trusted)
          ? (options.dispatcher ?? defaultDispatcher())
          : (options.outsideDispatcher ?? defaultOutsideDispatcher()),
        signal,
        // The caller's headers (a token) go to the first URL's origin only.
        ...(options.headers === undefined || current.origin !== first.origin
          ? {}
          : { headers: options.headers }),
      });
      const location = answer.headers.location;
      if (answer.statusCode < 300 || answer.statusCode > 399 || typeof location !== 'string') {
        response = answer;
        break;
      }
      discard(answer.body);
      const next = redirectTarget(location, current);
      // Within the trusted origins only; an outside first URL may also move within its origin,
      // which reaches no new host and still goes through the address check.
      const allowed =
        next !== undefined &&
        (isTrustedUrl(next, trusted) ||
          (outside === 'public-only' &&
            !isTrustedUrl(first, trusted) &&
            next.origin === first.origin));
      if (!allowed) throw refused(host, 'redirect');
      if (hop >= MAX_REDIRECTIONS) {
        const message = `Downloading from ${host} redirected too often`;
        throw new NanoBananaError('upstream_error', message, {
          params: { reason: 'too_many_redirects' },
        });
      }
      current = next;
    }
    if (response.statusCode < 200 || response.statusCode > 299) {
      // Free the connection without reading what may be a large error page.
      discard(response.body);
      const status = response.statusCode;
      throw new NanoBananaError('upstream_error', `Downloading from ${host} answered ${status}`, {
        status,
        retryable: status >= 500 || status === 429,
        retryAfterMs: parseRetryAfter(response.headers['retry-after'], Date.now()),
        params: { reason: 'http_status', status },
      });
    }
    const declaredLength = Number(response.headers['content-length']);
    if (Number.isFinite(declaredLength) && declaredLength > options.maxBytes) {
      discard(response.body);
      throw tooLarge(host, options.maxBytes);
    }
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of response.body) {
      const buffer = chunk as Buffer;
      length += buffer.length;
      if (length > options.maxBytes) {
        // Leaving the loop destroys the body, which closes the connection mid-download.
        throw tooLarge(host, options.maxBytes);
      }
      chunks.push(buffer);
    }
    bytes = Buffer.concat(chunks, length);
  } catch (error) {
    throw downloadFailure(error, host, options.signal, timeout);
  }

  if (detectImageType(bytes) === undefined) {
    throw new NanoBananaError('upstream_error', `The file from ${host} is not an image`, {
      params: { reason: 'not_an_image', detected: describeContent(bytes) },
    });
  }
  try {
    return await describeImage(bytes);
  } catch (error) {
    throw new NanoBananaError('upstream_error', `The image from ${host} cannot be decoded`, {
      params: { reason: 'image_unreadable' },
      cause: error,
    });
  }
}

/** Closes a body we will not read; the abort error it then emits concerns no one. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

function tooLarge(host: string, max: number): NanoBananaError {
  return new NanoBananaError('upstream_error', `The file from ${host} is over ${max} bytes`, {
    params: { reason: 'result_too_large', max },
  });
}

/** A refused URL or redirect: not retryable, and no more said than the first host. */
function refused(host: string, what: 'url' | 'redirect' = 'url'): NanoBananaError {
  const message =
    what === 'url'
      ? `Refused to download from ${host}: not a trusted origin`
      : `Refused a redirect from ${host} that leaves the trusted origins`;
  return new NanoBananaError('upstream_error', message, {
    params: { reason: 'untrusted_host' satisfies DownloadRefusal },
  });
}

function redirectTarget(location: string, base: URL): URL | undefined {
  try {
    const next = new URL(location, base);
    return next.protocol === 'http:' || next.protocol === 'https:' ? next : undefined;
  } catch {
    return undefined;
  }
}

function checkedUrl(url: string): URL {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new NanoBananaError('upstream_error', 'The image URL is not an http(s) URL', {
      params: { reason: 'bad_url' },
    });
  }
  return parsed;
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** Decides what went wrong from which signal fired, not from the error, whose shape varies. */
function downloadFailure(
  error: unknown,
  host: string,
  callerSignal: AbortSignal | undefined,
  timeout: AbortSignal,
): NanoBananaError {
  if (isNanoBananaError(error)) return error;
  if (callerSignal?.aborted) {
    return new NanoBananaError('cancelled', `Downloading from ${host} was cancelled`, {
      cause: error,
    });
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === BLOCKED_ADDRESS_CODE) {
    return new NanoBananaError('upstream_error', `Refused to connect to ${host}: not public`, {
      params: { reason: 'blocked_address' satisfies DownloadRefusal },
      cause: error,
    });
  }
  if (timeout.aborted || (typeof code === 'string' && TIMEOUT_CODES.has(code))) {
    return new NanoBananaError('timeout', `Downloading from ${host} took too long`, {
      retryable: true,
      cause: error,
    });
  }
  const detail = typeof code === 'string' ? ` (${code})` : '';
  return new NanoBananaError('network', `Downloading from ${host} failed${detail}`, {
    retryable: true,
    cause: error,
  });
}
