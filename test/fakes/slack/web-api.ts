/**
 * Slack's Web API methods, answered from the fake workspace. Each answer is what Slack answers
 * (HTTP 200 with `{ok: true, ...}` or `{ok: false, error}`), including the errors a bot has to
 * handle: `not_authed`, `invalid_auth`, `not_allowed_token_type`, `missing_scope` (with `needed`
 * and `provided`), `channel_not_found`, `not_in_channel`, `message_not_found`, `no_text`,
 * `invalid_blocks` (also a section whose text passes 3,000 characters, or a field 2,000),
 * `msg_too_long`, `invalid_trigger_id`, `exchanged_trigger_id`, `expired_trigger_id` (a trigger
 * older than 3 s, on `views.open` and `views.push` alike),
 * `file_not_found`, `cant_delete_file`, `unknown_method`.
 */
import {
  type ChannelRecord,
  dropUndefined,
  type FakeSlackMessage,
  type FakeSlackView,
  TRIGGER_LIFETIME_MS,
  toSlackFile,
  toSlackMessage,
  type Workspace,
} from './workspace.js';

export type ApiArgs = Record<string, unknown>;
export type ApiAnswer = Record<string, unknown>;
export type TokenKind = 'bot' | 'app';

export interface WebApiContext {
  workspace: Workspace;
  scopes: ReadonlySet<string>;
  /** Opens a Socket Mode ticket and answers its `wss://` URL (here `ws://`). */
  openSocketUrl: () => string;
}

export interface WebApiAnswer {
  body: ApiAnswer;
  headers: Record<string, string>;
}

/** Thrown by a handler to answer `{ok: false, error, ...extra}`. */
class ApiError extends Error {
  readonly extra: ApiAnswer;
  constructor(code: string, extra: ApiAnswer = {}) {
    super(code);
    this.extra = extra;
  }
}

interface MethodSpec {
  /** The token kind the method takes; the other answers `not_allowed_token_type`. */
  token: TokenKind;
  /** Shown in `x-accepted-oauth-scopes`, as Slack does. */
  accepted: string[];
  handle: (args: ApiArgs, context: WebApiContext) => ApiAnswer;
}

/** The upper bound of a message's `text`; Slack refuses longer with `msg_too_long`. */
const MAX_TEXT_LENGTH = 40_000;
const MAX_BLOCKS = 50;
/** Slack's limits on a section block: its text, each of its fields, and how many fields. */
export const MAX_SECTION_TEXT_LENGTH = 3_000;
const MAX_SECTION_FIELD_LENGTH = 2_000;
const MAX_SECTION_FIELDS = 10;

/** Answers one Web API call made with `token` of kind `tokenKind` (undefined: no token sent,
 * null: a token the workspace does not know). */
export function answerWebApi(
  method: string,
  args: ApiArgs,
  tokenKind: TokenKind | undefined | null,
  context: WebApiContext,
): WebApiAnswer {
  const headers: Record<string, string> = {};
  const spec = METHODS[method];
  if (spec === undefined) {
    return { body: { ok: false, error: 'unknown_method', req_method: method }, headers };
  }
  if (tokenKind === undefined) return { body: { ok: false, error: 'not_authed' }, headers };
  if (tokenKind === null) return { body: { ok: false, error: 'invalid_auth' }, headers };
  if (tokenKind !== spec.token) {
    return { body: { ok: false, error: 'not_allowed_token_type' }, headers };
  }
  if (tokenKind === 'bot') headers['x-oauth-scopes'] = [...context.scopes].join(',');
  headers['x-accepted-oauth-scopes'] = spec.accepted.join(',');
  try {
    return { body: { ok: true, ...spec.handle(args, context) }, headers };
  } catch (error) {
    if (error instanceof ApiError) {
      return { body: { ok: false, error: error.message, ...error.extra }, headers };
    }
    throw error;
  }
}

function requireScope(context: WebApiContext, needed: string): void {
  if (!context.scopes.has(needed)) {
    throw new ApiError('missing_scope', { needed, provided: [...context.scopes].join(',') });
  }
}

