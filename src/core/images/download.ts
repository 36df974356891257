import { Agent, type Dispatcher, interceptors, request } from 'undici';
import { parseRetryAfter } from '../api/retry.js';
import { isNanoBananaError, NanoBananaError } from '../errors.js';
import { describeContent, describeImage, detectImageType, type ImageFile } from './image-type.js';

export interface DownloadImageOptions {
  /** Largest body accepted, in bytes; the download stops as soon as it goes over. */
  maxBytes: number;
  /** Time allowed for the whole download, headers and body, in milliseconds. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Where requests go (default: this module's own keep-alive pool); tests pass a local one. */
  dispatcher?: Dispatcher | undefined;
  /** Sent with the request (a chat platform's private files need a token); never logged. */
  headers?: Record<string, string> | undefined;
}

/**
 * Our own pool rather than undici's process-wide dispatcher: that one is shared by every undici
 * copy in the process (discord.js bundles another major), and mixing them breaks uploads.
 */
let downloadAgent: Agent | undefined;
function defaultDispatcher(): Agent {
  downloadAgent ??= new Agent({ keepAliveTimeout: 30_000, connections: 16 });
  return downloadAgent;
}

/** CDNs move files around; undici drops `Authorization` when a redirect changes origin. */
const MAX_REDIRECTIONS = 5;

/**
 * Downloads an image (a result on the API's CDN, a chat platform's file), checking its content
 * is an image. Errors are `NanoBananaError`s: `upstream_error` for an HTTP error status
 * (`status`, retryable from 500 and on 429), a body over `maxBytes` (`reason: result_too_large`)
 * or content that is not an image (`reason: not_an_image`); `network` and `timeout` (retryable);
 * `cancelled` when the caller's signal aborts. Messages name the host only: URLs may be signed
 * and headers may carry tokens.
 */
export async function downloadImage(
  url: string,
  options: DownloadImageOptions,
): Promise<ImageFile> {
  const host = checkedHost(url);
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal =
    options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
  const dispatcher = (options.dispatcher ?? defaultDispatcher()).compose(
    interceptors.redirect({ maxRedirections: MAX_REDIRECTIONS }),
  );

  let bytes: Buffer;
  try {
    const response = await request(url, {
      method: 'GET',
      dispatcher,
      signal,
      ...(options.headers === undefined ? {} : { headers: options.headers }),
    });
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

function checkedHost(url: string): string {
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
  return parsed.host;
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
