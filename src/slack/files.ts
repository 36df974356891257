import { request } from 'undici';
import {
  detectImageType,
  type InputReference,
  invalidInput,
  isNanoBananaError,
  NanoBananaError,
} from '../core/index.js';
import type { SlackFile } from './payloads.js';

/**
 * Slack's files are private: `url_private` needs the bot token. The token goes to Slack's file
 * host only (or the origin of `SLACK_API_URL` when that is replaced), never anywhere else, and the
 * bytes go to the core, which sends them to the API as `data:` URLs. The API never sees a Slack
 * URL or token.
 */

/** Why a Slack file could not be used, beyond the core's input problems (see `describe.ts`). */
export const SLACK_FILE_PROBLEMS = {
  /** Slack answered with its sign-in page: the app lacks the `files:read` scope. */
  loginPage: 'slack_login_page',
  /** The file's URL is not on Slack's file host, so it never gets the token. */
  elsewhere: 'slack_file_elsewhere',
} as const;

/** Larger files are refused while downloading; the core then shrinks what it keeps to 10 MB. */
const MAX_DOWNLOAD_BYTES = 50_000_000;
const DOWNLOAD_TIMEOUT_MS = 60_000;
/** Slack's file host may redirect within itself; a few hops are plenty. */
const MAX_REDIRECTS = 3;

export interface SlackDownloadOptions {
  readonly token: string;
  /** Origins that may receive the token, e.g. `https://files.slack.com`. */
  readonly fileOrigins: readonly string[];
  readonly signal?: AbortSignal | undefined;
  readonly maxBytes?: number;
  readonly timeoutMs?: number;
}

/** Image files among a message's files: judged by Slack's MIME type here, by content later. */
export function imageFiles(files: readonly SlackFile[]): SlackFile[] {
  return files.filter((file) => file.mimetype?.startsWith('image/') === true);
}

/** Files that are not images, to refuse at once with their names. */
export function otherFiles(files: readonly SlackFile[]): SlackFile[] {
  return files.filter((file) => file.mimetype?.startsWith('image/') !== true);
}

export function fileName(file: SlackFile): string {
  return file.name ?? file.title ?? file.id;
}

/** The job input for a Slack file: its private URL, fetched only when the job's turn comes. */
export function toInputReference(file: SlackFile): InputReference | undefined {
  const url = file.url_private ?? file.url_private_download;
  if (url === undefined) return undefined;
  return { kind: 'platform', ref: url, name: fileName(file) };
}

/**
 * Downloads a Slack file with the bot token and checks that it is an image, by its content.
 * Throws `invalid_input` errors the user can act on: the sign-in page (a missing scope), a file
 * elsewhere than Slack, not an image, too large or unreadable; `timeout` and `network` (retryable).
 */
export async function downloadSlackFile(
  url: string,
  name: string,
  options: SlackDownloadOptions,
): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? MAX_DOWNLOAD_BYTES;
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DOWNLOAD_TIMEOUT_MS);
  const signal =
    options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
  let current = parseHttpUrl(url);
  if (current === undefined) throw unreadable(name);
  if (!options.fileOrigins.includes(current.origin)) {
    throw new NanoBananaError('invalid_input', `A Slack file URL points to ${current.host}`, {
      params: { reason: SLACK_FILE_PROBLEMS.elsewhere, name },
    });
  }

  try {
    for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
      const response = await request(current, {
        method: 'GET',
        signal,
        headers: { authorization: `Bearer ${options.token}` },
      });
      const status = response.statusCode;
      const location = response.headers.location;
      if (status >= 300 && status < 400 && typeof location === 'string') {
        await response.body.dump();
        const next = parseHttpUrl(new URL(location, current).href);
        if (next === undefined) throw unreadable(name);
        // Never followed off Slack's file host: the user chose the file, so a redirect elsewhere
        // would be a fetch they steer (to an internal address, say). Slack itself redirects to
        // its sign-in page when the token may not read files: that is the missing scope.
        if (!options.fileOrigins.includes(next.origin)) {
          if (isSlackSignIn(next)) throw loginPage(name);
          throw new NanoBananaError('invalid_input', `A Slack file redirected to ${next.host}`, {
            params: { reason: SLACK_FILE_PROBLEMS.elsewhere, name },
          });
        }
        current = next;
        continue;
      }
      if (status < 200 || status > 299) {
        await response.body.dump();
        if (status >= 500 || status === 429) {
          throw new NanoBananaError('network', `Slack answered ${status} for a file`, {
            status,
            retryable: true,
          });
        }
        throw invalidInput('image_unreadable', `Slack answered ${status} for a file`, {
          name,
          status,
        });
      }
      const contentType = String(response.headers['content-type'] ?? '');
      const bytes = await readCapped(response.body, maxBytes, name);
      if (contentType.includes('text/html') || looksLikeHtml(bytes)) throw loginPage(name);
      if (detectImageType(bytes) === undefined) {
        throw invalidInput('unsupported_image', 'A Slack file is not an image', { name });
      }
      return bytes;
    }
  } catch (error) {
    throw downloadFailure(error, options.signal, timeout);
  }
  throw unreadable(name);
}

async function readCapped(
  body: AsyncIterable<unknown> & { destroy(): unknown },
  maxBytes: number,
  name: string,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    length += buffer.length;
    if (length > maxBytes) {
      body.destroy();
      throw invalidInput('image_too_large', `A Slack file is over ${maxBytes} bytes`, {
        name,
        max: maxBytes,
      });
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, length);
}

/** Slack's own pages (`slack.com`, `<workspace>.slack.com`), where a refused download lands. */
function isSlackSignIn(url: URL): boolean {
  return (
    url.protocol === 'https:' &&
    (url.hostname === 'slack.com' || url.hostname.endsWith('.slack.com'))
  );
}

function looksLikeHtml(bytes: Buffer): boolean {
  const start = bytes.subarray(0, 512).toString('utf8').trimStart().toLowerCase();
  return start.startsWith('<!doctype html') || start.startsWith('<html');
}

function parseHttpUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}

function unreadable(name: string): NanoBananaError {
  return invalidInput('image_unreadable', 'A Slack file could not be read', { name });
}

function loginPage(name: string): NanoBananaError {
  return new NanoBananaError('invalid_input', 'Slack answered a file download with a web page', {
    params: { reason: SLACK_FILE_PROBLEMS.loginPage, name },
  });
}

function downloadFailure(
  error: unknown,
  callerSignal: AbortSignal | undefined,
  timeout: AbortSignal,
): NanoBananaError {
  if (isNanoBananaError(error)) return error;
  if (callerSignal?.aborted) {
    return new NanoBananaError('cancelled', 'A Slack file download was cancelled', {
      cause: error,
    });
  }
  if (timeout.aborted) {
    return new NanoBananaError('timeout', 'A Slack file download took too long', {
      retryable: true,
      cause: error,
    });
  }
  return new NanoBananaError('network', 'A Slack file download failed', {
    retryable: true,
    cause: error,
  });
}
