import type { App } from '@slack/bolt';
import { NanoBananaError } from '../core/index.js';
import { describeFailure } from './describe.js';
import { replyPrivately } from './replies.js';
import type { SlackRuntime } from './runtime.js';

/**
 * Slack Connect: in a channel shared with another organisation, the envelope names the workspace
 * the bot is installed in while the sender belongs to another. The workspace allow-list and the
 * workspace's quota are the host's, so a sender from elsewhere is checked by their own team, and
 * shared channels are refused unless the operator allows them (`NANO_BANANA_ALLOW_SLACK_CONNECT`).
 */
export interface Sender {
  /** The workspace the request arrived through (the envelope's team). */
  readonly hostTeamId: string | undefined;
  /** The sender's own workspace (`user_team` on events, `user.team_id` on interactions). */
  readonly userTeamId: string | undefined;
  /** Slack said the channel is shared with another organisation. */
  readonly externallyShared: boolean;
}

/** The refusal for a sender from a shared channel or another organisation; undefined if none. */
export function slackConnectRefusal(
  runtime: SlackRuntime,
  sender: Sender,
): NanoBananaError | undefined {
  const foreign =
    sender.userTeamId !== undefined &&
    sender.hostTeamId !== undefined &&
    sender.userTeamId !== sender.hostTeamId;
  if (!foreign && !sender.externallyShared) return undefined;
  const allowedServers = runtime.config.access.allowedServers;
  const teamAllowed =
    allowedServers === undefined ||
    (sender.userTeamId !== undefined && allowedServers.has(sender.userTeamId));
  if (runtime.settings.allowSlackConnect && teamAllowed) return undefined;
  return new NanoBananaError('not_allowed', 'A Slack Connect sender or shared channel');
}

const INTERACTIVE_TYPES = new Set(['block_actions', 'message_action', 'shortcut']);

/**
 * Checks every button, shortcut and modal before its handler: a member of another organisation
 * gets the refusal privately and nothing else happens. (Events are checked in `events.ts`, where a
 * message is first known to be a request at all: chatter is ignored, not refused.)
 */
export function registerSlackConnectGuard(app: App, runtime: SlackRuntime): void {
  app.use(async (middleware) => {
    const body = middleware.body as {
      type?: unknown;
      user?: { id?: unknown; team_id?: unknown };
      channel?: { id?: unknown };
      container?: { channel_id?: unknown };
      response_url?: unknown;
      is_ext_shared_channel?: unknown;
    };
    const type = typeof body.type === 'string' ? body.type : '';
    if (!INTERACTIVE_TYPES.has(type) && type !== 'view_submission') {
      await middleware.next();
      return;
    }
    const refusal = slackConnectRefusal(runtime, {
      // Bolt's reading of the installed workspace (a modal's `app_installed_team_id` included).
      hostTeamId: middleware.context.teamId,
      userTeamId: text(body.user?.team_id),
      externallyShared: body.is_ext_shared_channel === true,
    });
    if (refusal === undefined) {
      await middleware.next();
      return;
    }
    const ack = 'ack' in middleware ? middleware.ack : undefined;
    if (typeof ack === 'function') await (ack as () => Promise<void>)();
    const userId = text(body.user?.id);
    const channel = text(body.channel?.id) ?? text(body.container?.channel_id);
    runtime.logger.info({ type, userTeam: body.user?.team_id }, 'Refused a Slack Connect sender');
    if (userId === undefined || channel === undefined) return;
    const locale = await runtime.users.locale(userId);
    await replyPrivately(
      runtime,
      { channel, userId, responseUrl: text(body.response_url) },
      describeFailure(refusal, locale),
    );
  });
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
