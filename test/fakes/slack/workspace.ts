/**
 * The fake workspace's state: users, channels, messages, files, views, and the one-time ids
 * (trigger ids, response URLs) Slack hands to apps. Web API handlers, payload builders and the
 * HTTP routes all read and write it here, so that what the bot posts and what a test "types" end
 * up in one consistent place (a user's message shows in `conversations.replies`, a reply updates
 * its parent's `reply_count`, and so on).
 *
 * Objects are shaped like Slack's own JSON (snake_case); fields only the fake has are camelCase
 * and documented as fake-only, and are stripped before anything is sent to the app.
 */
import { randomBytes } from 'node:crypto';

/** The scopes a full nano-banana app asks for (see shared/platforms.md), plus the read scopes
 * `users.info` and `conversations.info` need. */
export const DEFAULT_SCOPES: readonly string[] = [
  'commands',
  'chat:write',
  'files:read',
  'files:write',
  'app_mentions:read',
  'channels:history',
  'groups:history',
  'im:history',
  'reactions:write',
  'users:read',
  'channels:read',
  'groups:read',
  'im:read',
];

export interface FakeSlackUserSpec {
  id: string;
  name?: string;
  realName?: string;
  /** e.g. `de-DE`; `users.info` shows it only with `include_locale=true`, as Slack does. */
  locale?: string;
  /** IANA zone; default `Europe/Berlin`. */
  tz?: string;
  isAdmin?: boolean;
  isOwner?: boolean;
  isBot?: boolean;
}

export interface FakeSlackChannelSpec {
  id: string;
  name?: string;
  /** A private channel (`channel_type` `group`); default false. */
  isPrivate?: boolean;
  /** A direct message with `user` (`channel_type` `im`); ids usually start with `D`. */
  isIm?: boolean;
  /** The other party of a DM. */
  user?: string;
  /** Default true. Posting where the bot is not a member answers `not_in_channel` (public
   * channels, unless the app has `chat:write.public`) or `channel_not_found` (private ones). */
  botIsMember?: boolean;
  /** Human members, for `chat.postEphemeral`'s `user_not_in_channel`; default everyone. */
  members?: string[];
}

/** A message as Slack stores it (and returns it from `conversations.replies`). */
export interface FakeSlackMessage {
  type: 'message';
  ts: string;
  text: string;
  user?: string | undefined;
  bot_id?: string | undefined;
  app_id?: string | undefined;
  team?: string | undefined;
  subtype?: string | undefined;
  thread_ts?: string | undefined;
  parent_user_id?: string | undefined;
  reply_count?: number | undefined;
  reply_users?: string[] | undefined;
  reply_users_count?: number | undefined;
  latest_reply?: string | undefined;
  blocks?: unknown[] | undefined;
  attachments?: unknown[] | undefined;
  metadata?: unknown;
  files?: SlackFileObject[] | undefined;
  upload?: boolean | undefined;
  display_as_bot?: boolean | undefined;
  client_msg_id?: string | undefined;
  bot_profile?: Record<string, unknown> | undefined;
  edited?: { user: string; ts: string } | undefined;
  reactions?: { name: string; users: string[]; count: number }[] | undefined;
  /** Fake-only: the one user who sees this ephemeral message (`chat.postEphemeral`, or an
   * ephemeral `response_url` answer). Ephemeral messages never show in `conversations.*`. */
  ephemeralTo?: string | undefined;
}

/** Slack's file object (`files.info`, `files[]` in events and messages). */
export interface SlackFileObject {
  id: string;
  created: number;
  timestamp: number;
  name: string;
  title: string;
  mimetype: string;
  filetype: string;
  pretty_type: string;
  user: string;
  user_team: string;
  editable: boolean;
  size: number;
  mode: 'hosted';
  is_external: boolean;
  external_type: string;
  is_public: boolean;
  public_url_shared: boolean;
  display_as_bot: boolean;
  username: string;
  url_private: string;
  url_private_download: string;
  permalink: string;
  permalink_public: string;
  alt_txt?: string | undefined;
  original_w?: number | undefined;
  original_h?: number | undefined;
  channels: string[];
  groups: string[];
  ims: string[];
  shares?: Record<string, Record<string, unknown[]>> | undefined;
  comments_count: number;
  has_rich_preview: boolean;
  file_access: string;
}

