import { createHmac } from 'node:crypto';

export interface SignOptions {
  /** Unix seconds sent as `x-slack-request-timestamp`; default now. */
  timestamp?: number;
  /** Sign with a wrong secret, so that the app must refuse the request. */
  badSignature?: boolean;
  /** `x-slack-retry-num` / `x-slack-retry-reason`, as Slack sends on redeliveries. */
  retryNum?: number;
  retryReason?: string;
}

export interface SignedRequest {
  headers: Record<string, string>;
  body: string;
}

/**
 * Signs a request the way Slack signs what it sends to an app: `v0=` + hex HMAC-SHA256 of
 * `v0:<timestamp>:<raw body>` with the signing secret. The content type follows the body: Events
 * API deliveries are JSON, slash commands and interactions are form-encoded.
 */
export function signSlackRequest(
  signingSecret: string,
  body: string,
  options: SignOptions = {},
): SignedRequest {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const secret = options.badSignature === true ? `${signingSecret}-wrong` : signingSecret;
  const digest = createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex');
  const headers: Record<string, string> = {
    'content-type': body.trimStart().startsWith('{')
      ? 'application/json'
      : 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': `v0=${digest}`,
  };
  if (options.retryNum !== undefined) headers['x-slack-retry-num'] = String(options.retryNum);
  if (options.retryReason !== undefined) headers['x-slack-retry-reason'] = options.retryReason;
  return { headers, body };
}

/** `application/x-www-form-urlencoded`, skipping undefined values. */
export function formEncode(fields: Record<string, string | number | boolean | undefined>): string {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) form.append(key, String(value));
  }
  return form.toString();
}