function stringArg(args: ApiArgs, name: string): string | undefined {
  const value = args[name];
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

function booleanArg(args: ApiArgs, name: string): boolean {
  const value = args[name];
  return value === true || value === 'true' || value === '1' || value === 1;
}

function arrayArg(args: ApiArgs, name: string): unknown[] | undefined {
  const value = args[name];
  if (value === undefined || value === '') return undefined;
  if (Array.isArray(value)) return value;
  throw new ApiError(name === 'blocks' ? 'invalid_blocks' : 'invalid_arguments');
}

function historyScope(channel: ChannelRecord, kind: 'history' | 'read'): string {
  if (channel.isIm) return `im:${kind}`;
  return channel.isPrivate ? `groups:${kind}` : `channels:${kind}`;
}

/** A channel the bot can see: private channels it is not in do not exist for it. */
function visibleChannel(context: WebApiContext, idOrName: string | undefined): ChannelRecord {
  const channel = idOrName === undefined ? undefined : context.workspace.findChannel(idOrName);
  if (channel === undefined) throw new ApiError('channel_not_found');
  if (!channel.botIsMember && (channel.isPrivate || channel.isIm)) {
    throw new ApiError('channel_not_found');
  }
  return channel;
}

/** A channel the bot may post into: a member, or a public one with `chat:write.public`. */
function postableChannel(context: WebApiContext, idOrName: string | undefined): ChannelRecord {
  const channel = visibleChannel(context, idOrName);
  if (!channel.botIsMember && !context.scopes.has('chat:write.public')) {
    throw new ApiError('not_in_channel');
  }
  return channel;
}

function memberChannel(context: WebApiContext, idOrName: string | undefined): ChannelRecord {
  const channel = visibleChannel(context, idOrName);
  if (!channel.botIsMember) throw new ApiError('not_in_channel');
  return channel;
}

/** The checks Slack makes on a message's content. */
function messageContent(args: ApiArgs): {
  text: string | undefined;
  blocks: unknown[] | undefined;
  attachments: unknown[] | undefined;
} {
  const text = stringArg(args, 'text');
  const blocks = arrayArg(args, 'blocks');
  const attachments = arrayArg(args, 'attachments');
  if (text !== undefined && text.length > MAX_TEXT_LENGTH) throw new ApiError('msg_too_long');
  if (blocks !== undefined) {
    if (!blocksAreValid(blocks) || blocks.length > MAX_BLOCKS) throw new ApiError('invalid_blocks');
  }
  return { text, blocks, attachments };
}

/** Each block an object with a type; sections within Slack's length limits. */
function blocksAreValid(blocks: unknown[]): boolean {
  return blocks.every((block) => {
    if (typeof block !== 'object' || block === null) return false;
    const { type, text, fields } = block as { type?: unknown; text?: unknown; fields?: unknown };
    if (typeof type !== 'string') return false;
    if (type !== 'section') return true;
    if (text !== undefined && textLength(text) > MAX_SECTION_TEXT_LENGTH) return false;
    if (fields === undefined) return true;
    return (
      Array.isArray(fields) &&
      fields.length <= MAX_SECTION_FIELDS &&
      fields.every((field) => textLength(field) <= MAX_SECTION_FIELD_LENGTH)
    );
  });
}

/** The length of a text object's `text`, as Slack counts it (UTF-16 code units). */
function textLength(textObject: unknown): number {
  const text = (textObject as { text?: unknown } | null)?.text;
  return typeof text === 'string' ? text.length : 0;
}

function findMessage(context: WebApiContext, channel: ChannelRecord, ts: string | undefined) {
  const message = ts === undefined ? undefined : context.workspace.findMessage(channel.id, ts);
  if (message === undefined || message.ephemeralTo !== undefined) {
    throw new ApiError('message_not_found');
  }
  return message;
}

function isOwnMessage(context: WebApiContext, message: FakeSlackMessage): boolean {
  return message.bot_id === context.workspace.settings.botId;
}

function viewFromArgs(
  args: ApiArgs,
  context: WebApiContext,
  userId: string,
  previous: FakeSlackView | undefined,
): FakeSlackView {
  const view = args.view;
  if (typeof view !== 'object' || view === null || Array.isArray(view)) {
    throw new ApiError('invalid_arguments');
  }
  const fields = view as Record<string, unknown>;
  if (
    typeof fields.type !== 'string' ||
    !Array.isArray(fields.blocks) ||
    !blocksAreValid(fields.blocks)
  ) {
    throw new ApiError('invalid_arguments');
  }
  const { workspace } = context;
  const id = previous?.id ?? workspace.nextId('V');
  return dropUndefined({
    id,
    team_id: workspace.settings.teamId,
    app_id: workspace.settings.appId,
    bot_id: workspace.settings.botId,
    type: fields.type,
    callback_id: typeof fields.callback_id === 'string' ? fields.callback_id : '',
    external_id: typeof fields.external_id === 'string' ? fields.external_id : '',
    private_metadata: typeof fields.private_metadata === 'string' ? fields.private_metadata : '',
    title: fields.title,
    submit: fields.submit,
    close: fields.close,
    blocks: fields.blocks,
    state: { values: {} },
    hash: `${workspace.nowSeconds()}.${workspace.nextId('H').toLowerCase()}`,
    root_view_id: previous?.root_view_id ?? id,
    previous_view_id: previous?.previous_view_id ?? null,
    clear_on_close: fields.clear_on_close === true,
    notify_on_close: fields.notify_on_close === true,
    userId,
  });
}

function publicView(view: FakeSlackView): ApiAnswer {
  const { userId: _userId, ...slack } = view;
  return slack;
}

function exchangeTrigger(args: ApiArgs, context: WebApiContext): string {
  const triggerId = stringArg(args, 'trigger_id');
  const trigger = triggerId === undefined ? undefined : context.workspace.triggers.get(triggerId);
  if (trigger === undefined) throw new ApiError('invalid_trigger_id');
  if (trigger.used) throw new ApiError('exchanged_trigger_id');
  if (context.workspace.settings.now() - trigger.issuedAt > TRIGGER_LIFETIME_MS) {
    throw new ApiError('expired_trigger_id');
  }
  trigger.used = true;
  return trigger.userId;
}

function permalink(context: WebApiContext, channel: string, message: FakeSlackMessage): string {
  const base = `${context.workspace.origin}/archives/${channel}/p${message.ts.replace('.', '')}`;
  const threadTs = message.thread_ts;
  if (threadTs === undefined || threadTs === message.ts) return base;
  return `${base}?thread_ts=${threadTs}&cid=${channel}`;
}

/**
 * A history read as Slack answers it: messages within `oldest`..`latest` (exclusive unless
 * `inclusive`; a thread's parent is always given), and their `metadata` only when asked for with
 * `include_all_metadata`.
 */
function readableHistory(
  messages: readonly FakeSlackMessage[],
  args: ApiArgs,
  parentTs?: string,
): Record<string, unknown>[] {
  const oldest = stringArg(args, 'oldest');
  const latest = stringArg(args, 'latest');
  const inclusive = booleanArg(args, 'inclusive');
  const within = (ts: string) => {
    const at = Number(ts);
    if (oldest !== undefined && (inclusive ? at < Number(oldest) : at <= Number(oldest))) {
      return false;
    }
    if (latest !== undefined && (inclusive ? at > Number(latest) : at >= Number(latest))) {
      return false;
    }
    return true;
  };
  const withMetadata = booleanArg(args, 'include_all_metadata');
  return messages
    .filter((message) => message.ts === parentTs || within(message.ts))
    .map((message) => {
      const { metadata, ...slack } = toSlackMessage(message);
      return withMetadata && metadata !== undefined ? { ...slack, metadata } : slack;
    });
}

/** Pages a list the way Slack does: `limit` and an opaque `cursor`. */
function page<T>(items: T[], args: ApiArgs, defaultLimit: number) {
  const requested = Number(stringArg(args, 'limit') ?? defaultLimit);
  const limit = Number.isInteger(requested) && requested > 0 ? Math.min(requested, 1000) : 1000;
  const cursor = stringArg(args, 'cursor');
  const start = cursor === undefined ? 0 : Number(Buffer.from(cursor, 'base64').toString('utf8'));
  if (!Number.isInteger(start) || start < 0) throw new ApiError('invalid_cursor');
  const slice = items.slice(start, start + limit);
  const next = start + limit < items.length ? String(start + limit) : '';
  return {
    slice,
    has_more: next !== '',
    response_metadata: { next_cursor: next === '' ? '' : Buffer.from(next).toString('base64') },
  };
}

const METHODS: Record<string, MethodSpec> = {
  'auth.test': {
    token: 'bot',
    accepted: [],
    handle: (_args, { workspace }) => {
      const { teamId, teamDomain, botUserId, botId, botName } = workspace.settings;
      return {
        url: `${workspace.origin}/`,
        team: teamDomain,
        user: botName,
        team_id: teamId,
        user_id: botUserId,
        bot_id: botId,
        is_enterprise_install: false,
      };
    },
  },

  'apps.connections.open': {
    token: 'app',
    accepted: ['connections:write'],
    handle: (_args, context) => ({ url: context.openSocketUrl() }),
  },

  'chat.postMessage': {
    token: 'bot',
    accepted: ['chat:write'],
    handle: (args, context) => {
      requireScope(context, 'chat:write');
      const channel = postableChannel(context, stringArg(args, 'channel'));
      const { text, blocks, attachments } = messageContent(args);
      if (text === undefined && blocks === undefined && attachments === undefined) {
        throw new ApiError('no_text');
      }
      const message = context.workspace.addMessage(
        channel.id,
        context.workspace.botMessage({
          text: text ?? '',
          blocks,
          attachments,
          thread_ts: stringArg(args, 'thread_ts'),
          metadata: args.metadata,
        }),
      );
      return { channel: channel.id, ts: message.ts, message: toSlackMessage(message) };
    },
  },

  'chat.update': {
    token: 'bot',
    accepted: ['chat:write'],
    handle: (args, context) => {
      requireScope(context, 'chat:write');
      const channel = visibleChannel(context, stringArg(args, 'channel'));
      const message = findMessage(context, channel, stringArg(args, 'ts'));
      if (!isOwnMessage(context, message)) throw new ApiError('cant_update_message');
      const { text, blocks, attachments } = messageContent(args);
      if (text === undefined && blocks === undefined && attachments === undefined) {
        throw new ApiError('no_text');
      }
      // Slack keeps the fields an update leaves out (an empty array removes blocks).
      if (text !== undefined) message.text = text;
      if (blocks !== undefined) message.blocks = blocks;
      if (attachments !== undefined) message.attachments = attachments;
      message.edited = {
        user: context.workspace.settings.botUserId,
        ts: context.workspace.nextTs(),
      };
      return {
        channel: channel.id,
        ts: message.ts,
        text: message.text,
        message: toSlackMessage(message),
      };
    },
  },

  'chat.delete': {
    token: 'bot',
    accepted: ['chat:write'],
    handle: (args, context) => {
      requireScope(context, 'chat:write');
      const channel = visibleChannel(context, stringArg(args, 'channel'));
      const message = findMessage(context, channel, stringArg(args, 'ts'));
      if (!isOwnMessage(context, message)) throw new ApiError('cant_delete_message');
      context.workspace.removeMessage(channel.id, message.ts);
      return { channel: channel.id, ts: message.ts };
    },
  },

  'chat.postEphemeral': {
    token: 'bot',
    accepted: ['chat:write'],
    handle: (args, context) => {
      requireScope(context, 'chat:write');
      const channel = postableChannel(context, stringArg(args, 'channel'));
      const user = stringArg(args, 'user');
      const isMember =
        user !== undefined &&
        context.workspace.users.has(user) &&
        (channel.members === undefined || channel.members.has(user)) &&
        (!channel.isIm || channel.user === user);
      if (!isMember) throw new ApiError('user_not_in_channel');
      const { text, blocks, attachments } = messageContent(args);
      if (text === undefined && blocks === undefined && attachments === undefined) {
        throw new ApiError('no_text');
      }
      const message = context.workspace.botMessage({
        text: text ?? '',
        blocks,
        attachments,
        thread_ts: stringArg(args, 'thread_ts'),
      });
      message.ephemeralTo = user;
      context.workspace.addMessage(channel.id, message);
      return { message_ts: message.ts };
    },
  },

  'chat.getPermalink': {
    token: 'bot',
    accepted: [],
    handle: (args, context) => {
      const channel = visibleChannel(context, stringArg(args, 'channel'));
      const message = findMessage(context, channel, stringArg(args, 'message_ts'));
      return { channel: channel.id, permalink: permalink(context, channel.id, message) };
    },
  },

  'reactions.add': {
    token: 'bot',
    accepted: ['reactions:write'],
    handle: (args, context) => {
      requireScope(context, 'reactions:write');
      const channel = memberChannel(context, stringArg(args, 'channel'));
      const message = findMessage(context, channel, stringArg(args, 'timestamp'));
      const name = stringArg(args, 'name')?.replace(/^:|:$/g, '');
      if (name === undefined || name === '') throw new ApiError('invalid_name');
      const botUserId = context.workspace.settings.botUserId;
      const reactions = message.reactions ?? [];
      const reaction = reactions.find((existing) => existing.name === name);
      if (reaction?.users.includes(botUserId)) throw new ApiError('already_reacted');
      if (reaction === undefined) reactions.push({ name, users: [botUserId], count: 1 });
      else {
        reaction.users.push(botUserId);
        reaction.count += 1;
      }
      message.reactions = reactions;
      return {};
    },
  },

  'reactions.remove': {
    token: 'bot',
    accepted: ['reactions:write'],
    handle: (args, context) => {
      requireScope(context, 'reactions:write');
      const channel = memberChannel(context, stringArg(args, 'channel'));
      const message = findMessage(context, channel, stringArg(args, 'timestamp'));
      const name = stringArg(args, 'name')?.replace(/^:|:$/g, '');
      const botUserId = context.workspace.settings.botUserId;
      const reaction = message.reactions?.find((existing) => existing.name === name);
      if (reaction === undefined || !reaction.users.includes(botUserId)) {
        throw new ApiError('no_reaction');
      }
      reaction.users = reaction.users.filter((user) => user !== botUserId);
      reaction.count -= 1;
      message.reactions = message.reactions?.filter((existing) => existing.count > 0);
      if (message.reactions?.length === 0) delete message.reactions;
      return {};
    },
  },

  'users.info': {
    token: 'bot',
    accepted: ['users:read'],
    handle: (args, context) => {
      requireScope(context, 'users:read');
      const userId = stringArg(args, 'user');
      const user =
        userId === undefined
          ? undefined
          : context.workspace.userObject(userId, booleanArg(args, 'include_locale'));
      if (user === undefined) throw new ApiError('user_not_found');
      return { user };
    },
  },

  'conversations.info': {
    token: 'bot',
    accepted: ['channels:read', 'groups:read', 'im:read', 'mpim:read'],
    handle: (args, context) => {
      const channel = visibleChannel(context, stringArg(args, 'channel'));
      requireScope(context, historyScope(channel, 'read'));
      return {
        channel: context.workspace.channelObject(channel, booleanArg(args, 'include_locale')),
      };
    },
  },

  'conversations.replies': {
    token: 'bot',
    accepted: ['channels:history', 'groups:history', 'im:history', 'mpim:history'],
    handle: (args, context) => {
      const channel = memberChannel(context, stringArg(args, 'channel'));
      requireScope(context, historyScope(channel, 'history'));
      const ts = stringArg(args, 'ts');
      const parent = ts === undefined ? undefined : context.workspace.findMessage(channel.id, ts);
      if (ts === undefined || parent === undefined) throw new ApiError('thread_not_found');
      // A reply's ts gives the whole thread, as Slack does.
      const threadTs = parent.thread_ts ?? parent.ts;
      const messages = readableHistory(
        context.workspace
          .thread(channel.id, threadTs)
          .filter((message) => message.ephemeralTo === undefined),
        args,
        threadTs,
      );
      const { slice, has_more, response_metadata } = page(messages, args, 1000);
      return { messages: slice, has_more, response_metadata };
    },
  },

  'conversations.history': {
    token: 'bot',
    accepted: ['channels:history', 'groups:history', 'im:history', 'mpim:history'],
    handle: (args, context) => {
      const channel = memberChannel(context, stringArg(args, 'channel'));
      requireScope(context, historyScope(channel, 'history'));
      const messages = readableHistory(
        context.workspace
          .messages(channel.id)
          .filter(
            (message) =>
              message.ephemeralTo === undefined &&
              (message.thread_ts === undefined || message.thread_ts === message.ts),
          ),
        args,
      ).reverse();
      const { slice, has_more, response_metadata } = page(messages, args, 100);
      return { messages: slice, has_more, pin_count: 0, response_metadata };
    },
  },

  'conversations.join': {
    token: 'bot',
    accepted: ['channels:join'],
    handle: (args, context) => {
      requireScope(context, 'channels:join');
      const channel = visibleChannel(context, stringArg(args, 'channel'));
      if (channel.isIm || channel.isPrivate) {
        throw new ApiError('method_not_supported_for_channel_type');
      }
      channel.botIsMember = true;
      return { channel: context.workspace.channelObject(channel, false) };
    },
  },

  'views.open': {
    token: 'bot',
    accepted: [],
    handle: (args, context) => {
      const userId = exchangeTrigger(args, context);
      const view = viewFromArgs(args, context, userId, undefined);
      context.workspace.views.set(view.id, view);
      return { view: publicView(view) };
    },
  },

  // A pushed view needs a fresh trigger too (from an interaction inside the open modal).
  'views.push': {
    token: 'bot',
    accepted: [],
    handle: (args, context) => {
      const userId = exchangeTrigger(args, context);
      const view = viewFromArgs(args, context, userId, undefined);
      context.workspace.views.set(view.id, view);
      return { view: publicView(view) };
    },
  },

  'views.update': {
    token: 'bot',
    accepted: [],
    handle: (args, context) => {
      const viewId = stringArg(args, 'view_id');
      const externalId = stringArg(args, 'external_id');
      const existing = [...context.workspace.views.values()].find(
        (view) =>
          (viewId !== undefined && view.id === viewId) ||
          (externalId !== undefined && view.external_id === externalId),
      );
      if (existing === undefined) throw new ApiError('not_found');
      const hash = stringArg(args, 'hash');
      if (hash !== undefined && hash !== existing.hash) throw new ApiError('hash_conflict');
      const view = viewFromArgs(args, context, existing.userId, existing);
      context.workspace.views.set(view.id, view);
      return { view: publicView(view) };
    },
  },

  'files.getUploadURLExternal': {
    token: 'bot',
    accepted: ['files:write'],
    handle: (args, context) => {
      requireScope(context, 'files:write');
      const filename = stringArg(args, 'filename');
      const length = Number(stringArg(args, 'length'));
      if (filename === undefined || !Number.isInteger(length) || length < 1) {
        throw new ApiError('invalid_arguments');
      }
      const file = context.workspace.newFile({
        name: filename,
        userId: context.workspace.settings.botUserId,
        bytes: Buffer.alloc(0),
        // Slack documents `alt_txt`; @slack/web-api's uploadV2 sends `alt_text`. Take either.
        altText: stringArg(args, 'alt_txt') ?? stringArg(args, 'alt_text'),
        state: 'awaiting_upload',
      });
      return { upload_url: `${context.workspace.origin}/upload/${file.id}`, file_id: file.id };
    },
  },

  'files.completeUploadExternal': {
    token: 'bot',
    accepted: ['files:write'],
    handle: (args, context) => {
      requireScope(context, 'files:write');
      const { workspace } = context;
      const entries = arrayArg(args, 'files');
      if (entries === undefined || entries.length === 0) throw new ApiError('invalid_arguments');
      const files = entries.map((entry) => {
        const { id, title } = (entry ?? {}) as { id?: unknown; title?: unknown };
        const file = typeof id === 'string' ? workspace.files.get(id) : undefined;
        if (file === undefined || file.state === 'awaiting_upload') {
          throw new ApiError('file_not_found');
        }
        return { file, title: typeof title === 'string' && title !== '' ? title : undefined };
      });
      const channelId = stringArg(args, 'channel_id') ?? stringArg(args, 'channels');
      const channel = channelId === undefined ? undefined : postableChannel(context, channelId);
      const { blocks } = messageContent(args);
      for (const { file, title } of files) {
        if (title !== undefined) file.title = title;
        if (file.state === 'uploaded') file.state = 'completed';
      }
      if (channel !== undefined) {
        const threadTs = stringArg(args, 'thread_ts');
        const message = workspace.botMessage({
          text: stringArg(args, 'initial_comment') ?? '',
          blocks,
          thread_ts: threadTs,
        });
        for (const { file } of files) workspace.shareFile(file, channel, message.ts, threadTs);
        message.subtype = 'file_share';
        message.upload = true;
        message.display_as_bot = false;
        message.files = files.map(({ file }) => toSlackFile(file));
        workspace.addMessage(channel.id, message);
      }
      return { files: files.map(({ file }) => toSlackFile(file)) };
    },
  },

  'files.delete': {
    token: 'bot',
    accepted: ['files:write'],
    handle: (args, context) => {
      requireScope(context, 'files:write');
      const { workspace } = context;
      const fileId = stringArg(args, 'file');
      const file = fileId === undefined ? undefined : workspace.files.get(fileId);
      if (file === undefined || file.state === 'awaiting_upload') {
        throw new ApiError('file_not_found');
      }
      // A bot may delete the files it uploaded, not other people's.
      if (file.user !== workspace.settings.botUserId) throw new ApiError('cant_delete_file');
      workspace.deleteFile(file.id);
      return {};
    },
  },

  'files.info': {
    token: 'bot',
    accepted: ['files:read'],
    handle: (args, context) => {
      requireScope(context, 'files:read');
      const fileId = stringArg(args, 'file');
      const file = fileId === undefined ? undefined : context.workspace.files.get(fileId);
      if (file === undefined || file.state === 'awaiting_upload') {
        throw new ApiError('file_not_found');
      }
      return {
        file: toSlackFile(file),
        comments: [],
        response_metadata: { next_cursor: '' },
      };
    },
  },
};