/** A file in the fake: Slack's file object plus fake-only fields. */
export interface FakeSlackFile extends SlackFileObject {
  /** Fake-only: the bytes (uploaded by the app, or given to `addFile`). */
  bytes: Buffer;
  /** Fake-only: `awaiting_upload` after `files.getUploadURLExternal`, `uploaded` once bytes
   * arrived, `completed` after `files.completeUploadExternal` without a channel, `shared` after
   * it with one (and for the user files of `addFile`). */
  state: 'awaiting_upload' | 'uploaded' | 'completed' | 'shared';
  /** Fake-only: where `files.completeUploadExternal` shared it. */
  channel?: string | undefined;
  threadTs?: string | undefined;
}

/** A modal the app opened (`views.open`) or updated, as Slack answers it. */
export interface FakeSlackView {
  id: string;
  team_id: string;
  app_id: string;
  bot_id: string;
  type: string;
  callback_id: string;
  external_id: string;
  private_metadata: string;
  title?: unknown;
  submit?: unknown;
  close?: unknown;
  blocks: unknown[];
  state: { values: Record<string, Record<string, unknown>> };
  hash: string;
  root_view_id: string;
  previous_view_id: string | null;
  clear_on_close: boolean;
  notify_on_close: boolean;
  /** Fake-only: the user whose trigger opened it. */
  userId: string;
}

interface UserRecord {
  spec: FakeSlackUserSpec;
}

export interface ChannelRecord {
  id: string;
  name: string;
  isPrivate: boolean;
  isIm: boolean;
  user: string | undefined;
  botIsMember: boolean;
  members: Set<string> | undefined;
  created: number;
}

/** What a response URL is bound to, so that answers land in the right place. */
export interface ResponseUrlContext {
  channel: string;
  user: string;
  /** The message an interaction came from (`replace_original` / `delete_original`). */
  messageTs?: string | undefined;
}

interface ResponseUrlRecord {
  context: ResponseUrlContext;
  uses: number;
  /** On the fake's clock: a response URL is good for `RESPONSE_URL_LIFETIME_MS`. */
  issuedAt: number;
}

export interface WorkspaceSettings {
  teamId: string;
  teamDomain: string;
  botUserId: string;
  botId: string;
  appId: string;
  botName: string;
  users: FakeSlackUserSpec[];
  channels: FakeSlackChannelSpec[];
  now: () => number;
}

/** Slack's `trigger_id` opens a view within this long (3 s), then `expired_trigger_id`. */
export const TRIGGER_LIFETIME_MS = 3_000;

/** Slack's `response_url` works this many times (within 30 minutes). */
export const RESPONSE_URL_USES = 5;

/** Slack's `response_url` works for 30 minutes, then answers `expired_url`. */
export const RESPONSE_URL_LIFETIME_MS = 30 * 60_000;

export class Workspace {
  readonly settings: WorkspaceSettings;
  /** Origin of the fake's HTTP server, for file URLs; set once the server listens. */
  origin = '';
  readonly users = new Map<string, UserRecord>();
  readonly channels = new Map<string, ChannelRecord>();
  readonly messagesByChannel = new Map<string, FakeSlackMessage[]>();
  readonly files = new Map<string, FakeSlackFile>();
  readonly views = new Map<string, FakeSlackView>();
  /** `issuedAt` in ms since the epoch: a trigger is good for `TRIGGER_LIFETIME_MS`. */
  readonly triggers = new Map<string, { userId: string; used: boolean; issuedAt: number }>();
  readonly responseUrls = new Map<string, ResponseUrlRecord>();
  private lastTsMicros = 0;
  private idCounter = 0;

  constructor(settings: WorkspaceSettings) {
    this.settings = settings;
    for (const user of settings.users) this.users.set(user.id, { spec: user });
    for (const channel of settings.channels) this.addChannel(channel);
  }

  addChannel(spec: FakeSlackChannelSpec): ChannelRecord {
    const record: ChannelRecord = {
      id: spec.id,
      name: spec.name ?? spec.id.toLowerCase(),
      isPrivate: spec.isPrivate === true,
      isIm: spec.isIm === true,
      user: spec.user,
      botIsMember: spec.botIsMember ?? true,
      members: spec.members === undefined ? undefined : new Set(spec.members),
      created: Math.floor(this.settings.now() / 1000),
    };
    this.channels.set(record.id, record);
    return record;
  }

