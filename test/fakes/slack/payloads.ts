/**
 * What Slack sends to an app, shaped as Slack shapes it: slash command fields, Events API
 * envelopes (`event_callback`) with `app_mention` / `message` events, and interaction payloads
 * (`block_actions`, `view_submission`, `message_action`). Ids the app may use later (trigger ids,
 * response URLs) are issued by the workspace, so `views.open` and `respond()` work with them.
 */
import { randomUUID } from 'node:crypto';
import { formEncode } from './signing.js';
import {
  type FakeSlackFile,
  type FakeSlackMessage,
  type FakeSlackView,
  toSlackFile,
  toSlackMessage,
  type Workspace,
} from './workspace.js';

/** The deprecated verification token Slack still sends in payloads. */
const VERIFICATION_TOKEN = 'fake-verification-token';

export interface SlashCommandSpec {
  /** With the slash, e.g. `/imagine`. */
  command: string;
  text?: string;
  userId: string;
  channelId: string;
}

/** The fields of a slash command: form-encoded over HTTP, a JSON object over Socket Mode. */
export type SlashCommandPayload = Record<string, string>;

export interface UserMessageSpec {
  channel: string;
  user: string;
  /** Mentions are written as Slack writes them: `<@U123> make it blue`. */
  text?: string;
  /** Reply in this thread (the parent's ts). */
  threadTs?: string;
  /** Files from `addFile`, shared with the message (the message becomes a `file_share`). */
  files?: FakeSlackFile[];
}

export interface BlockActionSpec {
  userId: string;
  channel: string;
  /** The message holding the button (its ts is enough for an ephemeral one). */
  message: FakeSlackMessage;
  actionId: string;
  value?: string;
  blockId?: string;
}

export interface ViewSubmissionSpec {
  userId: string;
  view: FakeSlackView;
  /** `state.values`: block id → action id → `{type, value}` (or `selected_option`, ...). */
  values?: Record<string, Record<string, unknown>>;
}

export interface MessageShortcutSpec {
  userId: string;
  channel: string;
  message: FakeSlackMessage;
  callbackId: string;
}

export function slashCommandPayload(
  workspace: Workspace,
  spec: SlashCommandSpec,
): SlashCommandPayload {
  const { teamId, teamDomain, appId } = workspace.settings;
  const channel = workspace.channels.get(spec.channelId);
  return {
    token: VERIFICATION_TOKEN,
    team_id: teamId,
    team_domain: teamDomain,
    channel_id: spec.channelId,
    // Slack names DMs and private channels generically here.
    channel_name: channel?.isIm
      ? 'directmessage'
      : channel?.isPrivate
        ? 'privategroup'
        : (channel?.name ?? spec.channelId.toLowerCase()),
    user_id: spec.userId,
    user_name: userName(workspace, spec.userId),
    command: spec.command,
    text: spec.text ?? '',
    api_app_id: appId,
    is_enterprise_install: 'false',
    response_url: workspace.issueResponseUrl({ channel: spec.channelId, user: spec.userId }),
    trigger_id: workspace.issueTrigger(spec.userId),
  };
}

export function slashCommandBody(workspace: Workspace, spec: SlashCommandSpec): string {
  return formEncode(slashCommandPayload(workspace, spec));
}

/** The Events API envelope around an event. */
export function eventCallback(workspace: Workspace, event: object): Record<string, unknown> {
  const { teamId, appId, botUserId } = workspace.settings;
  return {
    token: VERIFICATION_TOKEN,
    team_id: teamId,
    context_team_id: teamId,
    context_enterprise_id: null,
    api_app_id: appId,
    event,
    type: 'event_callback',
    event_id: workspace.nextId('Ev'),
    event_time: workspace.nowSeconds(),
    authorizations: [
      {
        enterprise_id: null,
        team_id: teamId,
        user_id: botUserId,
        is_bot: true,
        is_enterprise_install: false,
      },
    ],
    is_ext_shared_channel: false,
    event_context: `4-${Buffer.from(randomUUID()).toString('base64url')}`,
  };
}

/** `payload=<JSON>`, as Slack posts interactions to the app's request URL. */
export function interactionBody(payload: object): string {
  return formEncode({ payload: JSON.stringify(payload) });
}

/** Stores a message "typed" by a user, so that it is also in `conversations.replies`. */
export function userMessage(workspace: Workspace, spec: UserMessageSpec): FakeSlackMessage {
  const channel = workspace.findChannel(spec.channel);
  if (channel === undefined) throw new Error(`fake Slack: unknown channel ${spec.channel}`);
  const text = spec.text ?? '';
  const ts = workspace.nextTs();
  const files = spec.files ?? [];
  for (const file of files) workspace.shareFile(file, channel, ts, spec.threadTs);
  const message: FakeSlackMessage = {
    type: 'message',
    ts,
    text,
    user: spec.user,
    team: workspace.settings.teamId,
    client_msg_id: randomUUID(),
    blocks: text === '' ? undefined : [richTextBlock(text)],
    thread_ts: spec.threadTs,
  };
  if (files.length > 0) {
    message.subtype = 'file_share';
    message.files = files.map(toSlackFile);
    message.upload = false;
    message.display_as_bot = false;
  }
  return workspace.addMessage(channel.id, message);
}

