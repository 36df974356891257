/**
 * Public types of the fake Discord. Specs (what a test passes in) are camelCase; everything that
 * mirrors a Discord payload (stored messages, threads, recorded JSON) is snake_case, exactly as
 * Discord API v10 sends it.
 */

export type JsonObject = Record<string, unknown>;

/** Permissions the fake knows by name (Discord's bit positions). */
export const PERMISSION_BITS = {
  CREATE_INSTANT_INVITE: 1n << 0n,
  ADMINISTRATOR: 1n << 3n,
  MANAGE_GUILD: 1n << 5n,
  ADD_REACTIONS: 1n << 6n,
  VIEW_CHANNEL: 1n << 10n,
  SEND_MESSAGES: 1n << 11n,
  MANAGE_MESSAGES: 1n << 13n,
  EMBED_LINKS: 1n << 14n,
  ATTACH_FILES: 1n << 15n,
  READ_MESSAGE_HISTORY: 1n << 16n,
  MENTION_EVERYONE: 1n << 17n,
  USE_EXTERNAL_EMOJIS: 1n << 18n,
  CHANGE_NICKNAME: 1n << 26n,
  USE_APPLICATION_COMMANDS: 1n << 31n,
  MANAGE_THREADS: 1n << 34n,
  CREATE_PUBLIC_THREADS: 1n << 35n,
  CREATE_PRIVATE_THREADS: 1n << 36n,
  SEND_MESSAGES_IN_THREADS: 1n << 38n,
} as const;

export type PermissionName = keyof typeof PERMISSION_BITS;

/** What @everyone may do in a default fake guild: an ordinary text-chat server. */
export const DEFAULT_EVERYONE_PERMISSIONS: readonly PermissionName[] = [
  'CREATE_INSTANT_INVITE',
  'ADD_REACTIONS',
  'VIEW_CHANNEL',
  'SEND_MESSAGES',
  'EMBED_LINKS',
  'ATTACH_FILES',
  'READ_MESSAGE_HISTORY',
  'MENTION_EVERYONE',
  'USE_EXTERNAL_EMOJIS',
  'CHANGE_NICKNAME',
  'USE_APPLICATION_COMMANDS',
  'CREATE_PUBLIC_THREADS',
  'CREATE_PRIVATE_THREADS',
  'SEND_MESSAGES_IN_THREADS',
];

/** Gateway intent bits the fake looks at. */
export const INTENTS = {
  Guilds: 1 << 0,
  GuildMembers: 1 << 1,
  GuildMessages: 1 << 9,
  GuildMessageReactions: 1 << 10,
  DirectMessages: 1 << 12,
  DirectMessageReactions: 1 << 13,
  MessageContent: 1 << 15,
} as const;

export const MIB = 1024 * 1024;

export interface FakeUserSpec {
  id?: string;
  username?: string;
  globalName?: string;
  /** The user's client locale, sent as `locale` in their interactions; default `en-US`. */
  locale?: string;
  bot?: boolean;
}

export interface FakeMemberSpec extends FakeUserSpec {
  roleIds?: string[];
  nick?: string;
}

export interface FakeRoleSpec {
  id?: string;
  name: string;
  permissions?: readonly PermissionName[];
}

export interface FakeChannelSpec {
  id?: string;
  name?: string;
  /** `text` (type 0, default) or `announcement` (type 5). */
  kind?: 'text' | 'announcement';
  topic?: string;
  nsfw?: boolean;
}

export interface FakeThreadSpec {
  id?: string;
  name?: string;
  /** Id or name of the parent text channel in the same guild. */
  parent: string;
  /** `public` (type 11, default) or `private` (type 12). */
  kind?: 'public' | 'private';
  archived?: boolean;
  locked?: boolean;
  /** Default: the bot, so the bot is a member. */
  ownerId?: string;
}

export interface FakeGuildSpec {
  id?: string;
  name?: string;
  /** Sent as `guild_locale` in interactions; default `en-US`. */
  preferredLocale?: string;
  ownerId?: string;
  /** Default: one text channel named `general`. */
  channels?: FakeChannelSpec[];
  threads?: FakeThreadSpec[];
  /** Members besides the bot (which is always one). Default: one user named `tester`. */
  members?: FakeMemberSpec[];
  roles?: FakeRoleSpec[];
  /** Permissions of @everyone; default DEFAULT_EVERYONE_PERMISSIONS. */
  everyonePermissions?: readonly PermissionName[];
  /** Per-attachment upload limit in bytes (boosted guilds have more); default 10 MiB. */
  attachmentSizeLimit?: number;
}

