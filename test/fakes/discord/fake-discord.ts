/**
 * A local fake Discord for end-to-end tests and benchmarks that drive the REAL discord.js client:
 * REST API v10, the gateway (WebSocket) and the attachment CDN, all on one 127.0.0.1 port.
 * Payloads are snake_case JSON shaped as Discord API v10 sends them.
 *
 * Connect discord.js:
 *   const fake = await FakeDiscord.start({ botToken: 'token' });
 *   const client = new Client({ intents: [Guilds, GuildMessages, DirectMessages],
 *                               rest: { api: fake.apiUrl, retries: 0 } });
 *   await client.login('token');
 *   ...
 *   await client.destroy(); await fake.close();
 *
 * Set-up (FakeDiscordOptions): botToken, applicationId, botUserId, guilds (channels, threads,
 * members, roles, per-guild attachment limit), messageContentIntent (the portal switch: identifying
 * with MessageContent while it is off closes the gateway with 4014), ackDeadlineMs (3 s unless
 * `false`), clock.
 * Defaults: one guild (`fake.guildId`) with one text channel (`fake.channelId`) and one human
 * member (`fake.userId`).
 *
 * Driving the bot (each returns what was dispatched):
 *   sendSlashCommand({ name, options: { prompt: 'x', image: { filename, bytes } }, ... })
 *   sendMessageContextCommand({ name, targetMessageId })   target in data.resolved.messages
 *   sendButton({ customId, messageId })                    type 3, with the message
 *   sendModalSubmit({ customId, fields })                  type 5, shaped like the shown modal
 *   postUserMessage({ content, attachments, referenceMessageId, mentionsBot })  MESSAGE_CREATE
 * The Message Content rule is enforced per gateway session and, for REST reads, by the portal
 * switch: without the intent, content/attachments/embeds/components arrive empty unless the
 * message mentions the bot, is a DM or is the bot's own; a reply's `referenced_message` is
 * emptied unless it is the bot's own. Interaction-resolved messages always arrive whole.
 *
 * Inspecting (stored truth, not a viewer's view):
 *   calls                      every REST call: method, decoded path, route, headers, json, files
 *   cdnCalls                   every attachment download
 *   interactionResponses(id)   callbacks (type, data, files), original, followups, modal
 *   messages(channelId), message(id), threads(), thread(id), channel(idOrName), commands(guildId?)
 *   waitFor(predicate, { timeoutMs })   resolves on the first truthy value (default 10 s)
 *
 * Time: now(), advanceClock(ms). An interaction must be answered within 3 s (404 10062 after);
 * its token works 15 minutes (401 50027 after), both on the fake's clock.
 *
 * Sharding: GET /gateway/bot answers `shards` and `max_concurrency` from the options
 * (`gatewayShards`, `maxConcurrency`, both 1 by default). A session identified with
 * `shard: [id, count]` gets READY and GUILD_CREATE for its guilds only, and the events of the
 * guilds whose `(guild_id >> 22) % count` is `id`; DMs go to shard 0. identifies() records each
 * IDENTIFY's shard and time (fake clock), connectedShards() the live sessions' shards. A second
 * session on a connected shard is accepted, as Discord does (both receive its events).
 *
 * Mentions: every message the bot sends stores `mentions`, `mention_roles` and `mention_everyone`
 * as Discord computes them from the content and `allowed_mentions` (absent: every kind parsed).
 *
 * Faults:
 *   expireInteractionToken(id)   before its time: callbacks → 404 10062; webhook calls → 401 50027
 *   denyPermission(channelId, 'SEND_MESSAGES' | 'ATTACH_FILES' | ...) → 403 50013 (also in
 *                                app_permissions and the channel's overwrites); allowPermission
 *   archiveThread(threadId)      posting → 400 50083
 *   deleteMessage(id)            a moderator deletes it: edits → 404 10008
 *   removeInteractionWebhook(id) webhook calls → 404 10015
 *   refuseDms(userId)            posting in that user's DM → 403 50007
 *   grantPermission(channelId, 'MANAGE_THREADS' | ...)  an allow on the bot's overwrite
 *   setUploadLimit(bytes, guildId?)  a file over it → 413 40005; the request over
 *                                maxRequestBytes (25 MiB) → 413; more than 10 files → 400 50035
 *   expireAttachmentUrls()       CDN answers 404 until a link is refreshed (refresh-urls) or the
 *                                message is fetched again
 *   disconnectGateway(code)      4000 resumes (missed events replayed), 1000 re-identifies
 *   failNext(route, status)      the next call to a route (`PATCH /webhooks/:applicationId/:token`,
 *                                as in `calls[].route`) answers that status (a 500, say)
 *   holdNext(route)              the next call to a route waits until the returned release()
 *                                (`heldCalls` lists the calls waiting so)
 *
 * Behaviours worth knowing: a deferred reply (callback 5) creates a "loading" original (flag 128)
 * that editReply fills; the first follow-up after a deferral fills it too, as on Discord. A second
 * callback answers 400 40060. A thread started from a message takes the message's id.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errors } from './api-errors.js';
import { FakeGateway, type GatewaySession, type RecordedIdentify, shardOf } from './gateway.js';
import { isRecord } from './message-payload.js';
import { BodyParseError, parseBody, type RequestBody, readBody } from './multipart.js';
import { matchRoute } from './rest-routes.js';
import {
  type ChannelRecord,
  FakeDiscordState,
  type InteractionRecord,
  type MessageDraft,
  permissionBits,
} from './state.js';
import {
  type FakeActorSpec,
  type FakeAttachmentSpec,
  type FakeComponentSpec,
  type FakeDiscordOptions,
  type FakeInteraction,
  type FakeInteractionResponses,
  type FakeMessage,
  type FakeMessageCommandSpec,
  type FakeModalSubmitSpec,
  type FakeOptionValue,
  type FakeSlashCommandSpec,
  type FakeThread,
  type FakeUserMessageSpec,
  INTENTS,
  type JsonObject,
  MIB,
  type PermissionName,
  type RecordedCdnRequest,
  type RecordedRestCall,
  type WaitForOptions,
} from './types.js';

interface Actor {
  channelId: string;
  guildId: string | undefined;
  userId: string;
  locale: string | undefined;
  memberPermissions: bigint | undefined;
}

interface Waiter {
  cancel(reason: Error): void;
}

const POLL_INTERVAL_MS = 20;

export class FakeDiscord {
  /** `http://127.0.0.1:PORT/api`: pass as `rest.api`; discord.js appends `/v10`. */
  readonly apiUrl: string;
  /** `http://127.0.0.1:PORT`: the origin of attachment links (`/attachments/...`). */
  readonly cdnUrl: string;
  /** `ws://127.0.0.1:PORT`, what GET /gateway/bot hands out. */
  readonly gatewayUrl: string;
  readonly botToken: string;
  readonly applicationId: string;
  readonly botUserId: string;
  /** The first guild, its first text channel and its first human member. */
  readonly guildId: string;
  readonly channelId: string;
  readonly userId: string;
  readonly calls: RecordedRestCall[] = [];
  readonly cdnCalls: RecordedCdnRequest[] = [];
  /** Errors thrown inside the fake while answering (answered 500); a test may assert it empty. */
  readonly internalErrors: unknown[] = [];

  private readonly waiters = new Set<Waiter>();
  /** Statuses to answer instead, by route name, oldest first (`failNext`). */
  /** Injected answers per route: a status, or a global rate limit of so many seconds. */
  private readonly faults = new Map<string, (number | { globalRateLimitSeconds: number })[]>();
  /** Calls waiting in a hold right now (`holdNext`), recorded in `calls` once answered. */
  readonly heldCalls: RecordedRestCall[] = [];
  /** Calls to hold until released, by route name, oldest first (`holdNext`). */
  private readonly holds = new Map<string, { held: Promise<void>; release: () => void }[]>();
  private closed = false;

  private constructor(
    private readonly state: FakeDiscordState,
    private readonly gateway: FakeGateway,
    private readonly server: Server,
    origin: string,
  ) {
    this.apiUrl = `${origin}/api`;
    this.cdnUrl = origin;
    this.gatewayUrl = origin.replace(/^http/, 'ws');
    this.botToken = state.botToken;
    this.applicationId = state.applicationId;
    this.botUserId = state.botUserId;
    const firstGuild = state.guilds.values().next().value;
    if (!firstGuild) throw new Error('Fake Discord: needs at least one guild');
    this.guildId = firstGuild.id;
    this.channelId = firstGuild.channelIds[0] ?? '';
    this.userId = state.firstHumanMember(firstGuild) ?? '';
  }

  static async start(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    const state = new FakeDiscordState(options);
    let gatewayUrl = '';
    const gateway = new FakeGateway({
      botToken: state.botToken,
      messageContentAllowed: state.messageContentAllowed,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 41_250,
      onIdentify: (session) => identifyEvents(state, session, gatewayUrl),
      onChange: () => state.notify(),
      now: () => state.now(),
    });
    state.dispatcher = gateway;
    let fake: FakeDiscord | undefined;
    const server = createServer((request, response) => {
      if (fake) void fake.onRequest(request, response);
      else response.writeHead(503).end();
    });
    server.on('upgrade', (request, socket, head: Buffer) =>
      gateway.handleUpgrade(request, socket, head),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const origin = `http://127.0.0.1:${port}`;
    state.origin = origin;
    gatewayUrl = `ws://127.0.0.1:${port}`;
    fake = new FakeDiscord(state, gateway, server, origin);
    return fake;
  }

  // ---------------------------------------------------------------- gateway state

  /** Resolves once a client has identified and was sent READY and its GUILD_CREATEs. */
  ready(options: WaitForOptions = {}): Promise<void> {
    return this.waitFor(() => this.gateway.identifications > 0 || undefined, {
      description: 'a gateway IDENTIFY',
      ...options,
    }).then(() => undefined);
  }

  /** The intents of the latest IDENTIFY, accepted or not. */
  identifiedIntents(): number | undefined {
    return this.gateway.identifiedIntents;
  }

  /** Close codes the gateway sent (4014 disallowed intents, 4004 bad token, ...). */
  gatewayCloseCodes(): readonly number[] {
    return this.gateway.closeCodes;
  }

  /** Gateway sessions with a live connection. */
  connectedClients(): number {
    return this.gateway.connectedSessions;
  }

  /** Every IDENTIFY that got a READY, oldest first: its `[id, count]` and the fake's time. */
  identifies(): readonly RecordedIdentify[] {
    return this.gateway.identifies;
  }

  /** The `[id, count]` of each session with a live connection. */
  connectedShards(): (readonly [number, number])[] {
    return this.gateway.connectedShards;
  }

  /** The shard a guild's events go to with `count` shards (`(guild_id >> 22) % count`). */
  shardOf(guildId: string | undefined, count: number): number {
    return shardOf(guildId, count);
  }

  // ---------------------------------------------------------------- driving the bot

  sendSlashCommand(spec: FakeSlashCommandSpec): FakeInteraction {
    const actor = this.resolveActor(spec);
    const command = this.findCommand(spec.name, 1, actor.guildId);
    const resolved: Record<string, Record<string, unknown>> = {};
    let declared = Array.isArray(command?.options) ? command.options.filter(isRecord) : [];
    const descend = (name: string): void => {
      const next = declared.find((option) => option.name === name);
      declared = Array.isArray(next?.options) ? next.options.filter(isRecord) : [];
    };
    if (spec.subcommandGroup) descend(spec.subcommandGroup);
    if (spec.subcommand) descend(spec.subcommand);
    let options: JsonObject[] = Object.entries(spec.options ?? {}).map(([name, value]) =>
      this.commandOption(name, value, declared, actor, resolved),
    );
    if (spec.subcommand) options = [{ type: 1, name: spec.subcommand, options }];
    if (spec.subcommandGroup) options = [{ type: 2, name: spec.subcommandGroup, options }];
    const data: JsonObject = {
      id: command?.id ?? this.state.nextId(),
      name: spec.name,
      type: 1,
      options,
    };
    if (typeof command?.guild_id === 'string') data.guild_id = command.guild_id;
    if (Object.keys(resolved).length > 0) data.resolved = resolved;
    return this.dispatchInteraction(2, actor, data, { commandType: 1 });
  }

  sendMessageContextCommand(spec: FakeMessageCommandSpec): FakeInteraction {
    const target = this.requireMessage(spec.targetMessageId);
    const actor = this.resolveActor({ channelId: target.channel_id, ...spec });
    const command = this.findCommand(spec.name, 3, actor.guildId);
    const data: JsonObject = {
      id: command?.id ?? this.state.nextId(),
      name: spec.name,
      type: 3,
      target_id: target.id,
      // Interactions carry the whole target message whatever the Message Content intent.
      resolved: {
        messages: {
          [target.id]: this.state.apiMessage(target, { contentIntent: true, visibility: 'full' }),
        },
      },
    };
    if (typeof command?.guild_id === 'string') data.guild_id = command.guild_id;
    return this.dispatchInteraction(2, actor, data, { commandType: 3 });
  }

  sendButton(spec: FakeComponentSpec): FakeInteraction {
    const message = spec.shown ?? this.requireMessage(spec.messageId);
    if (!hasComponent(message.components, spec.customId)) {
      throw new Error(`Fake Discord: message ${message.id} has no component ${spec.customId}`);
    }
    const actor = this.resolveActor({ channelId: message.channel_id, ...spec });
    const data: JsonObject = { custom_id: spec.customId, component_type: spec.componentType ?? 2 };
    if (spec.values) data.values = [...spec.values];
    return this.dispatchInteraction(3, actor, data, { sourceMessage: message });
  }

  sendModalSubmit(spec: FakeModalSubmitSpec): FakeInteraction {
    const opener = [...this.state.interactions.values()]
      .reverse()
      .find((interaction) => interaction.modal?.custom_id === spec.customId);
    const sourceMessageId = spec.messageId ?? opener?.sourceMessageId;
    const sourceMessage = sourceMessageId ? this.requireMessage(sourceMessageId) : undefined;
    const actor = this.resolveActor({
      ...(opener ? { channelId: opener.channelId, userId: opener.userId } : {}),
      ...spec,
    });
    const data: JsonObject = {
      custom_id: spec.customId,
      components: modalSubmitComponents(opener?.modal, spec.fields),
    };
    return this.dispatchInteraction(5, actor, data, sourceMessage ? { sourceMessage } : {});
  }

  /** A user posts a message; dispatched as MESSAGE_CREATE under the Message Content rule. */
  postUserMessage(spec: FakeUserMessageSpec): FakeMessage {
    const channel = this.requireChannel(spec.channelId ?? this.channelId);
    const guild = channel.guildId ? this.state.guilds.get(channel.guildId) : undefined;
    const authorId =
      spec.authorId ??
      (guild ? this.state.firstHumanMember(guild) : channel.recipientId) ??
      this.userId;
    this.state.ensureUser(authorId);
    if (guild && !guild.members.has(authorId)) {
      guild.members.set(authorId, {
        userId: authorId,
        roleIds: [],
        nick: null,
        joinedAt: this.state.timestamp(),
      });
    }
    const referenced = spec.referenceMessageId
      ? this.requireMessage(spec.referenceMessageId)
      : undefined;
    const mentionIds = new Set<string>();
    for (const match of spec.content.matchAll(/<@!?(\d+)>/g)) {
      if (match[1] && this.state.users.has(match[1])) mentionIds.add(match[1]);
    }
    if (referenced && (spec.replyPing ?? true)) mentionIds.add(referenced.author.id);
    if (spec.mentionsBot === true) mentionIds.add(this.botUserId);
    if (spec.mentionsBot === false) mentionIds.delete(this.botUserId);
    if (channel.thread?.archived && !channel.thread.locked) {
      // A user posting in an archived thread unarchives it.
      channel.thread.archived = false;
      this.state.dispatcher.dispatch('THREAD_UPDATE', INTENTS.Guilds, () =>
        this.state.apiChannel(channel),
      );
    }
    const draft: MessageDraft = {
      channel_id: channel.id,
      type: referenced ? 19 : 0,
      author: this.state.apiUser(authorId),
      content: spec.content,
      embeds: spec.embeds ? structuredClone(spec.embeds) : [],
      components: [],
      attachments: (spec.attachments ?? []).map((attachment) =>
        this.state.storeAttachment(attachment, channel.id, false),
      ),
      mentions: [...mentionIds].map((userId) => this.state.apiUser(userId)),
      mention_roles: [...spec.content.matchAll(/<@&(\d+)>/g)]
        .map((match) => match[1] ?? '')
        .filter((roleId) => guild?.roles.some((role) => role.id === roleId)),
      mention_everyone: /@(everyone|here)\b/.test(spec.content),
      flags: 0,
    };
    if (channel.guildId) draft.guild_id = channel.guildId;
    if (spec.webhookId) draft.webhook_id = spec.webhookId;
    if (referenced) {
      draft.message_reference = {
        type: 0,
        message_id: referenced.id,
        channel_id: referenced.channel_id,
        ...(referenced.guild_id ? { guild_id: referenced.guild_id } : {}),
      };
    }
    return this.state.createMessage(draft);
  }

  /** The DM channel between the bot and a user (made on first use); returns its id. */
  openDm(userId: string): string {
    return this.state.dmChannel(userId).id;
  }

  // ---------------------------------------------------------------- inspecting

  interactionResponses(interactionId: string): FakeInteractionResponses {
    const interaction = this.state.interactions.get(interactionId);
    if (!interaction) throw new Error(`Fake Discord: unknown interaction ${interactionId}`);
    const original = interaction.originalMessageId
      ? this.state.messagesById.get(interaction.originalMessageId)
      : undefined;
    return {
      callbacks: [...interaction.callbacks],
      original,
      followups: interaction.followupIds
        .map((messageId) => this.state.messagesById.get(messageId))
        .filter((message): message is FakeMessage => message !== undefined),
      modal: interaction.modal,
    };
  }

  /** Messages in a channel, oldest first, as stored (ephemeral ones included, flag 64). */
  messages(channelId: string, options: { includeDeleted?: boolean } = {}): FakeMessage[] {
    if (!options.includeDeleted) return [...this.state.messageList(channelId)];
    return [...this.state.messagesById.values()].filter(
      (message) => message.channel_id === channelId,
    );
  }

  message(messageId: string): FakeMessage | undefined {
    return this.state.messagesById.get(messageId);
  }

  threads(): FakeThread[] {
    return [...this.state.channels.values()]
      .map((channel) => this.state.threadView(channel))
      .filter((thread): thread is FakeThread => thread !== undefined);
  }

  thread(threadId: string): FakeThread | undefined {
    const channel = this.state.channels.get(threadId);
    return channel ? this.state.threadView(channel) : undefined;
  }

  /** A channel's v10 object, found by id or name. */
  channel(idOrName: string): JsonObject | undefined {
    const channel =
      this.state.channels.get(idOrName) ??
      [...this.state.channels.values()].find((entry) => entry.name === idOrName);
    return channel ? this.state.apiChannel(channel) : undefined;
  }

  /** Registered commands: global, or of one guild. */
  commands(guildId?: string): JsonObject[] {
    return [...(this.state.commands.get(guildId ?? 'global') ?? [])];
  }

  /**
   * Resolves with the predicate's first truthy value. Checked on every change of the fake's state
   * and every 20 ms (for conditions on the test's side), until `timeoutMs` (default 10 s).
   */
  waitFor<T>(
    predicate: () => T | undefined | null | false,
    options: WaitForOptions = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const description = options.description ?? 'condition';
    return new Promise<T>((resolve, reject) => {
      let finished = false;
      const finish = (): void => {
        finished = true;
        clearInterval(poll);
        clearTimeout(timeout);
        unsubscribe();
        this.waiters.delete(waiter);
      };
      const check = (): void => {
        if (finished) return;
        try {
          const value = predicate();
          if (value !== undefined && value !== null && value !== false) {
            finish();
            resolve(value);
          }
        } catch (error) {
          finish();
          reject(error);
        }
      };
      const waiter: Waiter = {
        cancel: (reason) => {
          if (finished) return;
          finish();
          reject(reason);
        },
      };
      const unsubscribe = this.state.onChange(check);
      const poll = setInterval(check, POLL_INTERVAL_MS);
      const timeout = setTimeout(() => {
        waiter.cancel(
          new Error(`Fake Discord: timed out after ${timeoutMs} ms waiting for ${description}`),
        );
      }, timeoutMs);
      this.waiters.add(waiter);
      check();
    });
  }

  // ---------------------------------------------------------------- time

  /** The fake's time (ms since the epoch): what snowflakes, timestamps and token ages use. */
  now(): number {
    return this.state.now();
  }

  /**
   * Moves the fake's time forward, as minutes passing on Discord: an interaction older than 3 s
   * can no longer be answered, its token stops working 15 minutes after it was sent. Give the bot
   * the same clock (`now: () => fake.now()`) so that both agree on the time.
   */
  advanceClock(ms: number): void {
    this.state.advanceClock(ms);
  }

  // ---------------------------------------------------------------- faults

  /**
   * The interaction's token stops working before its time (Discord revoked it, or the bot's clock
   * is wrong): callbacks 404 10062, webhook calls 401 50027. For expiry by age, `advanceClock`.
   */
  expireInteractionToken(interactionId: string): void {
    const interaction = this.state.interactions.get(interactionId);
    if (!interaction) throw new Error(`Fake Discord: unknown interaction ${interactionId}`);
    interaction.expired = true;
  }

  /** The interaction's webhook is removed: webhook calls answer 404 10015 Unknown Webhook. */
  removeInteractionWebhook(interactionId: string): void {
    const interaction = this.state.interactions.get(interactionId);
    if (!interaction) throw new Error(`Fake Discord: unknown interaction ${interactionId}`);
    interaction.webhookRemoved = true;
  }

  /** A moderator deletes a message (MESSAGE_DELETE is dispatched); edits then answer 10008. */
  deleteMessage(messageId: string): void {
    this.state.deleteMessage(this.requireMessage(messageId));
  }

  /** The user takes no DMs from the bot: posting in their DM answers 403 50007. */
  refuseDms(userId: string): void {
    this.state.dmsRefusedBy.add(userId);
  }

  /** An admin grants the bot a permission in a channel (for a thread: in its parent). */
  grantPermission(channelId: string, permission: PermissionName): void {
    const target = this.state.setBotAllow(channelId, permission);
    if (target.guildId) {
      this.state.dispatcher.dispatch('CHANNEL_UPDATE', INTENTS.Guilds, () =>
        this.state.apiChannel(target),
      );
    }
    this.state.notify();
  }

  /** An admin denies the bot a permission in a channel (for a thread: in its parent). */
  denyPermission(channelId: string, permission: PermissionName): void {
    this.setPermission(channelId, permission, true);
  }

  allowPermission(channelId: string, permission: PermissionName): void {
    this.setPermission(channelId, permission, false);
  }

  archiveThread(threadId: string, options: { locked?: boolean } = {}): void {
    const channel = this.requireChannel(threadId);
    if (!channel.thread) throw new Error(`Fake Discord: ${threadId} is not a thread`);
    channel.thread.archived = true;
    if (options.locked) channel.thread.locked = true;
    channel.thread.archiveTimestamp = this.state.timestamp();
    this.state.dispatcher.dispatch('THREAD_UPDATE', INTENTS.Guilds, () =>
      this.state.apiChannel(channel),
    );
    this.state.notify();
  }

  /** Per-attachment upload limit for one guild, or for all (and DMs) without a guild id. */
  setUploadLimit(bytes: number, guildId?: string): void {
    if (guildId === undefined) {
      this.state.uploadLimitOverride = bytes;
      return;
    }
    const guild = this.state.guilds.get(guildId);
    if (!guild) throw new Error(`Fake Discord: unknown guild ${guildId}`);
    guild.attachmentSizeLimit = bytes;
  }

  expireAttachmentUrls(): void {
    this.state.expireAttachmentUrls();
  }

  disconnectGateway(code = 4000): void {
    this.gateway.disconnect(code);
  }

  /** The next call to `route` (e.g. `POST /channels/:channelId/messages`) answers `status`. */
  failNext(route: string, status: number): void {
    this.faults.set(route, [...(this.faults.get(route) ?? []), status]);
  }

  /**
   * The next call to `route` answers 429 for the bot's global rate limit, as Discord does when a
   * bot spends its ~50 requests per second: `X-RateLimit-Global`, `Retry-After` in seconds.
   * discord.js then holds every bot-token call of that REST client for that long.
   */
  failNextGlobally(route: string, retryAfterSeconds: number): void {
    this.faults.set(route, [
      ...(this.faults.get(route) ?? []),
      { globalRateLimitSeconds: retryAfterSeconds },
    ]);
  }

  /**
   * The next call to `route` waits, unanswered, until the returned function is called (or the
   * fake closes): a test can then act while the bot is in the middle of something.
   */
  holdNext(route: string): () => void {
    let release = (): void => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.holds.set(route, [...(this.holds.get(route) ?? []), { held, release }]);
    return release;
  }

  /** Closes the HTTP and WebSocket servers and ends pending waits; leaves no timers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of [...this.waiters]) waiter.cancel(new Error('Fake Discord: closed'));
    for (const held of this.holds.values()) for (const { release } of held) release();
    await this.gateway.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
    });
  }

  // ---------------------------------------------------------------- HTTP

  private async onRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.cdnUrl);
    try {
      if (url.pathname.startsWith('/api/')) await this.onRest(request, response, url);
      else await this.onCdn(request, response, url);
    } catch (error) {
      this.internalErrors.push(error);
      if (!response.headersSent) {
        sendJson(response, 500, { message: '500: Internal Server Error', code: 0 });
      } else {
        response.destroy();
      }
    }
  }

  private async onRest(
    request: IncomingMessage,
    response: ServerResponse,
    url: URL,
  ): Promise<void> {
    const method = request.method ?? 'GET';
    const raw = await readBody(request, this.state.maxRequestBytes + MIB);
    const rawSegments = url.pathname.split('/').filter(Boolean).slice(1);
    const version = rawSegments.shift();
    let segments: string[];
    try {
      segments = rawSegments.map((segment) => decodeURIComponent(segment));
    } catch {
      segments = rawSegments;
    }
    const path = `/${segments.join('/')}`;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const call: RecordedRestCall = {
      method,
      path,
      route: `${method} <unknown>`,
      query: Object.fromEntries(url.searchParams),
      headers,
      json: undefined,
      files: [],
      status: 0,
      response: undefined,
      at: this.state.now(),
    };
    const answer = (status: number, body?: unknown): void => {
      call.status = status;
      call.response = body;
      this.calls.push(call);
      this.state.notify();
      if (body === undefined) response.writeHead(status).end();
      else sendJson(response, status, body);
    };

    let body: RequestBody = { json: undefined, files: [], totalBytes: raw.totalBytes };
    if (raw.truncated) {
      // Too big to even look at, as Discord's edge answers.
      const reply = errors.tooLarge();
      answer(reply.status, reply.body);
      return;
    }
    try {
      body = await parseBody(raw.bytes, request.headers['content-type'], raw.totalBytes);
    } catch (error) {
      if (!(error instanceof BodyParseError)) throw error;
      const reply = errors.invalidJson();
      answer(reply.status, reply.body);
      return;
    }
    call.json = body.json;
    call.files = body.files.map((file) => ({
      name: file.name,
      contentType: file.contentType,
      bytes: file.bytes,
    }));

    const match =
      version === 'v10' ? matchRoute(method, segments) : ({ kind: 'not-found' } as const);
    if (match.kind !== 'found') {
      if (match.kind === 'method-not-allowed') call.route = match.name;
      const reply =
        match.kind === 'method-not-allowed' ? errors.methodNotAllowed() : errors.notFound();
      answer(reply.status, reply.body);
      return;
    }
    call.route = match.name;
    const hold = this.holds.get(match.name)?.shift();
    if (hold !== undefined) {
      this.heldCalls.push(call);
      this.state.notify();
      await hold.held;
      this.heldCalls.splice(this.heldCalls.indexOf(call), 1);
    }
    const fault = this.faults.get(match.name)?.shift();
    if (typeof fault === 'number') {
      answer(fault, { message: `${fault}: Injected fault`, code: 0 });
      return;
    }
    if (fault !== undefined) {
      const seconds = fault.globalRateLimitSeconds;
      response.setHeader('retry-after', String(Math.ceil(seconds)));
      response.setHeader('x-ratelimit-global', 'true');
      response.setHeader('x-ratelimit-scope', 'global');
      answer(429, { message: 'You are being rate limited.', retry_after: seconds, global: true });
      return;
    }
    if (match.route.auth && headers.authorization !== `Bot ${this.state.botToken}`) {
      const reply = errors.unauthorized();
      answer(reply.status, reply.body);
      return;
    }
    const reply = match.route.handle(
      { state: this.state, gatewayUrl: this.gatewayUrl },
      { method, segments, query: url.searchParams, headers: request.headers, body },
      match.params,
    );
    answer(reply.status, reply.body);
  }

  private async onCdn(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const method = request.method ?? 'GET';
    // Downloads carry no body; drain anything sent so the connection stays usable.
    await readBody(request, 0);
    const segments = url.pathname.split('/').filter(Boolean);
    if (segments[0] === 'media') segments.shift();
    const isAttachmentPath =
      segments.length === 4 &&
      (segments[0] === 'attachments' || segments[0] === 'ephemeral-attachments');
    const attachment =
      isAttachmentPath && (method === 'GET' || method === 'HEAD')
        ? this.state.cdnLookup(segments[2] ?? '', url.searchParams.get('hm'))
        : undefined;
    const status = attachment ? 200 : 404;
    this.cdnCalls.push({
      method,
      path: `${url.pathname}${url.search}`,
      status,
      at: this.state.now(),
    });
    this.state.notify();
    if (!attachment) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      response.end('This content is no longer available.');
      return;
    }
    response.writeHead(200, {
      'content-type': attachment.content_type ?? 'application/octet-stream',
      'content-length': String(attachment.bytes.length),
      'cache-control': 'public, max-age=31536000',
    });
    response.end(method === 'HEAD' ? undefined : attachment.bytes);
  }

  // ---------------------------------------------------------------- helpers

  private requireChannel(channelId: string): ChannelRecord {
    const channel = this.state.channels.get(channelId);
    if (!channel) throw new Error(`Fake Discord: unknown channel ${channelId}`);
    return channel;
  }

  private requireMessage(messageId: string): FakeMessage {
    const message = this.state.messagesById.get(messageId);
    if (!message || message.deleted) throw new Error(`Fake Discord: unknown message ${messageId}`);
    return message;
  }

  private resolveActor(spec: FakeActorSpec): Actor {
    const guildChannel = spec.guildId
      ? this.state.guilds.get(spec.guildId)?.channelIds[0]
      : undefined;
    const channel = this.requireChannel(spec.channelId ?? guildChannel ?? this.channelId);
    if (spec.guildId && channel.guildId !== spec.guildId) {
      throw new Error(`Fake Discord: channel ${channel.id} is not in guild ${spec.guildId}`);
    }
    const guild = channel.guildId ? this.state.guilds.get(channel.guildId) : undefined;
    const userId =
      spec.userId ??
      (guild ? this.state.firstHumanMember(guild) : channel.recipientId) ??
      this.userId;
    this.state.ensureUser(userId);
    return {
      channelId: channel.id,
      guildId: guild?.id,
      userId,
      locale: spec.locale,
      memberPermissions: spec.memberPermissions
        ? permissionBits(spec.memberPermissions)
        : undefined,
    };
  }

  private findCommand(
    name: string,
    type: number,
    guildId: string | undefined,
  ): JsonObject | undefined {
    const scopes = guildId ? [guildId, 'global'] : ['global'];
    for (const scope of scopes) {
      const command = (this.state.commands.get(scope) ?? []).find(
        (entry) => entry.name === name && entry.type === type,
      );
      if (command) return command;
    }
    return undefined;
  }

  /** One option of a slash command, typed as registered (or from the value) and resolved. */
  private commandOption(
    name: string,
    value: FakeOptionValue,
    declared: readonly JsonObject[],
    actor: Actor,
    resolved: Record<string, Record<string, unknown>>,
  ): JsonObject {
    const declaredType = declared.find((option) => option.name === name)?.type;
    if (isAttachmentSpec(value)) {
      // Slash-command uploads are ephemeral attachments until the bot reposts them.
      const attachment = this.state.storeAttachment(value, actor.channelId, true);
      resolved.attachments = {
        ...resolved.attachments,
        [attachment.id]: this.state.apiAttachment(attachment),
      };
      return { name, type: 11, value: attachment.id };
    }
    const type = typeof declaredType === 'number' ? declaredType : inferOptionType(value);
    const id = String(value);
    if (type === 6 || (type === 9 && this.state.users.has(id))) {
      resolved.users = { ...resolved.users, [id]: this.state.apiUser(id) };
      const member = actor.guildId ? this.state.apiMember(actor.guildId, id, false) : undefined;
      if (member && actor.guildId) {
        const permissions = this.state.permissionsIn(actor.channelId, id).toString();
        resolved.members = { ...resolved.members, [id]: { ...member, permissions } };
      }
    } else if (type === 7) {
      const channel = this.state.channels.get(id);
      if (channel) {
        const permissions = this.state.permissionsIn(channel.id, actor.userId).toString();
        resolved.channels = {
          ...resolved.channels,
          [id]: { ...this.state.apiChannel(channel), permissions },
        };
      }
    } else if (type === 8 || type === 9) {
      const guild = actor.guildId ? this.state.guilds.get(actor.guildId) : undefined;
      const role = guild ? this.state.apiRoles(guild).find((entry) => entry.id === id) : undefined;
      if (role) resolved.roles = { ...resolved.roles, [id]: role };
    }
    return { name, type, value };
  }

  private dispatchInteraction(
    type: number,
    actor: Actor,
    data: JsonObject,
    extra: { commandType?: number; sourceMessage?: FakeMessage },
  ): FakeInteraction {
    const id = this.state.nextId();
    const token = `aW50ZXJhY3Rpb246${randomBytes(96).toString('base64url')}`;
    const payload: JsonObject = {
      ...this.state.interactionContext(actor),
      id,
      token,
      type,
      data,
    };
    if (extra.sourceMessage) {
      payload.message = this.state.apiMessage(extra.sourceMessage, {
        contentIntent: true,
        visibility: 'full',
      });
    }
    const record: InteractionRecord = {
      id,
      token,
      type,
      channelId: actor.channelId,
      guildId: actor.guildId,
      userId: actor.userId,
      createdAt: this.state.now(),
      payload,
      commandType: extra.commandType,
      sourceMessageId: extra.sourceMessage?.id,
      callbacks: [],
      originalMessageId: undefined,
      followupIds: [],
      modal: undefined,
      expired: false,
    };
    this.state.interactions.set(id, record);
    this.state.interactionsByToken.set(token, record);
    this.state.dispatcher.dispatch('INTERACTION_CREATE', undefined, () => structuredClone(payload));
    this.state.notify();
    return {
      id,
      token,
      type,
      channelId: actor.channelId,
      guildId: actor.guildId,
      userId: actor.userId,
      payload,
    };
  }

  private setPermission(channelId: string, permission: PermissionName, denied: boolean): void {
    const target = this.state.setBotDeny(channelId, permission, denied);
    if (target.guildId) {
      this.state.dispatcher.dispatch('CHANNEL_UPDATE', INTENTS.Guilds, () =>
        this.state.apiChannel(target),
      );
    }
    this.state.notify();
  }
}