/** The `message` event for a stored message (subtype `file_share` when it carries files). */
export function messageEvent(
  workspace: Workspace,
  channelId: string,
  message: FakeSlackMessage,
): Record<string, unknown> {
  const channel = workspace.channels.get(channelId);
  return {
    ...toSlackMessage(message),
    channel: channelId,
    event_ts: message.ts,
    channel_type: channel === undefined ? 'channel' : workspace.channelType(channel),
  };
}

/** The `app_mention` event Slack sends besides the `message` event when the bot is mentioned. */
export function appMentionEvent(
  channelId: string,
  message: FakeSlackMessage,
): Record<string, unknown> {
  const { type: _type, subtype: _subtype, ...fields } = toSlackMessage(message);
  return { type: 'app_mention', ...fields, channel: channelId, event_ts: message.ts };
}

export function blockActionsPayload(
  workspace: Workspace,
  spec: BlockActionSpec,
): Record<string, unknown> {
  const { teamId, teamDomain, appId } = workspace.settings;
  const isEphemeral = spec.message.ephemeralTo !== undefined;
  const container: Record<string, unknown> = {
    type: 'message',
    message_ts: spec.message.ts,
    channel_id: spec.channel,
    is_ephemeral: isEphemeral,
  };
  if (spec.message.thread_ts !== undefined) container.thread_ts = spec.message.thread_ts;
  const payload: Record<string, unknown> = {
    type: 'block_actions',
    user: userObject(workspace, spec.userId),
    api_app_id: appId,
    token: VERIFICATION_TOKEN,
    container,
    trigger_id: workspace.issueTrigger(spec.userId),
    team: { id: teamId, domain: teamDomain },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: spec.channel, name: workspace.channels.get(spec.channel)?.name ?? '' },
    state: { values: {} },
    response_url: workspace.issueResponseUrl({
      channel: spec.channel,
      user: spec.userId,
      messageTs: spec.message.ts,
    }),
    actions: [
      {
        action_id: spec.actionId,
        block_id: spec.blockId ?? workspace.nextId('b').toLowerCase(),
        text: { type: 'plain_text', text: spec.value ?? spec.actionId, emoji: true },
        value: spec.value ?? '',
        type: 'button',
        action_ts: workspace.nextTs(),
      },
    ],
  };
  // Slack leaves the message out for ephemeral ones: only the container says where it was.
  if (!isEphemeral) payload.message = toSlackMessage(spec.message);
  return payload;
}

export function viewSubmissionPayload(
  workspace: Workspace,
  spec: ViewSubmissionSpec,
): Record<string, unknown> {
  const { teamId, teamDomain, appId } = workspace.settings;
  const { userId: _userId, ...view } = spec.view;
  return {
    type: 'view_submission',
    team: { id: teamId, domain: teamDomain },
    user: userObject(workspace, spec.userId),
    api_app_id: appId,
    token: VERIFICATION_TOKEN,
    trigger_id: workspace.issueTrigger(spec.userId),
    view: { ...view, state: { values: spec.values ?? {} } },
    response_urls: [],
    is_enterprise_install: false,
    enterprise: null,
  };
}

export function messageShortcutPayload(
  workspace: Workspace,
  spec: MessageShortcutSpec,
): Record<string, unknown> {
  const { teamId, teamDomain } = workspace.settings;
  return {
    type: 'message_action',
    token: VERIFICATION_TOKEN,
    action_ts: workspace.nextTs(),
    team: { id: teamId, domain: teamDomain },
    user: userObject(workspace, spec.userId),
    channel: { id: spec.channel, name: workspace.channels.get(spec.channel)?.name ?? '' },
    is_enterprise_install: false,
    enterprise: null,
    callback_id: spec.callbackId,
    trigger_id: workspace.issueTrigger(spec.userId),
    response_url: workspace.issueResponseUrl({
      channel: spec.channel,
      user: spec.userId,
      messageTs: spec.message.ts,
    }),
    message_ts: spec.message.ts,
    message: toSlackMessage(spec.message),
  };
}

function userName(workspace: Workspace, userId: string): string {
  return workspace.users.get(userId)?.spec.name ?? userId.toLowerCase();
}

function userObject(workspace: Workspace, userId: string): Record<string, string> {
  const name = userName(workspace, userId);
  return { id: userId, username: name, name, team_id: workspace.settings.teamId };
}

/** The `rich_text` block Slack's clients attach to typed messages, mentions as `user` elements. */
function richTextBlock(text: string): Record<string, unknown> {
  const elements: Record<string, string>[] = [];
  let rest = text;
  for (let guard = 0; rest !== '' && guard < 1000; guard += 1) {
    const mention = /<@([A-Z0-9]+)(?:\|[^>]*)?>/.exec(rest);
    if (mention === null) {
      elements.push({ type: 'text', text: rest });
      break;
    }
    if (mention.index > 0) elements.push({ type: 'text', text: rest.slice(0, mention.index) });
    elements.push({ type: 'user', user_id: mention[1] ?? '' });
    rest = rest.slice(mention.index + mention[0].length);
  }
  return {
    type: 'rich_text',
    block_id: randomUUID().slice(0, 5),
    elements: [{ type: 'rich_text_section', elements }],
  };
}
