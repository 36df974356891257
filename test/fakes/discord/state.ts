/**
 * The fake's world: users, guilds, channels, threads, messages, attachments, interactions and
 * commands, plus the rules Discord applies when it shows them (the Message Content rule,
 * permissions, upload limits) and their snake_case v10 payloads. The REST routes, the gateway
 * and the test-facing API all act through this one object.
 */
import { randomBytes } from 'node:crypto';
import { type ApiReply, errors, formError } from './api-errors.js';
import { describeUpload } from './image-info.js';
import { MESSAGE_FLAGS } from './message-payload.js';
import {
  DEFAULT_EVERYONE_PERMISSIONS,
  type FakeAttachment,
  type FakeAttachmentSpec,
  type FakeChannelSpec,
  type FakeDiscordOptions,
  type FakeGuildSpec,
  type FakeInteractionCallback,
  type FakeMessage,
  type FakeThread,
  type FakeThreadSpec,
  type FakeUser,
  type FakeUserSpec,
  type JsonObject,
  MIB,
  PERMISSION_BITS,
  type PermissionName,
} from './types.js';

const DISCORD_EPOCH = 1_420_070_400_000n;
const ALL_PERMISSIONS = (1n << 53n) - 1n;
/** What a bot may do in a DM (Discord computes DM permissions without roles). */
const DM_PERMISSIONS =
  PERMISSION_BITS.ADD_REACTIONS |
  PERMISSION_BITS.VIEW_CHANNEL |
  PERMISSION_BITS.SEND_MESSAGES |
  PERMISSION_BITS.EMBED_LINKS |
  PERMISSION_BITS.ATTACH_FILES |
  PERMISSION_BITS.READ_MESSAGE_HISTORY |
  PERMISSION_BITS.USE_EXTERNAL_EMOJIS |
  PERMISSION_BITS.USE_APPLICATION_COMMANDS;
/** Signed CDN links live about a day on Discord. */
const ATTACHMENT_URL_LIFETIME_SECONDS = 24 * 60 * 60;
export const INTERACTION_TOKEN_LIFETIME_MS = 15 * 60 * 1000;
/** An interaction must be answered (or deferred) within 3 s. */
export const ACK_DEADLINE_MS = 3000;
export const MAX_FILES_PER_MESSAGE = 10;
export const DEFAULT_UPLOAD_LIMIT = 10 * MIB;

export const CHANNEL_TYPES = {
  GuildText: 0,
  DM: 1,
  GuildAnnouncement: 5,
  PublicThread: 11,
  PrivateThread: 12,
} as const;

/** What one gateway session may see; the REST view uses the portal switch instead. */
export interface ContentView {
  contentIntent: boolean;
}

export interface Dispatcher {
  /**
   * Sends an event to every identified session that has `requiredIntent` (none: all sessions).
   * `build` runs once per session, so the payload can follow what that session may see.
   */
  dispatch(
    event: string,
    requiredIntent: number | undefined,
    build: (view: ContentView) => JsonObject,
  ): void;
}

export interface UserRecord {
  user: FakeUser;
  locale: string;
}

export interface MemberRecord {
  userId: string;
  roleIds: string[];
  nick: string | null;
  joinedAt: string;
}

export interface RoleRecord {
  id: string;
  name: string;
  permissions: bigint;
  position: number;
}

export interface GuildRecord {
  id: string;
  name: string;
  preferredLocale: string;
  ownerId: string;
  roles: RoleRecord[];
  members: Map<string, MemberRecord>;
  attachmentSizeLimit: number;
  joinedAt: string;
  channelIds: string[];
}

export interface Overwrite {
  id: string;
  /** 0 role, 1 member. */
  type: 0 | 1;
  allow: bigint;
  deny: bigint;
}

export interface ThreadState {
  ownerId: string;
  archived: boolean;
  locked: boolean;
  invitable: boolean;
  autoArchiveDuration: number;
  archiveTimestamp: string;
  createTimestamp: string;
  messageCount: number;
  totalMessageSent: number;
  memberIds: Set<string>;
}

export interface ChannelRecord {
  id: string;
  type: number;
  guildId: string | undefined;
  name: string;
  topic: string | null;
  nsfw: boolean;
  position: number;
  parentId: string | null;
  overwrites: Overwrite[];
  lastMessageId: string | null;
  /** DM channels: the user on the other side. */
  recipientId?: string;
  thread?: ThreadState;
}

interface UrlSignature {
  ex: number;
  is: number;
  hm: string;
}

export interface AttachmentRecord {
  attachment: FakeAttachment;
  channelId: string;
  /** `attachments` or `ephemeral-attachments`, the CDN folder Discord uses. */
  folder: string;
  /** Signatures still honoured by the CDN; `expireAttachmentUrls()` empties them. */
  signatures: Map<string, number>;
  current: UrlSignature | undefined;
}

