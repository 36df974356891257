import { isTrustedUrl } from '../core/index.js';
import type { SlackRuntime } from './runtime.js';

/** Where a private answer goes: the request's `response_url` when it has one, else an ephemeral. */
export interface PrivateTarget {
  readonly channel: string;
  readonly userId: string;
  readonly threadTs?: string | undefined;
  /** Works even where the bot is not a member (a command in a channel it was never added to). */
  readonly responseUrl?: string | undefined;
}

const RESPONSE_URL_TIMEOUT_MS = 10_000;

/**
 * Tells one user something only they see. Never throws: a lost notice is logged, not fatal. A
 * `response_url` comes from a payload (or a modal's `private_metadata`): it is posted to only on
 * Slack's hooks host, else the answer goes as an ephemeral message, so no payload can make the
 * bot send requests to a host of its choosing.
 */
export async function replyPrivately(
  runtime: SlackRuntime,
  target: PrivateTarget,
  text: string,
): Promise<void> {
  const { responseUrl } = target;
  if (responseUrl !== undefined) {
    if (!isTrustedUrl(responseUrl, runtime.settings.responseUrlOrigins)) {
      runtime.logger.warn('A response URL outside Slack was ignored');
    } else if (await postToResponseUrl(runtime, responseUrl, text)) {
      return;
    }
  }
  try {
    await runtime.client.chat.postEphemeral({
      channel: target.channel,
      user: target.userId,
      text,
      ...(target.threadTs === undefined ? {} : { thread_ts: target.threadTs }),
    });
  } catch (error) {
    runtime.logger.warn({ err: error, channel: target.channel }, 'Could not answer privately');
  }
}

async function postToResponseUrl(
  runtime: SlackRuntime,
  responseUrl: string,
  text: string,
): Promise<boolean> {
  try {
    const response = await fetch(responseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text }),
      // A redirect is not followed: it could lead off Slack's hooks host.
      redirect: 'manual',
      signal: AbortSignal.timeout(RESPONSE_URL_TIMEOUT_MS),
    });
    await response.body?.cancel();
    if (response.ok) return true;
    runtime.logger.warn({ status: response.status }, 'The response URL refused an answer');
  } catch (error) {
    runtime.logger.warn({ err: error }, 'Could not answer through the response URL');
  }
  return false;
}

/** Posts a message in a thread (a failure, a notice). Never throws. */
export async function postInThread(
  runtime: SlackRuntime,
  channel: string,
  threadTs: string,
  text: string,
): Promise<void> {
  try {
    await runtime.client.chat.postMessage({ channel, thread_ts: threadTs, text });
  } catch (error) {
    runtime.logger.warn({ err: error, channel }, 'Could not post in the thread');
  }
}