/**
 * READY, then one GUILD_CREATE per guild when the session asked for the Guilds intent: the guilds
 * of the session's shard only, as Discord sends them.
 */
function identifyEvents(
  state: FakeDiscordState,
  session: GatewaySession,
  gatewayUrl: string,
): { t: string; d: JsonObject }[] {
  const [shardId, shardCount] = session.shard;
  const guilds = [...state.guilds.values()].filter(
    (guild) => shardOf(guild.id, shardCount) === shardId,
  );
  const ready: JsonObject = {
    v: 10,
    user: {
      ...state.apiUser(state.botUserId),
      verified: true,
      mfa_enabled: false,
      flags: 0,
      email: null,
    },
    user_settings: {},
    private_channels: [],
    presences: [],
    relationships: [],
    guild_join_requests: [],
    geo_ordered_rtc_regions: ['fake'],
    guilds: guilds.map((guild) => ({ id: guild.id, unavailable: true })),
    session_type: 'normal',
    session_id: session.id,
    resume_gateway_url: gatewayUrl,
    shard: [shardId, shardCount],
    application: {
      id: state.applicationId,
      flags: (state.messageContentAllowed ? 1 << 19 : 0) | (1 << 23),
    },
    auth: {},
    _trace: ['["fake-gateway"]'],
  };
  const events = [{ t: 'READY', d: ready }];
  if ((session.intents & INTENTS.Guilds) !== 0) {
    for (const guild of guilds) events.push({ t: 'GUILD_CREATE', d: state.gatewayGuild(guild) });
  }
  return events;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
  });
  response.end(text);
}