  /** Slack accepts a channel id, `#name` or `name` for `chat.postMessage`, and a user id for the
   * DM with that user (opened on first use). */
  findChannel(idOrName: string): ChannelRecord | undefined {
    const byId = this.channels.get(idOrName);
    if (byId !== undefined) return byId;
    const name = idOrName.startsWith('#') ? idOrName.slice(1) : idOrName;
    for (const channel of this.channels.values()) {
      if (!channel.isIm && channel.name === name) return channel;
    }
    if (this.users.has(idOrName)) return this.directMessageWith(idOrName);
    return undefined;
  }

  directMessageWith(userId: string): ChannelRecord {
    for (const channel of this.channels.values()) {
      if (channel.isIm && channel.user === userId) return channel;
    }
    return this.addChannel({ id: `D${userId.slice(1)}`, isIm: true, user: userId });
  }

  channelType(channel: ChannelRecord): 'channel' | 'group' | 'im' {
    if (channel.isIm) return 'im';
    return channel.isPrivate ? 'group' : 'channel';
  }

  /** Slack timestamps: `<seconds>.<6 digits>`, unique and rising within a channel. */
  nextTs(): string {
    const micros = Math.max(this.settings.now() * 1000, this.lastTsMicros + 1);
    this.lastTsMicros = micros;
    const seconds = Math.floor(micros / 1_000_000);
    return `${seconds}.${String(micros % 1_000_000).padStart(6, '0')}`;
  }

  /** Deterministic Slack-looking ids: a prefix letter and ten upper-case base-36 digits. */
  nextId(prefix: string): string {
    this.idCounter += 1;
    return `${prefix}${this.idCounter.toString(36).toUpperCase().padStart(10, '0')}`;
  }

  nowSeconds(): number {
    return Math.floor(this.settings.now() / 1000);
  }

  messages(channel: string): FakeSlackMessage[] {
    let list = this.messagesByChannel.get(channel);
    if (list === undefined) {
      list = [];
      this.messagesByChannel.set(channel, list);
    }
    return list;
  }

  findMessage(channel: string, ts: string): FakeSlackMessage | undefined {
    return this.messagesByChannel.get(channel)?.find((message) => message.ts === ts);
  }

  /** Stores a message; a thread reply also updates its parent's thread fields, as Slack does. */
  addMessage(channel: string, message: FakeSlackMessage): FakeSlackMessage {
    const stored = dropUndefined(message);
    const threadTs = stored.thread_ts;
    if (threadTs !== undefined && threadTs !== stored.ts && stored.ephemeralTo === undefined) {
      const parent = this.findMessage(channel, threadTs);
      if (parent !== undefined) {
        stored.parent_user_id = parent.user;
        const author = stored.user ?? '';
        const replyUsers = parent.reply_users ?? [];
        if (author !== '' && !replyUsers.includes(author)) replyUsers.push(author);
        parent.thread_ts = parent.ts;
        parent.reply_count = (parent.reply_count ?? 0) + 1;
        parent.reply_users = replyUsers;
        parent.reply_users_count = replyUsers.length;
        parent.latest_reply = stored.ts;
      }
    }
    this.messages(channel).push(stored);
    return stored;
  }

  removeMessage(channel: string, ts: string): boolean {
    const list = this.messagesByChannel.get(channel);
    const index = list?.findIndex((message) => message.ts === ts) ?? -1;
    if (list === undefined || index < 0) return false;
    list.splice(index, 1);
    return true;
  }

  /** Deletes a file, as `files.delete` does: it leaves every message, and a message that only
   * shared it goes too. */
  deleteFile(fileId: string): boolean {
    if (!this.files.delete(fileId)) return false;
    for (const [channel, list] of this.messagesByChannel) {
      for (const message of [...list]) {
        if (message.files?.some((file) => file.id === fileId) !== true) continue;
        message.files = message.files.filter((file) => file.id !== fileId);
        if (message.files.length === 0 && message.text === '')
          this.removeMessage(channel, message.ts);
      }
    }
    return true;
  }

  /** The parent and its replies, oldest first; ephemeral messages included (fake view). */
  thread(channel: string, threadTs: string): FakeSlackMessage[] {
    return (this.messagesByChannel.get(channel) ?? []).filter(
      (message) => message.ts === threadTs || message.thread_ts === threadTs,
    );
  }

