/**
 * What a log line may say about an error, and how credentials that travel inside URLs and
 * headers are masked. Library errors are never logged whole: a discord.js `DiscordAPIError`
 * carries the interaction's webhook URL (its token posts as the bot for 15 minutes) and the
 * request body, image files included as number arrays; a Slack client error carries the HTTP
 * request it made. So an error is reduced to a short list of fields, and every string kept is
 * masked.
 */

/** An error as it appears in a log line. */
export interface SerializedError {
  /** The constructor's name (`DiscordAPIError[50027]`, `NanoBananaError`, ...). */
  readonly type: string;
  readonly message: string;
  /** The platform's or the library's code (`50027`, `slack_webapi_platform_error`, `ECONNREFUSED`). */
  readonly code?: string | number;
  /** The HTTP status of the answer that failed. */
  readonly status?: number;
  readonly method?: string;
  /** The request's path, without its query, every token in it masked. */
  readonly route?: string;
  readonly syscall?: string;
  readonly traceId?: string;
  readonly apiCode?: string;
  readonly retryable?: boolean;
  /** Seconds (Slack's rate limits) or milliseconds (`retryAfterMs`), as the error gave it. */
  readonly retryAfter?: number;
  readonly retryAfterMs?: number;
  readonly params?: Readonly<Record<string, string | number | boolean>>;
  readonly stack?: string;
  readonly cause?: SerializedError;
  /** What an aggregate error holds (Bolt's `originals`, `AggregateError.errors`), the first few. */
  readonly errors?: readonly SerializedError[];
}

const MAX_MESSAGE_CHARS = 1_000;
const MAX_STACK_CHARS = 4_000;
const MAX_PARAM_CHARS = 200;
const MAX_PARAMS = 20;
const MAX_DEPTH = 3;
const MAX_AGGREGATED = 5;

/** A path segment (or a run of them) that the masking below replaces. */
const SEGMENT = String.raw`[^/\s"'?#\\]+`;
const REST_OF_PATH = String.raw`[^\s"'?#\\]*`;

/**
 * Credentials as they appear in text. Each rule is idempotent: masking twice gives the same.
 * Route parameters are named as discord.js names them (`/webhooks/:id/:token`).
 */