export interface InteractionRecord {
  id: string;
  token: string;
  type: number;
  channelId: string;
  guildId: string | undefined;
  userId: string;
  createdAt: number;
  payload: JsonObject;
  /** 1 chat input, 3 message context menu; for commands. */
  commandType: number | undefined;
  /** The component's message, for component interactions and modals opened from one. */
  sourceMessageId: string | undefined;
  callbacks: FakeInteractionCallback[];
  originalMessageId: string | undefined;
  followupIds: string[];
  modal: JsonObject | undefined;
  expired: boolean;
  /** The interaction's webhook was removed: webhook calls answer 404 10015. */
  webhookRemoved?: boolean;
}

/** Everything a new message needs besides what the store assigns (id, timestamp). */
export type MessageDraft = Omit<
  FakeMessage,
  'id' | 'timestamp' | 'edited_timestamp' | 'deleted' | 'reactions' | 'pinned' | 'tts'
> &
  Partial<Pick<FakeMessage, 'tts'>>;

/** How a message is shown: `rule` applies the Message Content rule, `full` shows everything. */
export interface MessageViewOptions extends ContentView {
  /** `full` for interaction-resolved messages and the bot's own webhook reads. */
  visibility?: 'rule' | 'full';
  /** Gateway payloads carry guild_id, member and channel_type. */
  gateway?: boolean;
}

export class FakeDiscordState {
  readonly botToken: string;
  readonly applicationId: string;
  readonly botUserId: string;
  readonly messageContentAllowed: boolean;
  readonly ackDeadlineMs: number | undefined;
  /** What GET /gateway/bot answers: the recommended shard count and the identify buckets. */
  readonly gatewayShards: number;
  readonly maxConcurrency: number;
  maxRequestBytes: number;
  /** When set, overrides every guild's per-attachment limit (and the DM limit). */
  uploadLimitOverride: number | undefined;
  origin = 'http://127.0.0.1';
  dispatcher: Dispatcher = { dispatch: () => {} };

  readonly users = new Map<string, UserRecord>();
  readonly guilds = new Map<string, GuildRecord>();
  readonly channels = new Map<string, ChannelRecord>();
  readonly messagesById = new Map<string, FakeMessage>();
  readonly channelMessages = new Map<string, FakeMessage[]>();
  readonly attachments = new Map<string, AttachmentRecord>();
  readonly interactions = new Map<string, InteractionRecord>();
  /** The same interactions by token, for webhook routes (benchmarks send thousands). */
  readonly interactionsByToken = new Map<string, InteractionRecord>();
  /** Commands by scope: `global` or a guild id. */
  readonly commands = new Map<string, JsonObject[]>();
  /** Users who do not take DMs from the bot (privacy settings, or they blocked it). */
  readonly dmsRefusedBy = new Set<string>();

  private readonly clock: () => number;
  /** How far tests have moved the fake's time past its clock (`advanceClock`). */
  private advancedMs = 0;
  private lastId = 0n;
  private readonly listeners = new Set<() => void>();

  constructor(options: FakeDiscordOptions) {
    this.clock = options.clock ?? Date.now;
    this.botToken = options.botToken ?? 'fake-bot-token';
    this.applicationId = options.applicationId ?? this.nextId();
    this.botUserId = options.botUserId ?? this.applicationId;
    this.messageContentAllowed = options.messageContentIntent ?? false;
    // Discord's 3 s: a test turns it off only to look at something else than the deadline.
    this.ackDeadlineMs =
      options.ackDeadlineMs === false ? undefined : (options.ackDeadlineMs ?? ACK_DEADLINE_MS);
    this.gatewayShards = options.gatewayShards ?? 1;
    this.maxConcurrency = options.maxConcurrency ?? 1;
    this.maxRequestBytes = options.maxRequestBytes ?? 25 * MIB;
    this.uploadLimitOverride = undefined;
    this.ensureUser(this.botUserId, {
      username: options.botUsername ?? 'Nano Banana',
      bot: true,
    });
    const guildSpecs = options.guilds ?? [{}];
    for (const spec of guildSpecs) this.addGuild(spec);
  }

  now(): number {
    return this.clock() + this.advancedMs;
  }

  /** Moves the fake's time forward: interaction tokens, the ack deadline and CDN links age. */
  advanceClock(ms: number): void {
    if (!(ms >= 0)) throw new Error(`Fake Discord: cannot move the clock by ${ms} ms`);
    this.advancedMs += ms;
    this.notify();
  }

  /** A snowflake: creation time in the high bits, strictly increasing. */
  nextId(): string {
    const fromTime = (BigInt(this.now()) - DISCORD_EPOCH) << 22n;
    this.lastId = fromTime > this.lastId ? fromTime : this.lastId + 1n;
    return this.lastId.toString();
  }

