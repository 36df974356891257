import { type ErrorCode, NanoBananaError } from '../errors.js';

/** The two kinds of call, which differ in what may be retried (see `retryableFor`). */
export type Operation = 'create' | 'retrieve';

/** What the API put in an error body, read leniently: any part may be missing. */
export interface ApiErrorBody {
  readonly code: string | undefined;
  readonly message: string | undefined;
  readonly traceId: string | undefined;
}

/**
 * Reads an error body whatever its shape: `{error: {code, message}}`, `{error: "text"}`, a bare
 * `{message}` or something that is not JSON at all.
 */
export function parseErrorBody(body: unknown): ApiErrorBody {
  if (typeof body !== 'object' || body === null) {
    return { code: undefined, message: undefined, traceId: undefined };
  }
  const record = body as Record<string, unknown>;
  const traceId = stringOrUndefined(record.trace_id);
  const error = record.error;
  if (typeof error === 'string') return { code: undefined, message: error, traceId };
  if (typeof error === 'object' && error !== null) {
    const inner = error as Record<string, unknown>;
    return {
      code: stringOrUndefined(inner.code),
      message: stringOrUndefined(inner.message),
      traceId: traceId ?? stringOrUndefined(inner.trace_id),
    };
  }
  return {
    code: stringOrUndefined(record.code),
    message: stringOrUndefined(record.message),
    traceId,
  };
}

/** Codes the API uses for credential and account problems, whatever the status. */
const AUTH_CODES = new Set([
  'invalid_token',
  'token_expired',
  'token_mismatched',
  'no_token',
  'disabled',
]);

/**
 * Maps an API error to our code. The status decides first; the API's code refines it (a 403 is a
 * safety refusal unless it says `used_up`). Task failures have no status: the code alone decides.
 */
export function classifyApiError(
  status: number | undefined,
  apiCode: string | undefined,
): ErrorCode {
  const code = apiCode?.toLowerCase();
  if (code === 'used_up') return 'balance_used_up';
  if (code !== undefined && AUTH_CODES.has(code)) return 'auth_failed';
  if (code === 'too_many_requests') return 'rate_limited';
  if (code === 'request_too_large') return 'request_too_large';
  if (status === undefined) {
    if (code === 'forbidden' || code?.includes('safety') || code?.includes('moderation')) {
      return 'moderation_blocked';
    }
    if (code === 'no_image') return 'no_image';
    if (code === 'bad_request') return 'invalid_input';
    return 'upstream_error';
  }
  if (status === 401) return 'auth_failed';
  if (status === 403) return 'moderation_blocked';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limited';
  if (status === 400 && (code === undefined || code === 'bad_request')) return 'invalid_input';
  return 'upstream_error';
}

/**
 * Whether an error from the API may be retried. A create costs money: once it may have reached the
 * service, sending it again can make a second paid task, so only a refusal the service surely made
 * (429) is retried. Retrieval is free and idempotent: 429 and 5xx are retried.
 */
export function retryableFor(operation: Operation, code: ErrorCode, status: number | undefined) {
  if (code === 'rate_limited') return true;
  if (operation === 'retrieve') return status !== undefined && status >= 500;
  return false;
}

export function apiError(
  operation: Operation,
  status: number | undefined,
  body: unknown,
  retryAfterMs: number | undefined,
): NanoBananaError {
  const parsed = parseErrorBody(body);
  const code = classifyApiError(status, parsed.code);
  const where = status === undefined ? 'task failed' : `HTTP ${status}`;
  const detail = [parsed.code, parsed.message].filter((part) => part !== undefined).join(': ');
  return new NanoBananaError(
    code,
    `Nano Banana API ${operation}: ${where}${detail ? ` (${detail})` : ''}`,
    {
      status,
      traceId: parsed.traceId,
      apiCode: parsed.code,
      retryable: retryableFor(operation, code, status),
      retryAfterMs,
      params:
        code === 'invalid_input'
          ? { reason: 'rejected_by_api', detail: (parsed.message ?? '').slice(0, 300) }
          : {},
    },
  );
}

function stringOrUndefined(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}
