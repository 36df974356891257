/**
 * One error family for the whole bot. Errors carry a stable code and parameters, never a finished
 * sentence for users: every front end (command line, Discord, Slack) renders them from the message
 * catalogue in the user's language. `message` is for logs and developers only.
 */

export const ERROR_CODES = [
  'invalid_input',
  'auth_failed',
  'balance_used_up',
  'moderation_blocked',
  'rate_limited',
  'request_too_large',
  'upstream_error',
  'timeout',
  'network',
  'no_image',
  'cancelled',
  /** Refused before anything was sent: the daily image quota (params: scope, limit, remaining). */
  'quota_exceeded',
  /** Refused: this server or channel is not on the allow-list. */
  'not_allowed',
  /** Refused: the user already has this many unfinished jobs (params: max). */
  'too_many_queued',
  /** Refused: the prompt holds a blocked word (params: word). */
  'blocked_prompt',
  /** The bot stopped while sending the create: a task may or may not exist; try again. */
  'interrupted',
  /** The images were made but could not be posted. */
  'delivery_failed',
  /**
   * The images were made but there is nowhere left to post them (the channel and the requester's
   * DMs both refused): the job ends `undelivered`, its result kept for the retention period.
   */
  'undeliverable',
  /** The bot is shutting down or paused; try again shortly. */
  'unavailable',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Why an input was refused, for `invalid_input`. Each has its own text in the catalogue.
 */
export const INPUT_PROBLEMS = [
  'empty_prompt',
  'prompt_too_long',
  'unknown_model',
  'unknown_aspect_ratio',
  'unknown_resolution',
  'resolution_not_supported',
  'count_out_of_range',
  /** `--repeat` outside 1..4 (params: value, min, max). */
  'repeat_out_of_range',
  /** A batch (`{a, b}` groups, `--repeat`) would make more jobs than one command may (count, max). */
  'too_many_jobs',
  /** A server's daily limit above the operator's (params: value, max). */
  'limit_above_ceiling',
  'edit_without_images',
  'too_many_images',
  /** A blend with fewer than 2 or more than 5 images (params: count, min, max). */
  'blend_image_count',
  'unknown_flag',
  'missing_flag_value',
  /** `--style` names a style the member has not saved (params: value, valid: their styles). */
  'unknown_style',
  /** A saved suffix or style holds an option such as `--ar` (params: setting). */
  'options_in_text',
  'bad_image_url',
  /** An input image outside the chat platform's own hosts, or redirected away from them. */
  'untrusted_image_host',
  'unsupported_image',
  'image_too_large',
  /** The inline images of one job together are over the limit (params: names, total, max). */
  'inputs_too_large',
  'image_unreadable',
  /** A per-image action's image is no longer kept (its result was deleted or pruned). */
  'result_gone',
  /** The API refused the request as invalid (HTTP 400) although our own checks passed. */
  'rejected_by_api',
  /** A setting's text is too long (params: setting, max). */
  'setting_too_long',
  /** A setting's value is not one it takes (params: setting, value). */
  'bad_setting',
  /** A style name outside `a-z 0-9 _ -` or too long (params: value). */
  'bad_style_name',
  /** More named styles than a member may keep (params: max). */
  'too_many_styles',
] as const;

export type InputProblem = (typeof INPUT_PROBLEMS)[number];

export type ErrorParamValue = string | number | readonly string[];
export type ErrorParams = Readonly<Record<string, ErrorParamValue>>;

export interface NanoBananaErrorOptions {
  readonly params?: ErrorParams;
  readonly status?: number | undefined;
  readonly traceId?: string | undefined;
  readonly retryable?: boolean;
  /** How long the service asked us to wait before trying again (from `Retry-After`). */
  readonly retryAfterMs?: number | undefined;
  /** The API's own error code (`used_up`, `forbidden`...), kept for logs. */
  readonly apiCode?: string | undefined;
  readonly cause?: unknown;
}

export class NanoBananaError extends Error {
  override readonly name = 'NanoBananaError';
  readonly code: ErrorCode;
  readonly params: ErrorParams;
  readonly status: number | undefined;
  readonly traceId: string | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly apiCode: string | undefined;

  constructor(code: ErrorCode, message: string, options: NanoBananaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.params = options.params ?? {};
    this.status = options.status;
    this.traceId = options.traceId;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.apiCode = options.apiCode;
  }

  /** A plain object for structured logs and `--json` output (no stack, no cause). */
  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      params: this.params,
      status: this.status,
      traceId: this.traceId,
      retryable: this.retryable,
      apiCode: this.apiCode,
    };
  }
}

/** An input refused before anything was sent: costs nothing, never retried. */
export function invalidInput(
  reason: InputProblem,
  message: string,
  params: ErrorParams = {},
): NanoBananaError {
  return new NanoBananaError('invalid_input', message, { params: { reason, ...params } });
}

export function isNanoBananaError(error: unknown): error is NanoBananaError {
  return error instanceof NanoBananaError;
}

/** Wraps anything thrown into the family, so callers only ever deal with one kind of error. */
export function toNanoBananaError(error: unknown): NanoBananaError {
  if (error instanceof NanoBananaError) return error;
  if (error instanceof Error && error.name === 'AbortError') {
    return new NanoBananaError('cancelled', 'The operation was cancelled', { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new NanoBananaError('upstream_error', `Unexpected error: ${message}`, { cause: error });
}