export interface FakeDiscordOptions {
  /** REST calls must carry `Authorization: Bot <token>`; default `fake-bot-token`. */
  botToken?: string;
  applicationId?: string;
  botUserId?: string;
  botUsername?: string;
  /** Default: one guild with one text channel and one member besides the bot. */
  guilds?: FakeGuildSpec[];
  /**
   * Whether the app is allowed the privileged Message Content intent (the developer-portal
   * switch); default false. Identifying with the intent while not allowed closes the gateway
   * with 4014, and REST reads of messages follow this switch.
   */
  messageContentIntent?: boolean;
  /** Gateway heartbeat interval; default 41250 ms, long so tests see no heartbeat noise. */
  heartbeatIntervalMs?: number;
  /** The shard count GET /gateway/bot recommends; default 1. */
  gatewayShards?: number;
  /** `session_start_limit.max_concurrency` of GET /gateway/bot (identify buckets); default 1. */
  maxConcurrency?: number;
  /**
   * An interaction callback later than this after the interaction was sent (on the fake's clock)
   * answers 404 Unknown interaction. Default 3000, as on Discord; `false` turns the deadline off.
   */
  ackDeadlineMs?: number | false;
  /** Largest request body accepted; default 25 MiB (413 beyond). */
  maxRequestBytes?: number;
  /**
   * Milliseconds since the epoch (default `Date.now`); `advanceClock` moves the fake's time on
   * from it (token lifetime, ack deadline, URL expiry, ids).
   */
  clock?: () => number;
}

/** A file to attach to a user message or a slash-command option. */
export interface FakeAttachmentSpec {
  filename: string;
  bytes: Buffer;
  /** Default: sniffed from the bytes, then the extension. */
  contentType?: string;
  description?: string;
}

/** An attachment as stored, with its bytes. `url` fields are minted when it is delivered. */
export interface FakeAttachment {
  id: string;
  filename: string;
  size: number;
  content_type?: string;
  width?: number;
  height?: number;
  description?: string;
  ephemeral?: boolean;
  bytes: Buffer;
}

export interface FakeUser {
  id: string;
  username: string;
  discriminator: string;
  global_name: string | null;
  avatar: string | null;
  bot?: boolean;
  public_flags: number;
}

export interface FakeMessageReference {
  type: number;
  message_id: string;
  channel_id: string;
  guild_id?: string;
  fail_if_not_exists?: boolean;
}

export interface FakeReaction {
  emoji: { id: string | null; name: string };
  count: number;
  /** Users who reacted; `me` in payloads is derived from it. */
  user_ids: string[];
}

/** A message as the fake stores it: the full truth, whatever a viewer is allowed to see. */
export interface FakeMessage {
  id: string;
  channel_id: string;
  guild_id?: string;
  /** 0 default, 19 reply, 20 slash-command response, 23 context-menu response. */
  type: number;
  author: FakeUser;
  content: string;
  embeds: JsonObject[];
  components: JsonObject[];
  attachments: FakeAttachment[];
  mentions: FakeUser[];
  /** Role ids the message pings. */
  mention_roles: string[];
  mention_everyone: boolean;
  message_reference?: FakeMessageReference;
  /** 64 ephemeral, 128 loading (deferred), 32 has thread, 4 suppress embeds, 4096 silent. */
  flags: number;
  timestamp: string;
  edited_timestamp: string | null;
  tts: boolean;
  pinned: boolean;
  nonce?: string | number;
  webhook_id?: string;
  application_id?: string;
  interaction_metadata?: JsonObject;
  /** The thread started from this message, if any. */
  thread_id?: string;
  reactions: FakeReaction[];
  poll?: JsonObject;
  /** Set when deleted; deleted messages leave `messages()` but stay in `message(id)`. */
  deleted: boolean;
}

/** A thread channel, snake_case as Discord sends it. */
export interface FakeThread {
  id: string;
  type: 11 | 12;
  guild_id: string;
  parent_id: string;
  owner_id: string;
  name: string;
  last_message_id: string | null;
  message_count: number;
  member_count: number;
  total_message_sent: number;
  rate_limit_per_user: number;
  flags: number;
  thread_metadata: {
    archived: boolean;
    locked: boolean;
    auto_archive_duration: number;
    archive_timestamp: string;
    create_timestamp: string;
    invitable?: boolean;
  };
}