const MASKS: readonly (readonly [RegExp, string])[] = [
  // Discord interaction webhooks and callbacks: the token posts as the bot.
  [new RegExp(`/webhooks/${SEGMENT}/${SEGMENT}`, 'g'), '/webhooks/:id/:token'],
  [new RegExp(`/interactions/${SEGMENT}/${SEGMENT}`, 'g'), '/interactions/:id/:token'],
  // The image API's callbacks to this service: the job id stays, the token goes.
  [new RegExp(`(/callbacks/nano-banana/${SEGMENT})/${SEGMENT}`, 'g'), '$1/[redacted]'],
  // Slack's private files (`url_private`, thumbnails), upload URLs and response URLs.
  [new RegExp(`/files-(pri|tmb)/${REST_OF_PATH}`, 'g'), '/files-$1/:file'],
  [new RegExp(`/upload/${REST_OF_PATH}`, 'g'), '/upload/:token'],
  [new RegExp(`hooks\\.slack\\.com/${REST_OF_PATH}`, 'g'), 'hooks.slack.com/:token'],
  [new RegExp(`/response-url/${REST_OF_PATH}`, 'g'), '/response-url/:token'],
  // Query strings of URLs: signed CDN links (`?ex=&is=&hm=`), presigned storage links.
  [/(\bhttps?:\/\/[^\s"'?#\\]*)\?[^\s"'#\\]+/g, '$1?[redacted]'],
  // Authorization header values, wherever they were printed.
  [/\b(Bearer|bearer) +[A-Za-z0-9._~+/=-]{8,}/g, '$1 [redacted]'],
  [/\b(Bot|Basic) +[A-Za-z0-9._~+/=-]{16,}/g, '$1 [redacted]'],
  // Tokens recognisable by their shape, should one travel outside a URL.
  [/\bx(?:ox[abposre]|app)-[A-Za-z0-9-]+/g, '[redacted]'],
  [/\baW50ZXJhY3Rpb246[A-Za-z0-9_-]+/g, '[redacted]'],
];

/** The text with every credential the rules above know of masked. */
export function maskCredentials(text: string): string {
  let result = text;
  for (const [pattern, replacement] of MASKS) result = result.replace(pattern, replacement);
  return result;
}

/** A URL or path as a route: the path only, without origin or query, its tokens masked. */
export function maskRoute(url: string): string {
  let path = url;
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(path);
  if (origin !== null) path = path.slice(origin[0].length) || '/';
  const queryAt = path.search(/[?#]/);
  if (queryAt !== -1) path = path.slice(0, queryAt);
  return maskCredentials(path);
}

/**
 * pino's serializer for `err` and `error`: anything thrown, reduced to the fields above. Never
 * copies a field it does not know, so a request body, headers or file bytes cannot get through.
 */
export function serializeError(value: unknown): SerializedError {
  return serialize(value, 0);
}

function serialize(value: unknown, depth: number): SerializedError {
  if (typeof value !== 'object' || value === null) {
    return { type: typeof value, message: clip(maskCredentials(String(value)), MAX_MESSAGE_CHARS) };
  }
  const record = value as Record<string, unknown>;
  const message = typeof record.message === 'string' ? record.message : '';
  const result: { -readonly [K in keyof SerializedError]: SerializedError[K] } = {
    type: typeName(value),
    message: clip(maskCredentials(message), MAX_MESSAGE_CHARS),
  };
  const code = record.code;
  if (typeof code === 'string' || typeof code === 'number') result.code = code;
  const status = firstNumber(record.status, record.statusCode, record.httpStatus);
  if (status !== undefined) result.status = status;
  if (typeof record.method === 'string' && /^[A-Z]{3,7}$/.test(record.method)) {
    result.method = record.method;
  }
  const url = typeof record.url === 'string' ? record.url : record.route;
  if (typeof url === 'string') result.route = maskRoute(url);
  if (typeof record.syscall === 'string') result.syscall = record.syscall;
  if (typeof record.traceId === 'string') result.traceId = record.traceId;
  if (typeof record.apiCode === 'string') result.apiCode = record.apiCode;
  if (typeof record.retryable === 'boolean') result.retryable = record.retryable;
  if (typeof record.retryAfter === 'number') result.retryAfter = record.retryAfter;
  if (typeof record.retryAfterMs === 'number') result.retryAfterMs = record.retryAfterMs;
  const params = scalarParams(record.params);
  if (params !== undefined) result.params = params;
  if (typeof record.stack === 'string') {
    result.stack = clip(maskCredentials(record.stack), MAX_STACK_CHARS);
  }
  if (depth < MAX_DEPTH) {
    // Slack's and Bolt's errors keep what they wrap in `original`, the rest in `cause`.
    const inner = record.cause ?? record.original;
    if (inner !== undefined && inner !== value) result.cause = serialize(inner, depth + 1);
    const many = Array.isArray(record.errors)
      ? record.errors
      : Array.isArray(record.originals)
        ? record.originals
        : undefined;
    if (many !== undefined && many.length > 0) {
      result.errors = many
        .slice(0, MAX_AGGREGATED)
        .map((entry: unknown) => serialize(entry, depth + 1));
    }
  }
  return result;
}

function typeName(value: object): string {
  const name = (value as { name?: unknown }).name;
  if (typeof name === 'string' && name !== '') return clip(name, 100);
  return value.constructor?.name ?? 'Object';
}

function firstNumber(...candidates: unknown[]): number | undefined {
  return candidates.find((candidate): candidate is number => typeof candidate === 'number');
}

/** An error's parameters (file names, limits, reasons), scalars only, each one short. */
function scalarParams(
  params: unknown,
): Readonly<Record<string, string | number | boolean>> | undefined {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return undefined;
  const result: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(params).slice(0, MAX_PARAMS)) {
    if (typeof value === 'string') result[key] = clip(maskCredentials(value), MAX_PARAM_CHARS);
    else if (typeof value === 'number' || typeof value === 'boolean') result[key] = value;
  }
  return Object.keys(result).length === 0 ? undefined : result;
}

function clip(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, maxChars)}…`;
}