  timestamp(ms = this.now()): string {
    // Discord writes microseconds and an explicit offset.
    return `${new Date(ms).toISOString().slice(0, 23)}000+00:00`;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells waiters that something changed; called after every mutation. */
  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  // ---------------------------------------------------------------- users, guilds, channels

  ensureUser(id: string, spec: FakeUserSpec = {}): UserRecord {
    const existing = this.users.get(id);
    if (existing) return existing;
    const user: FakeUser = {
      id,
      username: spec.username ?? `user${id.slice(-4)}`,
      discriminator: spec.bot ? '0000' : '0',
      global_name: spec.bot ? null : (spec.globalName ?? spec.username ?? `User ${id.slice(-4)}`),
      avatar: null,
      public_flags: 0,
    };
    if (spec.bot) user.bot = true;
    const record = { user, locale: spec.locale ?? 'en-US' };
    this.users.set(id, record);
    return record;
  }

  addGuild(spec: FakeGuildSpec): GuildRecord {
    const id = spec.id ?? this.nextId();
    const joinedAt = this.timestamp();
    const everyone: RoleRecord = {
      id,
      name: '@everyone',
      permissions: permissionBits(spec.everyonePermissions ?? DEFAULT_EVERYONE_PERMISSIONS),
      position: 0,
    };
    const roles = [
      everyone,
      ...(spec.roles ?? []).map((role, index) => ({
        id: role.id ?? this.nextId(),
        name: role.name,
        permissions: permissionBits(role.permissions ?? []),
        position: index + 1,
      })),
    ];
    const memberSpecs = spec.members ?? [{ username: 'tester' }];
    const guild: GuildRecord = {
      id,
      name: spec.name ?? 'Fake Guild',
      preferredLocale: spec.preferredLocale ?? 'en-US',
      ownerId: '',
      roles,
      members: new Map(),
      attachmentSizeLimit: spec.attachmentSizeLimit ?? DEFAULT_UPLOAD_LIMIT,
      joinedAt,
      channelIds: [],
    };
    this.guilds.set(id, guild);
    guild.members.set(this.botUserId, {
      userId: this.botUserId,
      roleIds: [],
      nick: null,
      joinedAt,
    });
    for (const memberSpec of memberSpecs) {
      const userId = memberSpec.id ?? this.nextId();
      this.ensureUser(userId, memberSpec);
      guild.members.set(userId, {
        userId,
        roleIds: memberSpec.roleIds ?? [],
        nick: memberSpec.nick ?? null,
        joinedAt,
      });
    }
    guild.ownerId = spec.ownerId ?? memberSpecs[0]?.id ?? this.firstHumanMember(guild) ?? '';
    const channelSpecs = spec.channels ?? [{ name: 'general' }];
    channelSpecs.forEach((channelSpec, index) => {
      this.addTextChannel(guild, channelSpec, index);
    });
    for (const threadSpec of spec.threads ?? []) this.addThreadFromSpec(guild, threadSpec);
    return guild;
  }

  firstHumanMember(guild: GuildRecord): string | undefined {
    for (const member of guild.members.values()) {
      if (member.userId !== this.botUserId) return member.userId;
    }
    return undefined;
  }

  private addTextChannel(guild: GuildRecord, spec: FakeChannelSpec, position: number): void {
    const channel: ChannelRecord = {
      id: spec.id ?? this.nextId(),
      type:
        spec.kind === 'announcement' ? CHANNEL_TYPES.GuildAnnouncement : CHANNEL_TYPES.GuildText,
      guildId: guild.id,
      name: spec.name ?? `channel-${position + 1}`,
      topic: spec.topic ?? null,
      nsfw: spec.nsfw ?? false,
      position,
      parentId: null,
      overwrites: [],
      lastMessageId: null,
    };
    this.channels.set(channel.id, channel);
    this.channelMessages.set(channel.id, []);
    guild.channelIds.push(channel.id);
  }

  private addThreadFromSpec(guild: GuildRecord, spec: FakeThreadSpec): void {
    const parent = guild.channelIds
      .map((channelId) => this.channels.get(channelId))
      .find((channel) => channel && (channel.id === spec.parent || channel.name === spec.parent));
    if (!parent) throw new Error(`Fake Discord: thread parent ${spec.parent} is not in the guild`);
    const thread = this.createThreadRecord(parent, {
      id: spec.id ?? this.nextId(),
      name: spec.name ?? 'thread',
      type: spec.kind === 'private' ? CHANNEL_TYPES.PrivateThread : CHANNEL_TYPES.PublicThread,
      ownerId: spec.ownerId ?? this.botUserId,
      autoArchiveDuration: 1440,
      invitable: true,
    });
    if (thread.thread) {
      thread.thread.archived = spec.archived ?? false;
      thread.thread.locked = spec.locked ?? false;
    }
  }

  createThreadRecord(
    parent: ChannelRecord,
    details: {
      id: string;
      name: string;
      type: number;
      ownerId: string;
      autoArchiveDuration: number;
      invitable: boolean;
    },
  ): ChannelRecord {
    const now = this.timestamp();
    const channel: ChannelRecord = {
      id: details.id,
      type: details.type,
      guildId: parent.guildId,
      name: details.name,
      topic: null,
      nsfw: parent.nsfw,
      position: 0,
      parentId: parent.id,
      overwrites: [],
      lastMessageId: null,
      thread: {
        ownerId: details.ownerId,
        archived: false,
        locked: false,
        invitable: details.invitable,
        autoArchiveDuration: details.autoArchiveDuration,
        archiveTimestamp: now,
        createTimestamp: now,
        messageCount: 0,
        totalMessageSent: 0,
        memberIds: new Set([details.ownerId]),
      },
    };
    this.channels.set(channel.id, channel);
    this.channelMessages.set(channel.id, []);
    return channel;
  }

  /** The DM channel with a user, made on first use as Discord does. */
  dmChannel(userId: string): ChannelRecord {
    for (const channel of this.channels.values()) {
      if (channel.type === CHANNEL_TYPES.DM && channel.recipientId === userId) return channel;
    }
    this.ensureUser(userId);
    const channel: ChannelRecord = {
      id: this.nextId(),
      type: CHANNEL_TYPES.DM,
      guildId: undefined,
      name: '',
      topic: null,
      nsfw: false,
      position: 0,
      parentId: null,
      overwrites: [],
      lastMessageId: null,
      recipientId: userId,
    };
    this.channels.set(channel.id, channel);
    this.channelMessages.set(channel.id, []);
    return channel;
  }

  isThread(channel: ChannelRecord): boolean {
    return channel.thread !== undefined;
  }

  // ---------------------------------------------------------------- permissions

  basePermissions(guild: GuildRecord, userId: string): bigint {
    if (guild.ownerId === userId) return ALL_PERMISSIONS;
    const member = guild.members.get(userId);
    let permissions = guild.roles[0]?.permissions ?? 0n;
    for (const roleId of member?.roleIds ?? []) {
      permissions |= guild.roles.find((role) => role.id === roleId)?.permissions ?? 0n;
    }
    return (permissions & PERMISSION_BITS.ADMINISTRATOR) !== 0n ? ALL_PERMISSIONS : permissions;
  }

  /** Discord's overwrite algorithm: @everyone, then roles together, then the member. */
  permissionsIn(channelId: string, userId: string): bigint {
    const channel = this.channels.get(channelId);
    if (!channel) return 0n;
    if (channel.type === CHANNEL_TYPES.DM) return DM_PERMISSIONS;
    const guild = channel.guildId ? this.guilds.get(channel.guildId) : undefined;
    if (!guild) return 0n;
    let permissions = this.basePermissions(guild, userId);
    if (permissions === ALL_PERMISSIONS) return permissions;
    // Threads take their permissions from the parent channel.
    const source = channel.parentId ? (this.channels.get(channel.parentId) ?? channel) : channel;
    const roleIds = new Set(guild.members.get(userId)?.roleIds ?? []);
    const everyone = source.overwrites.find((overwrite) => overwrite.id === guild.id);
    if (everyone) permissions = (permissions & ~everyone.deny) | everyone.allow;
    let roleAllow = 0n;
    let roleDeny = 0n;
    for (const overwrite of source.overwrites) {
      if (overwrite.type === 0 && roleIds.has(overwrite.id)) {
        roleAllow |= overwrite.allow;
        roleDeny |= overwrite.deny;
      }
    }
    permissions = (permissions & ~roleDeny) | roleAllow;
    const member = source.overwrites.find(
      (overwrite) => overwrite.type === 1 && overwrite.id === userId,
    );
    if (member) permissions = (permissions & ~member.deny) | member.allow;
    return permissions;
  }

  can(channelId: string, userId: string, permission: PermissionName): boolean {
    return (this.permissionsIn(channelId, userId) & PERMISSION_BITS[permission]) !== 0n;
  }

  /** Adds or lifts a deny on the bot's member overwrite, as an admin would in channel settings. */
  setBotDeny(channelId: string, permission: PermissionName, denied: boolean): ChannelRecord {
    return this.setBotOverwrite(channelId, permission, denied ? 'deny' : 'lift');
  }

  /** Allows the bot a permission in a channel (for a thread: in its parent) by its overwrite. */
  setBotAllow(channelId: string, permission: PermissionName): ChannelRecord {
    return this.setBotOverwrite(channelId, permission, 'allow');
  }

  private setBotOverwrite(
    channelId: string,
    permission: PermissionName,
    change: 'deny' | 'lift' | 'allow',
  ): ChannelRecord {
    const channel = this.channels.get(channelId);
    if (!channel) throw new Error(`Fake Discord: unknown channel ${channelId}`);
    // Thread permissions live on the parent, as on Discord.
    const target = channel.parentId ? (this.channels.get(channel.parentId) ?? channel) : channel;
    let overwrite = target.overwrites.find(
      (entry) => entry.type === 1 && entry.id === this.botUserId,
    );
    if (!overwrite) {
      overwrite = { id: this.botUserId, type: 1, allow: 0n, deny: 0n };
      target.overwrites.push(overwrite);
    }
    const bit = PERMISSION_BITS[permission];
    overwrite.deny = change === 'deny' ? overwrite.deny | bit : overwrite.deny & ~bit;
    overwrite.allow = change === 'allow' ? overwrite.allow | bit : overwrite.allow & ~bit;
    return target;
  }

  uploadLimitFor(guildId: string | undefined): number {
    if (this.uploadLimitOverride !== undefined) return this.uploadLimitOverride;
    const guild = guildId ? this.guilds.get(guildId) : undefined;
    return guild?.attachmentSizeLimit ?? DEFAULT_UPLOAD_LIMIT;
  }

  /** Discord's checks on an upload: request size, per-file limit, number of files. */
  checkUploads(
    files: readonly { bytes: Buffer }[],
    totalBytes: number,
    guildId: string | undefined,
  ): ApiReply | undefined {
    if (totalBytes > this.maxRequestBytes) return errors.tooLarge();
    const limit = this.uploadLimitFor(guildId);
    if (files.some((file) => file.bytes.length > limit)) return errors.tooLarge();
    if (files.length > MAX_FILES_PER_MESSAGE) {
      return formError(['attachments'], 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
    }
    return undefined;
  }

  // ---------------------------------------------------------------- attachments and CDN

  storeAttachment(spec: FakeAttachmentSpec, channelId: string, ephemeral: boolean): FakeAttachment {
    const info = describeUpload(spec.bytes, spec.filename, spec.contentType);
    const attachment: FakeAttachment = {
      id: this.nextId(),
      filename: sanitizeFilename(spec.filename),
      size: spec.bytes.length,
      bytes: spec.bytes,
    };
    const contentType = spec.contentType ?? info.contentType;
    if (contentType) attachment.content_type = contentType;
    if (info.width !== undefined) attachment.width = info.width;
    if (info.height !== undefined) attachment.height = info.height;
    if (spec.description !== undefined) attachment.description = spec.description;
    if (ephemeral) attachment.ephemeral = true;
    this.attachments.set(attachment.id, {
      attachment,
      channelId,
      folder: ephemeral ? 'ephemeral-attachments' : 'attachments',
      signatures: new Map(),
      current: undefined,
    });
    return attachment;
  }

  /** A fresh signature for an attachment, honoured by the CDN until expired. */
  private sign(record: AttachmentRecord): UrlSignature {
    const issued = Math.floor(this.now() / 1000);
    const signature = {
      is: issued,
      ex: issued + ATTACHMENT_URL_LIFETIME_SECONDS,
      hm: randomBytes(32).toString('hex'),
    };
    record.signatures.set(signature.hm, signature.ex);
    record.current = signature;
    return signature;
  }

  private attachmentUrl(record: AttachmentRecord, signature: UrlSignature, media: boolean): string {
    const { attachment } = record;
    const query = `ex=${signature.ex.toString(16)}&is=${signature.is.toString(16)}&hm=${signature.hm}&`;
    const path = `${record.folder}/${record.channelId}/${attachment.id}/${encodeURIComponent(attachment.filename)}`;
    return `${this.origin}/${media ? 'media/' : ''}${path}?${query}`;
  }

  apiAttachment(attachment: FakeAttachment): JsonObject {
    const record = this.attachments.get(attachment.id);
    if (!record) throw new Error(`Fake Discord: attachment ${attachment.id} is not stored`);
    const signature = record.current ?? this.sign(record);
    const payload: JsonObject = {
      id: attachment.id,
      filename: attachment.filename,
      size: attachment.size,
      url: this.attachmentUrl(record, signature, false),
      proxy_url: this.attachmentUrl(record, signature, true),
    };
    if (attachment.content_type) payload.content_type = attachment.content_type;
    if (attachment.width !== undefined) payload.width = attachment.width;
    if (attachment.height !== undefined) payload.height = attachment.height;
    if (attachment.description !== undefined) payload.description = attachment.description;
    if (attachment.ephemeral) payload.ephemeral = true;
    return payload;
  }

  /** The stored bytes for a CDN path, or undefined when the link is unknown or expired. */
  cdnLookup(attachmentId: string, signature: string | null): FakeAttachment | undefined {
    const record = this.attachments.get(attachmentId);
    if (!record || !signature) return undefined;
    const expiresAt = record.signatures.get(signature);
    if (expiresAt === undefined || expiresAt * 1000 < this.now()) return undefined;
    return record.attachment;
  }

  /** Makes every link handed out so far answer 404, as day-old Discord links do. */
  expireAttachmentUrls(): void {
    for (const record of this.attachments.values()) {
      record.signatures.clear();
      record.current = undefined;
    }
    this.notify();
  }

  /** `POST /attachments/refresh-urls`: a newly signed link for a known one, else undefined. */
  refreshUrl(url: string): string | undefined {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return undefined;
    }
    const segments = parsed.pathname.split('/').filter(Boolean);
    const folderIndex = segments.findIndex(
      (segment) => segment === 'attachments' || segment === 'ephemeral-attachments',
    );
    const attachmentId = folderIndex >= 0 ? segments[folderIndex + 2] : undefined;
    const record = attachmentId ? this.attachments.get(attachmentId) : undefined;
    if (!record) return undefined;
    return this.attachmentUrl(record, this.sign(record), segments[0] === 'media');
  }

  // ---------------------------------------------------------------- messages

  messageList(channelId: string): FakeMessage[] {
    return this.channelMessages.get(channelId) ?? [];
  }

  createMessage(draft: MessageDraft): FakeMessage {
    const message: FakeMessage = {
      ...draft,
      id: this.nextId(),
      timestamp: this.timestamp(),
      edited_timestamp: null,
      tts: draft.tts ?? false,
      pinned: false,
      reactions: [],
      deleted: false,
    };
    this.messagesById.set(message.id, message);
    const list = this.channelMessages.get(message.channel_id);
    if (list) list.push(message);
    else this.channelMessages.set(message.channel_id, [message]);
    const channel = this.channels.get(message.channel_id);
    if (channel && (message.flags & MESSAGE_FLAGS.EPHEMERAL) === 0) {
      channel.lastMessageId = message.id;
      if (channel.thread) {
        channel.thread.messageCount += 1;
        channel.thread.totalMessageSent += 1;
      }
    }
    this.dispatchMessage('MESSAGE_CREATE', message);
    this.notify();
    return message;
  }

  /** Marks an edit and tells the gateway (ephemeral messages are not dispatched, as on Discord). */
  messageEdited(message: FakeMessage): void {
    message.edited_timestamp = this.timestamp();
    this.dispatchMessage('MESSAGE_UPDATE', message);
    this.notify();
  }

  deleteMessage(message: FakeMessage): void {
    message.deleted = true;
    const list = this.channelMessages.get(message.channel_id);
    if (list) {
      const index = list.indexOf(message);
      if (index >= 0) list.splice(index, 1);
    }
    if ((message.flags & MESSAGE_FLAGS.EPHEMERAL) === 0) {
      const intent = this.messageIntent(message.channel_id);
      this.dispatcher.dispatch('MESSAGE_DELETE', intent, () => {
        const payload: JsonObject = { id: message.id, channel_id: message.channel_id };
        if (message.guild_id) payload.guild_id = message.guild_id;
        return payload;
      });
    }
    this.notify();
  }

  /** GuildMessages for guild channels, DirectMessages for DMs. */
  messageIntent(channelId: string): number {
    const channel = this.channels.get(channelId);
    return channel?.type === CHANNEL_TYPES.DM ? 1 << 12 : 1 << 9;
  }

  dispatchMessage(event: 'MESSAGE_CREATE' | 'MESSAGE_UPDATE', message: FakeMessage): void {
    if ((message.flags & MESSAGE_FLAGS.EPHEMERAL) !== 0) return;
    this.dispatcher.dispatch(event, this.messageIntent(message.channel_id), (view) =>
      this.apiMessage(message, { ...view, gateway: true }),
    );
  }

  /**
   * The Message Content rule: without the intent, only the bot's own messages, DMs and messages
   * that mention the bot show their content, attachments, embeds and components.
   */
  isContentVisible(message: FakeMessage, contentIntent: boolean): boolean {
    return (
      contentIntent ||
      this.isOwnOrDirect(message) ||
      message.mentions.some((user) => user.id === this.botUserId)
    );
  }

  /** A replied-to message shows its content only when it is the bot's own (or in a DM). */
  isReferencedVisible(message: FakeMessage, contentIntent: boolean): boolean {
    return contentIntent || this.isOwnOrDirect(message);
  }

  private isOwnOrDirect(message: FakeMessage): boolean {
    if (message.author.id === this.botUserId) return true;
    return this.channels.get(message.channel_id)?.type === CHANNEL_TYPES.DM;
  }

  apiMessage(message: FakeMessage, options: MessageViewOptions, nested = false): JsonObject {
    const visible =
      options.visibility === 'full' ||
      (nested
        ? this.isReferencedVisible(message, options.contentIntent)
        : this.isContentVisible(message, options.contentIntent));
    const payload: JsonObject = {
      type: message.type,
      content: visible ? message.content : '',
      mentions: message.mentions.map((user) => ({ ...user })),
      mention_roles: [...message.mention_roles],
      attachments: visible ? message.attachments.map((entry) => this.apiAttachment(entry)) : [],
      embeds: visible ? structuredClone(message.embeds) : [],
      timestamp: message.timestamp,
      edited_timestamp: message.edited_timestamp,
      flags: message.flags,
      components: visible ? structuredClone(message.components) : [],
      id: message.id,
      channel_id: message.channel_id,
      author: { ...message.author },
      pinned: message.pinned,
      mention_everyone: message.mention_everyone,
      tts: message.tts,
    };
    if (message.nonce !== undefined) payload.nonce = message.nonce;
    if (message.webhook_id) payload.webhook_id = message.webhook_id;
    if (message.application_id) payload.application_id = message.application_id;
    if (message.interaction_metadata) {
      payload.interaction_metadata = structuredClone(message.interaction_metadata);
      // The deprecated `interaction` field is still sent alongside.
      const metadata = message.interaction_metadata;
      payload.interaction = {
        id: metadata.id,
        type: metadata.type,
        name: metadata.name ?? '',
        user: metadata.user,
      };
    }
    if (message.poll && visible) payload.poll = structuredClone(message.poll);
    if (message.reactions.length > 0) {
      payload.reactions = message.reactions.map((reaction) => ({
        emoji: { ...reaction.emoji },
        count: reaction.count,
        count_details: { burst: 0, normal: reaction.count },
        burst_colors: [],
        me_burst: false,
        burst_me: false,
        me: reaction.user_ids.includes(this.botUserId),
        burst_count: 0,
      }));
    }
    if (message.message_reference) {
      payload.message_reference = { ...message.message_reference };
      if (!nested && message.type === 19) {
        const referenced = this.messagesById.get(message.message_reference.message_id);
        payload.referenced_message =
          referenced && !referenced.deleted
            ? this.apiMessage(referenced, { ...options, gateway: false }, true)
            : null;
      }
    }
    if (message.thread_id) {
      const thread = this.channels.get(message.thread_id);
      if (thread) payload.thread = this.apiChannel(thread);
    }
    if (options.gateway) {
      const channel = this.channels.get(message.channel_id);
      if (channel) payload.channel_type = channel.type;
      if (message.guild_id) {
        payload.guild_id = message.guild_id;
        const member = message.webhook_id
          ? undefined
          : this.apiMember(message.guild_id, message.author.id, false);
        if (member) payload.member = member;
      }
    }
    return payload;
  }

  // ---------------------------------------------------------------- payload builders

  apiUser(userId: string): FakeUser {
    return { ...this.ensureUser(userId).user };
  }

  apiMember(guildId: string, userId: string, withUser: boolean): JsonObject | undefined {
    const member = this.guilds.get(guildId)?.members.get(userId);
    if (!member) return undefined;
    const payload: JsonObject = {
      roles: [...member.roleIds],
      nick: member.nick,
      avatar: null,
      banner: null,
      premium_since: null,
      joined_at: member.joinedAt,
      deaf: false,
      mute: false,
      flags: 0,
      pending: false,
      communication_disabled_until: null,
      unusual_dm_activity_until: null,
    };
    if (withUser) payload.user = this.apiUser(userId);
    return payload;
  }

  threadView(channel: ChannelRecord): FakeThread | undefined {
    const thread = channel.thread;
    if (!thread || !channel.guildId || !channel.parentId) return undefined;
    return {
      id: channel.id,
      type: channel.type === CHANNEL_TYPES.PrivateThread ? 12 : 11,
      guild_id: channel.guildId,
      parent_id: channel.parentId,
      owner_id: thread.ownerId,
      name: channel.name,
      last_message_id: channel.lastMessageId,
      message_count: thread.messageCount,
      member_count: Math.min(thread.memberIds.size, 50),
      total_message_sent: thread.totalMessageSent,
      rate_limit_per_user: 0,
      flags: 0,
      thread_metadata: {
        archived: thread.archived,
        locked: thread.locked,
        auto_archive_duration: thread.autoArchiveDuration,
        archive_timestamp: thread.archiveTimestamp,
        create_timestamp: thread.createTimestamp,
        ...(channel.type === CHANNEL_TYPES.PrivateThread ? { invitable: thread.invitable } : {}),
      },
    };
  }

  /** A channel object; `inGuildCreate` leaves out `guild_id`, as GUILD_CREATE does. */
  apiChannel(channel: ChannelRecord, inGuildCreate = false): JsonObject {
    const threadView = this.threadView(channel);
    if (threadView) {
      const payload: JsonObject = {
        ...threadView,
        thread_metadata: { ...threadView.thread_metadata },
      };
      if (channel.thread?.memberIds.has(this.botUserId)) {
        payload.member = {
          id: channel.id,
          user_id: this.botUserId,
          join_timestamp: channel.thread.createTimestamp,
          flags: 0,
        };
      }
      return payload;
    }
    if (channel.type === CHANNEL_TYPES.DM) {
      return {
        id: channel.id,
        type: channel.type,
        last_message_id: channel.lastMessageId,
        flags: 0,
        recipients: channel.recipientId ? [this.apiUser(channel.recipientId)] : [],
      };
    }
    const payload: JsonObject = {
      id: channel.id,
      type: channel.type,
      name: channel.name,
      position: channel.position,
      parent_id: channel.parentId,
      topic: channel.topic,
      nsfw: channel.nsfw,
      last_message_id: channel.lastMessageId,
      rate_limit_per_user: 0,
      flags: 0,
      permission_overwrites: channel.overwrites.map((overwrite) => ({
        id: overwrite.id,
        type: overwrite.type,
        allow: overwrite.allow.toString(),
        deny: overwrite.deny.toString(),
      })),
    };
    if (!inGuildCreate && channel.guildId) payload.guild_id = channel.guildId;
    return payload;
  }

  apiRoles(guild: GuildRecord): JsonObject[] {
    return guild.roles.map((role) => ({
      id: role.id,
      name: role.name,
      description: null,
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      icon: null,
      unicode_emoji: null,
      position: role.position,
      permissions: role.permissions.toString(),
      managed: false,
      mentionable: false,
      flags: 0,
    }));
  }

  apiGuild(guild: GuildRecord): JsonObject {
    return {
      id: guild.id,
      name: guild.name,
      icon: null,
      icon_hash: null,
      splash: null,
      discovery_splash: null,
      banner: null,
      description: null,
      owner_id: guild.ownerId,
      afk_channel_id: null,
      afk_timeout: 300,
      widget_enabled: false,
      widget_channel_id: null,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      mfa_level: 0,
      nsfw_level: 0,
      premium_tier: 0,
      premium_subscription_count: 0,
      premium_progress_bar_enabled: false,
      preferred_locale: guild.preferredLocale,
      features: [],
      roles: this.apiRoles(guild),
      emojis: [],
      stickers: [],
      application_id: null,
      system_channel_id: guild.channelIds[0] ?? null,
      system_channel_flags: 0,
      rules_channel_id: null,
      public_updates_channel_id: null,
      safety_alerts_channel_id: null,
      vanity_url_code: null,
      max_members: 500_000,
      max_presences: null,
      max_video_channel_users: 25,
      max_stage_video_channel_users: 50,
      incidents_data: null,
    };
  }

  /** The GUILD_CREATE a bot gets for each guild after READY. */
  gatewayGuild(guild: GuildRecord): JsonObject {
    const channels = guild.channelIds
      .map((channelId) => this.channels.get(channelId))
      .filter((channel): channel is ChannelRecord => channel !== undefined);
    const threads = [...this.channels.values()].filter(
      (channel) => channel.guildId === guild.id && channel.thread && !channel.thread.archived,
    );
    return {
      ...this.apiGuild(guild),
      joined_at: guild.joinedAt,
      large: false,
      unavailable: false,
      lazy: true,
      member_count: guild.members.size,
      members: [...guild.members.keys()].map((userId) => this.apiMember(guild.id, userId, true)),
      channels: channels.map((channel) => this.apiChannel(channel, true)),
      threads: threads.map((thread) => this.apiChannel(thread)),
      voice_states: [],
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
      embedded_activities: [],
      activity_instances: [],
      application_command_counts: {},
    };
  }

  /** Every interaction answer: the invoking user, where, and what the bot may do there. */
  interactionContext(interaction: {
    channelId: string;
    guildId: string | undefined;
    userId: string;
    locale: string | undefined;
    memberPermissions: bigint | undefined;
  }): JsonObject {
    const channel = this.channels.get(interaction.channelId);
    if (!channel) throw new Error(`Fake Discord: unknown channel ${interaction.channelId}`);
    const userRecord = this.ensureUser(interaction.userId);
    const guild = interaction.guildId ? this.guilds.get(interaction.guildId) : undefined;
    const memberPermissions =
      interaction.memberPermissions ?? this.permissionsIn(channel.id, interaction.userId);
    const payload: JsonObject = {
      application_id: this.applicationId,
      app_permissions: this.permissionsIn(channel.id, this.botUserId).toString(),
      attachment_size_limit: this.uploadLimitFor(guild?.id),
      authorizing_integration_owners: { '0': guild ? guild.id : '0' },
      channel: { ...this.apiChannel(channel), permissions: memberPermissions.toString() },
      channel_id: channel.id,
      context: guild ? 0 : 1,
      entitlements: [],
      entitlement_sku_ids: [],
      locale: interaction.locale ?? userRecord.locale,
      version: 1,
    };
    if (guild) {
      if (!guild.members.has(interaction.userId)) {
        guild.members.set(interaction.userId, {
          userId: interaction.userId,
          roleIds: [],
          nick: null,
          joinedAt: this.timestamp(),
        });
      }
      payload.guild = { id: guild.id, locale: guild.preferredLocale, features: [] };
      payload.guild_id = guild.id;
      payload.guild_locale = guild.preferredLocale;
      payload.member = {
        ...this.apiMember(guild.id, interaction.userId, true),
        permissions: memberPermissions.toString(),
      };
    } else {
      payload.user = this.apiUser(interaction.userId);
    }
    return payload;
  }
}

export function permissionBits(names: readonly PermissionName[]): bigint {
  let bits = 0n;
  for (const name of names) bits |= PERMISSION_BITS[name];
  return bits;
}

/** Discord replaces characters it does not keep in attachment names. */
function sanitizeFilename(filename: string): string {
  const cleaned = filename.replace(/[^\w.-]+/g, '_');
  return cleaned === '' ? 'unknown' : cleaned;
}