/** Who acts in a driven interaction or message, and where. */
export interface FakeActorSpec {
  /** Default: the first member of the guild (not the bot). */
  userId?: string;
  /** Default: the first text channel of the guild. */
  channelId?: string;
  /** Default: the channel's guild. */
  guildId?: string;
  /** The user's client locale; default the user's locale (`en-US`). */
  locale?: string;
  /** Permission names the invoking member has in the channel; default @everyone's. */
  memberPermissions?: readonly PermissionName[];
}

export type FakeOptionValue = string | number | boolean | FakeAttachmentSpec;

export interface FakeSlashCommandSpec extends FakeActorSpec {
  name: string;
  subcommand?: string;
  subcommandGroup?: string;
  /**
   * Option values by name. Types come from the registered command when there is one,
   * else from the value (string 3, integer 4, number 10, boolean 5, attachment 11).
   */
  options?: Record<string, FakeOptionValue>;
}

export interface FakeMessageCommandSpec extends FakeActorSpec {
  name: string;
  targetMessageId: string;
}

export interface FakeComponentSpec extends FakeActorSpec {
  customId: string;
  /** The message the component is on. */
  messageId: string;
  /** 2 button (default), 3 string select, 5 user select, ... */
  componentType?: number;
  /** Selected values, for select menus. */
  values?: string[];
  /**
   * The message as the member's screen still showed it (a copy taken earlier): the click raced an
   * edit that removed the component. Default: the message as stored now, which must have it.
   */
  shown?: FakeMessage;
}

export interface FakeModalSubmitSpec extends FakeActorSpec {
  customId: string;
  /** Text-input values by their custom id. */
  fields: Record<string, string>;
  /** When the modal was opened from a component on this message. */
  messageId?: string;
}

export interface FakeUserMessageSpec {
  channelId?: string;
  /** Default: the first member of the channel's guild. */
  authorId?: string;
  content: string;
  attachments?: FakeAttachmentSpec[];
  embeds?: JsonObject[];
  /** Makes the message a reply (type 19) to this message. */
  referenceMessageId?: string;
  /** Whether the reply pings the replied-to author (Discord's default); default true. */
  replyPing?: boolean;
  /**
   * Whether the message mentions the bot. Default: true when the content holds `<@botId>` or the
   * message replies to the bot with a ping.
   */
  mentionsBot?: boolean;
  /** Posted by this webhook (an integration, a relay): `webhook_id` set, as Discord does. */
  webhookId?: string;
}

/** What a test sent, as dispatched. */
export interface FakeInteraction {
  id: string;
  token: string;
  type: number;
  channelId: string;
  guildId: string | undefined;
  userId: string;
  /** The INTERACTION_CREATE payload as dispatched. */
  payload: JsonObject;
}

export interface FakeInteractionCallback {
  /** 1 pong, 4 message, 5 deferred message, 6 deferred update, 7 update, 8 autocomplete, 9 modal. */
  type: number;
  data: JsonObject | undefined;
  files: { name: string; contentType: string; bytes: Buffer }[];
  at: number;
}

export interface FakeInteractionResponses {
  /** Accepted callbacks (refused second acknowledgements are only in `calls`). */
  callbacks: FakeInteractionCallback[];
  /** The original response (for component interactions after 6/7: the component's message). */
  original: FakeMessage | undefined;
  followups: FakeMessage[];
  /** The modal shown by a type 9 callback. */
  modal: JsonObject | undefined;
}

export interface RecordedRestCall {
  method: string;
  /** Decoded path after `/api/v10`, e.g. `/webhooks/1/tok/messages/@original`. */
  path: string;
  /** The matched route, e.g. `PATCH /webhooks/:applicationId/:token/messages/:messageId`. */
  route: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** The JSON body, or the multipart `payload_json`. */
  json: unknown;
  files: { name: string; contentType: string; bytes: Buffer }[];
  status: number;
  /** The answered JSON body, if any. */
  response: unknown;
  at: number;
}

export interface RecordedCdnRequest {
  method: string;
  path: string;
  status: number;
  at: number;
}

export interface WaitForOptions {
  /** Default 10000 ms. */
  timeoutMs?: number;
  /** What the timeout error names; default `condition`. */
  description?: string;
}