function isAttachmentSpec(value: FakeOptionValue): value is FakeAttachmentSpec {
  return typeof value === 'object' && Buffer.isBuffer(value.bytes);
}

function inferOptionType(value: string | number | boolean): number {
  if (typeof value === 'boolean') return 5;
  if (typeof value === 'number') return Number.isInteger(value) ? 4 : 10;
  return 3;
}

function hasComponent(components: readonly unknown[], customId: string): boolean {
  // Components nest (rows, sections, containers), but a message holds at most 40 of them.
  return components.some((component) => {
    if (!isRecord(component)) return false;
    if (component.custom_id === customId) return true;
    const children = Array.isArray(component.components) ? component.components : [];
    const accessory = isRecord(component.accessory) ? [component.accessory] : [];
    return hasComponent([...children, ...accessory], customId);
  });
}

/**
 * A modal submission shaped like the modal the bot showed: Label-wrapped inputs (type 18) come
 * back as `{type: 18, component}`, action rows as `{type: 1, components}`. Unknown modal: rows.
 */
function modalSubmitComponents(
  modal: JsonObject | undefined,
  fields: Record<string, string>,
): JsonObject[] {
  const shown = Array.isArray(modal?.components) ? modal.components.filter(isRecord) : [];
  let nextId = 1;
  const textInput = (input: JsonObject): JsonObject => {
    const customId = String(input.custom_id ?? '');
    return {
      type: 4,
      id: input.id ?? nextId++,
      custom_id: customId,
      value: fields[customId] ?? '',
    };
  };
  if (shown.length === 0) {
    return Object.keys(fields).map((customId) => ({
      type: 1,
      id: nextId++,
      components: [textInput({ custom_id: customId })],
    }));
  }
  const known = new Set<string>();
  const result = shown.map((component) => {
    const id = component.id ?? nextId++;
    if (component.type === 18 && isRecord(component.component)) {
      known.add(String(component.component.custom_id ?? ''));
      return { type: 18, id, component: textInput(component.component) };
    }
    const inputs = Array.isArray(component.components) ? component.components.filter(isRecord) : [];
    for (const input of inputs) known.add(String(input.custom_id ?? ''));
    return { type: 1, id, components: inputs.map(textInput) };
  });
  const unknown = Object.keys(fields).filter((customId) => !known.has(customId));
  if (unknown.length > 0) {
    throw new Error(`Fake Discord: the modal shown has no inputs ${unknown.join(', ')}`);
  }
  return result;
}