  /** A message from the bot, shaped as `chat.postMessage` returns it. */
  botMessage(fields: {
    text: string;
    blocks?: unknown[] | undefined;
    attachments?: unknown[] | undefined;
    thread_ts?: string | undefined;
    metadata?: unknown;
  }): FakeSlackMessage {
    const { botUserId, botId, appId, teamId, botName } = this.settings;
    return {
      type: 'message',
      ts: this.nextTs(),
      text: fields.text,
      user: botUserId,
      bot_id: botId,
      app_id: appId,
      team: teamId,
      thread_ts: fields.thread_ts,
      blocks: fields.blocks,
      attachments: fields.attachments,
      metadata: fields.metadata,
      bot_profile: {
        id: botId,
        app_id: appId,
        name: botName,
        deleted: false,
        team_id: teamId,
        icons: {},
        updated: this.nowSeconds(),
      },
    };
  }

  /** Trigger ids look like Slack's (`<seconds>.<counter>.<hex>`); each opens one view. */
  issueTrigger(userId: string): string {
    this.idCounter += 1;
    const id = `${this.nowSeconds()}.${this.idCounter}.${randomBytes(8).toString('hex')}`;
    this.triggers.set(id, { userId, used: false, issuedAt: this.settings.now() });
    return id;
  }

  issueResponseUrl(context: ResponseUrlContext): string {
    const id = this.nextId('R');
    this.responseUrls.set(id, {
      context: dropUndefined(context),
      uses: 0,
      issuedAt: this.settings.now(),
    });
    return `${this.origin}/response-url/${this.settings.teamId}/${id}`;
  }

  responseUrl(id: string): ResponseUrlRecord | undefined {
    return this.responseUrls.get(id);
  }

  /** Private file URLs live on the fake's own file host, as Slack's live on files.slack.com. */
  fileUrls(fileId: string, name: string): { url_private: string; url_private_download: string } {
    const base = `${this.origin}/files-pri/${this.settings.teamId}-${fileId}`;
    const encoded = encodeURIComponent(name);
    return {
      url_private: `${base}/${encoded}`,
      url_private_download: `${base}/download/${encoded}`,
    };
  }

  newFile(spec: {
    id?: string;
    name: string;
    title?: string | undefined;
    mimetype?: string | undefined;
    userId: string;
    bytes: Buffer;
    altText?: string | undefined;
    width?: number | undefined;
    height?: number | undefined;
    state: FakeSlackFile['state'];
  }): FakeSlackFile {
    const id = spec.id ?? this.nextId('F');
    const mimetype = spec.mimetype ?? mimetypeFromName(spec.name);
    const filetype = filetypeFromName(spec.name, mimetype);
    const created = this.nowSeconds();
    const file: FakeSlackFile = {
      id,
      created,
      timestamp: created,
      name: spec.name,
      title: spec.title ?? spec.name,
      mimetype,
      filetype,
      pretty_type: filetype === 'binary' ? 'Binary' : filetype.toUpperCase(),
      user: spec.userId,
      user_team: this.settings.teamId,
      editable: false,
      size: spec.bytes.length,
      mode: 'hosted',
      is_external: false,
      external_type: '',
      is_public: false,
      public_url_shared: false,
      display_as_bot: false,
      username: '',
      ...this.fileUrls(id, spec.name),
      permalink: `${this.origin}/files/${spec.userId}/${id}/${encodeURIComponent(spec.name)}`,
      permalink_public: `${this.origin}/${this.settings.teamId}-${id}-public`,
      alt_txt: spec.altText,
      original_w: spec.width,
      original_h: spec.height,
      channels: [],
      groups: [],
      ims: [],
      comments_count: 0,
      has_rich_preview: false,
      file_access: 'visible',
      bytes: spec.bytes,
      state: spec.state,
    };
    const stored = dropUndefined(file);
    this.files.set(id, stored);
    return stored;
  }

  /** Records where a file was shared, in Slack's `channels` / `shares` fields. */
  shareFile(file: FakeSlackFile, channel: ChannelRecord, messageTs: string, threadTs?: string) {
    const kind = channel.isIm ? 'ims' : channel.isPrivate ? 'groups' : 'channels';
    if (!file[kind].includes(channel.id)) file[kind].push(channel.id);
    const visibility = channel.isPrivate || channel.isIm ? 'private' : 'public';
    const shares = file.shares ?? {};
    const byChannel = shares[visibility] ?? {};
    const share: Record<string, unknown> = {
      reply_users: [],
      reply_users_count: 0,
      reply_count: 0,
      ts: messageTs,
      channel_name: channel.name,
      team_id: this.settings.teamId,
    };
    if (threadTs !== undefined) share.thread_ts = threadTs;
    byChannel[channel.id] = [...(byChannel[channel.id] ?? []), share];
    shares[visibility] = byChannel;
    file.shares = shares;
    file.is_public = visibility === 'public';
    file.state = 'shared';
    file.channel = channel.id;
    if (threadTs === undefined) delete file.threadTs;
    else file.threadTs = threadTs;
  }

  userObject(userId: string, includeLocale: boolean): Record<string, unknown> | undefined {
    const { teamId, botUserId, botId, botName, appId } = this.settings;
    if (userId === botUserId) {
      return {
        id: botUserId,
        team_id: teamId,
        name: botName,
        deleted: false,
        real_name: botName,
        is_bot: true,
        is_app_user: false,
        is_admin: false,
        is_owner: false,
        updated: this.nowSeconds(),
        profile: { real_name: botName, display_name: '', bot_id: botId, api_app_id: appId },
      };
    }
    const spec = this.users.get(userId)?.spec;
    if (spec === undefined) return undefined;
    const name = spec.name ?? spec.id.toLowerCase();
    const realName = spec.realName ?? name;
    const tz = spec.tz ?? 'Europe/Berlin';
    return dropUndefined({
      id: spec.id,
      team_id: teamId,
      name,
      deleted: false,
      color: '9f69e7',
      real_name: realName,
      tz,
      tz_label: tz,
      tz_offset: 3600,
      profile: {
        real_name: realName,
        real_name_normalized: realName,
        display_name: name,
        display_name_normalized: name,
        team: teamId,
      },
      is_admin: spec.isAdmin === true || spec.isOwner === true,
      is_owner: spec.isOwner === true,
      is_primary_owner: false,
      is_restricted: false,
      is_ultra_restricted: false,
      is_bot: spec.isBot === true,
      is_app_user: false,
      updated: this.nowSeconds(),
      locale: includeLocale ? (spec.locale ?? 'en-US') : undefined,
    });
  }

  channelObject(channel: ChannelRecord, includeLocale: boolean): Record<string, unknown> {
    if (channel.isIm) {
      return {
        id: channel.id,
        created: channel.created,
        is_im: true,
        is_org_shared: false,
        user: channel.user,
        is_user_deleted: false,
        priority: 0,
      };
    }
    return dropUndefined({
      id: channel.id,
      name: channel.name,
      name_normalized: channel.name,
      is_channel: !channel.isPrivate,
      is_group: channel.isPrivate,
      is_im: false,
      is_mpim: false,
      is_private: channel.isPrivate,
      created: channel.created,
      is_archived: false,
      is_general: channel.name === 'general',
      is_shared: false,
      is_org_shared: false,
      is_ext_shared: false,
      is_member: channel.botIsMember,
      creator: '',
      topic: { value: '', creator: '', last_set: 0 },
      purpose: { value: '', creator: '', last_set: 0 },
      locale: includeLocale ? 'en-US' : undefined,
    });
  }
}

/** The JSON Slack would send: fake-only fields removed. */
export function toSlackMessage(message: FakeSlackMessage): Record<string, unknown> {
  const { ephemeralTo: _ephemeralTo, ...slack } = message;
  return slack;
}

export function toSlackFile(file: FakeSlackFile): SlackFileObject {
  const { bytes: _bytes, state: _state, channel: _channel, threadTs: _threadTs, ...slack } = file;
  return slack;
}

/** Removes keys whose value is undefined, so stored objects read like Slack's JSON. */
export function dropUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] === undefined) delete value[key];
  }
  return value;
}

function mimetypeFromName(name: string): string {
  const extension = name.split('.').pop()?.toLowerCase() ?? '';
  const known: Record<string, string> = {
    png: 'image/png',
    jpg: 'image/jpeg',
    jpeg: 'image/jpeg',
    gif: 'image/gif',
    webp: 'image/webp',
    txt: 'text/plain',
  };
  return known[extension] ?? 'application/octet-stream';
}

function filetypeFromName(name: string, mimetype: string): string {
  const byMimetype: Record<string, string> = {
    'image/png': 'png',
    'image/jpeg': 'jpg',
    'image/gif': 'gif',
    'image/webp': 'webp',
    'text/plain': 'text',
  };
  const known = byMimetype[mimetype];
  if (known !== undefined) return known;
  const extension = name.includes('.') ? name.split('.').pop()?.toLowerCase() : undefined;
  return extension ?? 'binary';
}
