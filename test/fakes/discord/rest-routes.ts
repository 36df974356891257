/**
 * The REST API v10 routes the fake serves, with Discord's answers for the unhappy paths a bot
 * meets: missing permissions, archived threads, upload limits, second acknowledgements, expired
 * interaction tokens. Paths are matched after decoding (discord.js sends `@original` as
 * `%40original`).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { type ApiReply, errors, FormErrors, formError } from './api-errors.js';
import { resolveMentions } from './mentions.js';
import {
  CHANNEL_MESSAGE_FLAGS,
  INTERACTION_MESSAGE_FLAGS,
  isRecord,
  MESSAGE_FLAGS,
  type MessageInput,
  readMessageInput,
} from './message-payload.js';
import type { RequestBody, UploadedFile } from './multipart.js';
import {
  CHANNEL_TYPES,
  type ChannelRecord,
  type FakeDiscordState,
  INTERACTION_TOKEN_LIFETIME_MS,
  type InteractionRecord,
  type MessageDraft,
} from './state.js';
import {
  type FakeAttachment,
  type FakeMessage,
  type FakeUser,
  INTENTS,
  type JsonObject,
  type PermissionName,
} from './types.js';

export interface RestRequest {
  method: string;
  /** Decoded path segments after `/api/v10`. */
  segments: string[];
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: RequestBody;
}

export interface RouteContext {
  state: FakeDiscordState;
  /** `ws://127.0.0.1:PORT`, handed out by GET /gateway/bot. */
  gatewayUrl: string;
}

type Params = Record<string, string>;
/**
 * Handlers are synchronous on purpose: the call is recorded in the same turn as the state
 * changes, so a test woken by the change already sees the call.
 */
type Handler = (context: RouteContext, request: RestRequest, params: Params) => ApiReply;

interface RouteDefinition {
  method: string;
  pattern: string;
  /** Whether the bot token is required (interaction callbacks and webhooks carry none). */
  auth: boolean;
  handle: Handler;
}

export type RouteMatch =
  | { kind: 'found'; route: RouteDefinition; params: Params; name: string }
  | { kind: 'method-not-allowed'; name: string }
  | { kind: 'not-found' };

export function matchRoute(method: string, segments: readonly string[]): RouteMatch {
  let pathMatched: string | undefined;
  for (const route of ROUTES) {
    const params = matchPattern(route.pattern, segments);
    if (!params) continue;
    if (route.method === method) {
      return { kind: 'found', route, params, name: `${route.method} ${route.pattern}` };
    }
    pathMatched ??= route.pattern;
  }
  return pathMatched
    ? { kind: 'method-not-allowed', name: `${method} ${pathMatched}` }
    : { kind: 'not-found' };
}

function matchPattern(pattern: string, segments: readonly string[]): Params | undefined {
  const parts = pattern.split('/').filter(Boolean);
  if (parts.length !== segments.length) return undefined;
  const params: Params = {};
  for (const [index, part] of parts.entries()) {
    const segment = segments[index] ?? '';
    if (part.startsWith(':')) params[part.slice(1)] = segment;
    else if (part !== segment) return undefined;
  }
  return params;
}

function ok(body: unknown, status = 200): ApiReply {
  return { status, body };
}

const NO_CONTENT: ApiReply = { status: 204 };

// ------------------------------------------------------------------ shared message helpers

function restView(state: FakeDiscordState) {
  // REST reads follow the developer-portal switch, not what the gateway session asked for.
  return { contentIntent: state.messageContentAllowed };
}

function botAuthor(state: FakeDiscordState): FakeUser {
  return state.apiUser(state.botUserId);
}

/**
 * The attachments a create or edit ends with. `attachments[]` in the payload names what to keep
 * (existing ids) and describes uploads (`files[n]` by id n); uploads it does not name are added.
 */
function resolveAttachments(
  state: FakeDiscordState,
  input: MessageInput,
  files: readonly UploadedFile[],
  channelId: string,
  existing: readonly FakeAttachment[],
): FakeAttachment[] | ApiReply {
  const uploads = new Map(files.map((file) => [String(file.index), file]));
  const store = (file: UploadedFile, filename?: string, description?: string): FakeAttachment =>
    state.storeAttachment(
      {
        filename: filename ?? file.name,
        bytes: file.bytes,
        contentType: file.contentType,
        ...(description === undefined ? {} : { description }),
      },
      channelId,
      false,
    );
  if (!input.attachments) {
    return [...existing, ...files.map((file) => store(file))];
  }
  const result: FakeAttachment[] = [];
  const problems = new FormErrors();
  input.attachments.forEach((entry, index) => {
    const kept = existing.find((attachment) => attachment.id === entry.id);
    if (kept) {
      result.push(kept);
      return;
    }
    const upload = uploads.get(entry.id);
    if (!upload) {
      problems.add(['attachments', index, 'id'], 'ATTACHMENT_NOT_FOUND', 'Unknown attachment');
      return;
    }
    uploads.delete(entry.id);
    result.push(store(upload, entry.filename, entry.description));
  });
  if (!problems.isEmpty) return problems.toReply();
  for (const upload of uploads.values()) result.push(store(upload));
  return result;
}

function isEmptyMessage(message: {
  content: string;
  embeds: unknown[];
  components: unknown[];
  attachments: unknown[];
  poll?: unknown;
}): boolean {
  return (
    message.content.trim() === '' &&
    message.embeds.length === 0 &&
    message.components.length === 0 &&
    message.attachments.length === 0 &&
    message.poll === undefined
  );
}

function channelGuard(
  state: FakeDiscordState,
  channelId: string,
): { channel: ChannelRecord } | { reply: ApiReply } {
  const channel = state.channels.get(channelId);
  if (!channel) return { reply: errors.unknownChannel() };
  if (!state.can(channel.id, state.botUserId, 'VIEW_CHANNEL'))
    return { reply: errors.missingAccess() };
  return { channel };
}

function requirePermissions(
  state: FakeDiscordState,
  channelId: string,
  permissions: readonly PermissionName[],
): ApiReply | undefined {
  for (const permission of permissions) {
    if (!state.can(channelId, state.botUserId, permission)) return errors.missingPermissions();
  }
  return undefined;
}

function threadWritable(channel: ChannelRecord): ApiReply | undefined {
  if (channel.thread?.archived) return errors.threadArchived();
  if (channel.thread?.locked) return errors.threadLocked();
  return undefined;
}

/** Applies an edit in place; returns an error reply when Discord would refuse it. */
function applyEdit(
  state: FakeDiscordState,
  message: FakeMessage,
  input: MessageInput,
  files: readonly UploadedFile[],
): ApiReply | undefined {
  const attachments = resolveAttachments(
    state,
    input,
    files,
    message.channel_id,
    message.attachments,
  );
  if (!Array.isArray(attachments)) return attachments;
  const next = {
    content: input.content ?? message.content,
    embeds: input.embeds ?? message.embeds,
    components: input.components ?? message.components,
    attachments,
    ...(message.poll ? { poll: message.poll } : {}),
  };
  if (isEmptyMessage(next)) return errors.emptyMessage();
  if (input.content !== undefined && input.content !== message.content) {
    const referenced = message.message_reference
      ? state.messagesById.get(message.message_reference.message_id)
      : undefined;
    const keepsReplyPing = referenced
      ? message.mentions.some((user) => user.id === referenced.author.id)
      : false;
    // Discord recomputes who the new text pings, with the edit's allowed_mentions.
    Object.assign(
      message,
      resolveMentions(state, {
        content: input.content,
        allowedMentions: input.allowedMentions,
        channelId: message.channel_id,
        repliedTo: keepsReplyPing ? referenced : undefined,
      }),
    );
  }
  message.content = next.content;
  message.embeds = next.embeds;
  message.components = next.components;
  message.attachments = attachments;
  if (input.flags !== undefined) {
    // Only the suppress and components-v2 flags can change on an edit.
    const editable = MESSAGE_FLAGS.SUPPRESS_EMBEDS | MESSAGE_FLAGS.IS_COMPONENTS_V2;
    message.flags = (message.flags & ~editable) | (input.flags & editable);
  }
  message.flags &= ~MESSAGE_FLAGS.LOADING;
  state.messageEdited(message);
  return undefined;
}

// ------------------------------------------------------------------ gateway, users, apps

const getGatewayBot: Handler = ({ state, gatewayUrl }) =>
  ok({
    url: gatewayUrl,
    shards: state.gatewayShards,
    session_start_limit: {
      total: 1000,
      remaining: 999,
      reset_after: 14_400_000,
      max_concurrency: state.maxConcurrency,
    },
  });

const getGateway: Handler = ({ gatewayUrl }) => ok({ url: gatewayUrl });

const getCurrentUser: Handler = ({ state }) =>
  ok({
    ...botAuthor(state),
    flags: 0,
    banner: null,
    accent_color: null,
    locale: 'en-US',
    mfa_enabled: false,
    verified: true,
    email: null,
    bio: '',
  });

const getUser: Handler = ({ state }, _request, { userId = '' }) => {
  const user = state.users.get(userId);
  return user ? ok({ ...user.user }) : errors.unknownUser();
};

const createDm: Handler = ({ state }, request) => {
  const body = isRecord(request.body.json) ? request.body.json : {};
  const recipientId = typeof body.recipient_id === 'string' ? body.recipient_id : undefined;
  if (!recipientId)
    return formError(['recipient_id'], 'BASE_TYPE_REQUIRED', 'This field is required');
  if (!state.users.has(recipientId)) return errors.unknownUser();
  return ok(state.apiChannel(state.dmChannel(recipientId)));
};

const getApplication: Handler = ({ state }) =>
  ok({
    id: state.applicationId,
    name: botAuthor(state).username,
    icon: null,
    description: '',
    summary: '',
    type: null,
    bot_public: true,
    bot_require_code_grant: false,
    verify_key: '0'.repeat(64),
    team: null,
    // GATEWAY_MESSAGE_CONTENT_LIMITED (1 << 19) is what an unverified app with the switch on has.
    flags: (state.messageContentAllowed ? 1 << 19 : 0) | (1 << 23),
    approximate_guild_count: state.guilds.size,
    integration_types_config: { '0': {} },
    bot: botAuthor(state),
    owner: {
      id: '0',
      username: 'owner',
      discriminator: '0',
      global_name: null,
      avatar: null,
      public_flags: 0,
    },
  });

// ------------------------------------------------------------------ commands

function checkApplication(
  state: FakeDiscordState,
  applicationId: string | undefined,
): ApiReply | undefined {
  return applicationId === state.applicationId ? undefined : errors.missingAccess();
}

function commandScope(
  state: FakeDiscordState,
  params: Params,
): { scope: string } | { reply: ApiReply } {
  const refused = checkApplication(state, params.applicationId);
  if (refused) return { reply: refused };
  if (params.guildId === undefined) return { scope: 'global' };
  if (!state.guilds.has(params.guildId)) return { reply: errors.missingAccess() };
  return { scope: params.guildId };
}

const NAME_PATTERN = /^[-_'\p{L}\p{N}]{1,32}$/u;
/** User and message commands (context menus) may have spaces and capitals, as on Discord. */
const CONTEXT_MENU_NAME_PATTERN = /^[-_' \p{L}\p{N}]{1,32}$/u;

function checkCommandOptions(
  options: unknown,
  path: (string | number)[],
  problems: FormErrors,
): void {
  if (!Array.isArray(options)) return;
  if (options.length > 25)
    problems.add(path, 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
  let sawOptional = false;
  options.forEach((option, index) => {
    if (!isRecord(option)) return;
    const optionPath = [...path, index];
    const name = typeof option.name === 'string' ? option.name : '';
    if (!NAME_PATTERN.test(name) || name !== name.toLowerCase()) {
      problems.add(
        [...optionPath, 'name'],
        'APPLICATION_COMMAND_INVALID_NAME',
        'Command name is invalid',
      );
    }
    const description = typeof option.description === 'string' ? option.description : '';
    if (description.length < 1 || description.length > 100) {
      problems.add(
        [...optionPath, 'description'],
        'BASE_TYPE_BAD_LENGTH',
        'Must be between 1 and 100 in length.',
      );
    }
    if (option.required === true && sawOptional) {
      problems.add(
        [...optionPath, 'required'],
        'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID',
        'Required options must be placed before non-required options',
      );
    }
    if (option.required !== true) sawOptional = true;
    if (Array.isArray(option.choices) && option.choices.length > 25) {
      problems.add(
        [...optionPath, 'choices'],
        'BASE_TYPE_MAX_LENGTH',
        'Must be 25 or fewer in length.',
      );
    }
    checkCommandOptions(option.options, [...optionPath, 'options'], problems);
  });
}

function buildCommand(
  state: FakeDiscordState,
  scope: string,
  input: unknown,
  path: (string | number)[],
  problems: FormErrors,
): JsonObject | undefined {
  if (!isRecord(input)) {
    problems.add(path, 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
    return undefined;
  }
  const type = typeof input.type === 'number' ? input.type : 1;
  const name = typeof input.name === 'string' ? input.name : '';
  const namePattern = type === 1 ? NAME_PATTERN : CONTEXT_MENU_NAME_PATTERN;
  if (!namePattern.test(name) || (type === 1 && name !== name.toLowerCase())) {
    problems.add([...path, 'name'], 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
  }
  const description = typeof input.description === 'string' ? input.description : '';
  if (type === 1 && (description.length < 1 || description.length > 100)) {
    problems.add(
      [...path, 'description'],
      'BASE_TYPE_BAD_LENGTH',
      'Must be between 1 and 100 in length.',
    );
  }
  checkCommandOptions(input.options, [...path, 'options'], problems);
  const existing = (state.commands.get(scope) ?? []).find(
    (command) => command.name === name && command.type === type,
  );
  const command: JsonObject = {
    id: existing?.id ?? state.nextId(),
    application_id: state.applicationId,
    version: state.nextId(),
    default_member_permissions: input.default_member_permissions ?? null,
    type,
    name,
    name_localizations: input.name_localizations ?? null,
    description: type === 1 ? description : '',
    description_localizations: input.description_localizations ?? null,
    contexts: input.contexts ?? null,
    integration_types: input.integration_types ?? [0],
    nsfw: input.nsfw ?? false,
  };
  if (scope === 'global') command.dm_permission = input.dm_permission ?? true;
  else command.guild_id = scope;
  if (Array.isArray(input.options)) command.options = structuredClone(input.options);
  return command;
}

const listCommands: Handler = ({ state }, _request, params) => {
  const scope = commandScope(state, params);
  if ('reply' in scope) return scope.reply;
  return ok(state.commands.get(scope.scope) ?? []);
};

const overwriteCommands: Handler = ({ state }, request, params) => {
  const scope = commandScope(state, params);
  if ('reply' in scope) return scope.reply;
  const body = request.body.json;
  if (!Array.isArray(body))
    return formError([], 'LIST_TYPE_CONVERT', 'Only iterables may be used in a ListType');
  const problems = new FormErrors();
  const commands = body
    .map((entry, index) => buildCommand(state, scope.scope, entry, [index], problems))
    .filter((command): command is JsonObject => command !== undefined);
  if (!problems.isEmpty) return problems.toReply();
  state.commands.set(scope.scope, commands);
  state.notify();
  return ok(commands);
};

const createCommand: Handler = ({ state }, request, params) => {
  const scope = commandScope(state, params);
  if ('reply' in scope) return scope.reply;
  const problems = new FormErrors();
  const command = buildCommand(state, scope.scope, request.body.json, [], problems);
  if (!command || !problems.isEmpty) return problems.toReply();
  const list = state.commands.get(scope.scope) ?? [];
  const index = list.findIndex((entry) => entry.id === command.id);
  if (index >= 0) list[index] = command;
  else list.push(command);
  state.commands.set(scope.scope, list);
  state.notify();
  return ok(command, index >= 0 ? 200 : 201);
};

const getCommand: Handler = ({ state }, _request, params) => {
  const scope = commandScope(state, params);
  if ('reply' in scope) return scope.reply;
  const command = (state.commands.get(scope.scope) ?? []).find(
    (entry) => entry.id === params.commandId,
  );
  return command ? ok(command) : errors.unknownCommand();
};

const editCommand: Handler = ({ state }, request, params) => {
  const scope = commandScope(state, params);
  if ('reply' in scope) return scope.reply;
  const list = state.commands.get(scope.scope) ?? [];
  const index = list.findIndex((entry) => entry.id === params.commandId);
  const current = list[index];
  if (!current) return errors.unknownCommand();
  const patch = isRecord(request.body.json) ? request.body.json : {};
  const updated = { ...current, ...patch, id: current.id, version: state.nextId() };
  list[index] = updated;
  state.notify();
  return ok(updated);
};

const deleteCommand: Handler = ({ state }, _request, params) => {
  const scope = commandScope(state, params);
  if ('reply' in scope) return scope.reply;
  const list = state.commands.get(scope.scope) ?? [];
  const index = list.findIndex((entry) => entry.id === params.commandId);
  if (index < 0) return errors.unknownCommand();
  list.splice(index, 1);
  state.notify();
  return NO_CONTENT;
};

// ------------------------------------------------------------------ interactions

/** The interaction behind a callback URL; 10062 when unknown, expired or too late. */
function callbackInteraction(
  state: FakeDiscordState,
  params: Params,
): { interaction: InteractionRecord } | { reply: ApiReply } {
  const interaction = state.interactions.get(params.interactionId ?? '');
  if (!interaction || interaction.token !== params.token || interaction.expired) {
    return { reply: errors.unknownInteraction() };
  }
  const late =
    state.ackDeadlineMs !== undefined && state.now() - interaction.createdAt > state.ackDeadlineMs;
  return late ? { reply: errors.unknownInteraction() } : { interaction };
}

/** The interaction behind a webhook URL; 401 50027 once the token is invalid or 15 min old. */
function webhookInteraction(
  state: FakeDiscordState,
  params: Params,
): { interaction: InteractionRecord } | { reply: ApiReply } {
  if (params.applicationId !== state.applicationId) return { reply: errors.unknownWebhook() };
  const interaction = state.interactionsByToken.get(params.token ?? '');
  if (!interaction || interaction.expired) return { reply: errors.invalidWebhookToken() };
  if (interaction.webhookRemoved) return { reply: errors.unknownWebhook() };
  if (state.now() - interaction.createdAt > INTERACTION_TOKEN_LIFETIME_MS) {
    return { reply: errors.invalidWebhookToken() };
  }
  return { interaction };
}

/** Which callback types Discord accepts for which interaction types. */
function allowedCallbackTypes(interaction: InteractionRecord): Set<number> {
  switch (interaction.type) {
    case 1:
      return new Set([1]);
    case 2:
      return new Set([4, 5, 9, 12]);
    case 3:
      return new Set([4, 5, 6, 7, 9, 12]);
    case 4:
      return new Set([8]);
    case 5:
      return new Set(interaction.sourceMessageId ? [4, 5, 6, 7] : [4, 5]);
    default:
      return new Set();
  }
}

function interactionDraft(
  state: FakeDiscordState,
  interaction: InteractionRecord,
  fields: Pick<
    MessageDraft,
    | 'content'
    | 'embeds'
    | 'components'
    | 'attachments'
    | 'flags'
    | 'mentions'
    | 'mention_roles'
    | 'mention_everyone'
  > & {
    poll?: JsonObject;
  },
): MessageDraft {
  const isCommand = interaction.type === 2;
  const commandName =
    isCommand && isRecord(interaction.payload.data) ? interaction.payload.data.name : undefined;
  const metadata: JsonObject = {
    id: interaction.id,
    type: interaction.type,
    user: state.apiUser(interaction.userId),
    authorizing_integration_owners: { '0': interaction.guildId ?? '0' },
  };
  if (typeof commandName === 'string') metadata.name = commandName;
  if (interaction.commandType !== undefined) metadata.command_type = interaction.commandType;
  if (interaction.originalMessageId)
    metadata.original_response_message_id = interaction.originalMessageId;
  if (interaction.type === 3 && interaction.sourceMessageId) {
    metadata.interacted_message_id = interaction.sourceMessageId;
  }
  const draft: MessageDraft = {
    ...fields,
    channel_id: interaction.channelId,
    type: isCommand ? (interaction.commandType === 1 ? 20 : 23) : 19,
    author: botAuthor(state),
    webhook_id: state.applicationId,
    application_id: state.applicationId,
    interaction_metadata: metadata,
  };
  if (interaction.guildId) draft.guild_id = interaction.guildId;
  if (!isCommand && interaction.sourceMessageId) {
    // A reply to a component or modal shows as a reply to the message it was on.
    draft.message_reference = {
      type: 0,
      message_id: interaction.sourceMessageId,
      channel_id: interaction.channelId,
      ...(interaction.guildId ? { guild_id: interaction.guildId } : {}),
    };
  } else if (!isCommand) {
    draft.type = 0;
  }
  return draft;
}

function readInput(json: unknown, flags: number): { input: MessageInput } | { reply: ApiReply } {
  const result = readMessageInput(json, flags);
  return result.ok ? { input: result.input } : { reply: result.reply };
}

function createInteractionMessage(
  state: FakeDiscordState,
  interaction: InteractionRecord,
  json: unknown,
  files: readonly UploadedFile[],
): { message: FakeMessage } | { reply: ApiReply } {
  const read = readInput(json, INTERACTION_MESSAGE_FLAGS);
  if ('reply' in read) return read;
  const { input } = read;
  const attachments = resolveAttachments(state, input, files, interaction.channelId, []);
  if (!Array.isArray(attachments)) return { reply: attachments };
  const fields = {
    content: input.content ?? '',
    embeds: input.embeds ?? [],
    components: input.components ?? [],
    attachments,
    flags: input.flags ?? 0,
    ...resolveMentions(state, {
      content: input.content ?? '',
      allowedMentions: input.allowedMentions,
      channelId: interaction.channelId,
    }),
    ...(input.poll ? { poll: input.poll } : {}),
  };
  if (isEmptyMessage(fields)) return { reply: errors.emptyMessage() };
  return { message: state.createMessage(interactionDraft(state, interaction, fields)) };
}

const interactionCallback: Handler = ({ state }, request, params) => {
  const found = callbackInteraction(state, params);
  if ('reply' in found) return found.reply;
  const { interaction } = found;
  if (interaction.callbacks.length > 0) return errors.alreadyAcknowledged();
  const body = isRecord(request.body.json) ? request.body.json : {};
  const type = typeof body.type === 'number' ? body.type : -1;
  if (!allowedCallbackTypes(interaction).has(type)) {
    return formError(
      ['type'],
      'INTERACTION_CALLBACK_TYPE_INVALID',
      'Invalid interaction callback type',
    );
  }
  const data = isRecord(body.data) ? body.data : undefined;
  const { files } = request.body;
  const uploadProblem = state.checkUploads(files, request.body.totalBytes, interaction.guildId);
  if (uploadProblem) return uploadProblem;

  switch (type) {
    case 4: {
      const created = createInteractionMessage(state, interaction, data, files);
      if ('reply' in created) return created.reply;
      interaction.originalMessageId = created.message.id;
      break;
    }
    case 5: {
      const ephemeral = typeof data?.flags === 'number' ? data.flags & MESSAGE_FLAGS.EPHEMERAL : 0;
      const loading = state.createMessage(
        interactionDraft(state, interaction, {
          content: '',
          embeds: [],
          components: [],
          attachments: [],
          mentions: [],
          mention_roles: [],
          mention_everyone: false,
          flags: ephemeral | MESSAGE_FLAGS.LOADING,
        }),
      );
      interaction.originalMessageId = loading.id;
      break;
    }
    case 6:
      interaction.originalMessageId = interaction.sourceMessageId;
      break;
    case 7: {
      const source = state.messagesById.get(interaction.sourceMessageId ?? '');
      if (!source || source.deleted) return errors.unknownMessage();
      const read = readInput(data, INTERACTION_MESSAGE_FLAGS);
      if ('reply' in read) return read.reply;
      const refused = applyEdit(state, source, read.input, files);
      if (refused) return refused;
      interaction.originalMessageId = source.id;
      break;
    }
    case 9: {
      const problem = checkModal(data);
      if (problem) return problem;
      interaction.modal = data;
      break;
    }
    default:
      break;
  }
  interaction.callbacks.push({
    type,
    data,
    files: files.map((file) => ({
      name: file.name,
      contentType: file.contentType,
      bytes: file.bytes,
    })),
    at: state.now(),
  });
  state.notify();
  if (request.query.get('with_response') !== 'true') return NO_CONTENT;
  return ok(callbackResponse(state, interaction, type));
};

function checkModal(data: JsonObject | undefined): ApiReply | undefined {
  const problems = new FormErrors();
  const customId = data?.custom_id;
  if (typeof customId !== 'string' || customId.length < 1 || customId.length > 100) {
    problems.add(
      ['data', 'custom_id'],
      'BASE_TYPE_BAD_LENGTH',
      'Must be between 1 and 100 in length.',
    );
  }
  const title = data?.title;
  if (typeof title !== 'string' || title.length < 1 || title.length > 45) {
    problems.add(['data', 'title'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 45 in length.');
  }
  const components = Array.isArray(data?.components) ? data.components : [];
  if (components.length < 1 || components.length > 5) {
    problems.add(
      ['data', 'components'],
      'BASE_TYPE_BAD_LENGTH',
      'Must be between 1 and 5 in length.',
    );
  }
  return problems.isEmpty ? undefined : problems.toReply();
}

/** The `with_response=true` answer (InteractionCallbackResponse). */
function callbackResponse(
  state: FakeDiscordState,
  interaction: InteractionRecord,
  type: number,
): JsonObject {
  const message = interaction.originalMessageId
    ? state.messagesById.get(interaction.originalMessageId)
    : undefined;
  const summary: JsonObject = { id: interaction.id, type: interaction.type };
  const resource: JsonObject = { type };
  if (message && type !== 6) {
    summary.response_message_id = message.id;
    summary.response_message_loading = (message.flags & MESSAGE_FLAGS.LOADING) !== 0;
    summary.response_message_ephemeral = (message.flags & MESSAGE_FLAGS.EPHEMERAL) !== 0;
    resource.message = state.apiMessage(message, { contentIntent: true, visibility: 'full' });
  }
  return { interaction: summary, resource };
}

/** A message reachable through an interaction's webhook: `@original` or one of its own. */
function webhookMessage(
  interaction: InteractionRecord,
  state: FakeDiscordState,
  messageId: string,
) {
  const id = messageId === '@original' ? interaction.originalMessageId : messageId;
  const belongs =
    id !== undefined &&
    (id === interaction.originalMessageId || interaction.followupIds.includes(id));
  const message = belongs ? state.messagesById.get(id) : undefined;
  return message && !message.deleted ? message : undefined;
}

const getWebhookMessage: Handler = ({ state }, _request, params) => {
  const found = webhookInteraction(state, params);
  if ('reply' in found) return found.reply;
  const message = webhookMessage(found.interaction, state, params.messageId ?? '');
  if (!message) return errors.unknownMessage();
  return ok(state.apiMessage(message, { contentIntent: true, visibility: 'full' }));
};

const editWebhookMessage: Handler = ({ state }, request, params) => {
  const found = webhookInteraction(state, params);
  if ('reply' in found) return found.reply;
  const message = webhookMessage(found.interaction, state, params.messageId ?? '');
  if (!message) return errors.unknownMessage();
  const uploadProblem = state.checkUploads(
    request.body.files,
    request.body.totalBytes,
    found.interaction.guildId,
  );
  if (uploadProblem) return uploadProblem;
  const read = readInput(request.body.json, INTERACTION_MESSAGE_FLAGS);
  if ('reply' in read) return read.reply;
  const refused = applyEdit(state, message, read.input, request.body.files);
  if (refused) return refused;
  return ok(state.apiMessage(message, { contentIntent: true, visibility: 'full' }));
};

const deleteWebhookMessage: Handler = ({ state }, _request, params) => {
  const found = webhookInteraction(state, params);
  if ('reply' in found) return found.reply;
  const message = webhookMessage(found.interaction, state, params.messageId ?? '');
  if (!message) return errors.unknownMessage();
  state.deleteMessage(message);
  return NO_CONTENT;
};

const createFollowup: Handler = ({ state }, request, params) => {
  const found = webhookInteraction(state, params);
  if ('reply' in found) return found.reply;
  const { interaction } = found;
  const acknowledged = interaction.callbacks.some(
    (callback) => callback.type !== 9 && callback.type !== 8,
  );
  if (!acknowledged) return errors.unknownWebhook();
  const { files } = request.body;
  const uploadProblem = state.checkUploads(files, request.body.totalBytes, interaction.guildId);
  if (uploadProblem) return uploadProblem;
  const original = interaction.originalMessageId
    ? state.messagesById.get(interaction.originalMessageId)
    : undefined;
  const deferredFirst = interaction.callbacks[0]?.type === 5;
  if (deferredFirst && original && (original.flags & MESSAGE_FLAGS.LOADING) !== 0) {
    // After a deferred reply Discord turns the first follow-up into the "thinking" message,
    // keeping the deferral's ephemeral choice.
    const read = readInput(request.body.json, INTERACTION_MESSAGE_FLAGS);
    if ('reply' in read) return read.reply;
    const refused = applyEdit(state, original, read.input, files);
    if (refused) return refused;
    return ok(state.apiMessage(original, { contentIntent: true, visibility: 'full' }));
  }
  if (original?.deleted && deferredFirst) return errors.unknownMessage();
  const created = createInteractionMessage(state, interaction, request.body.json, files);
  if ('reply' in created) return created.reply;
  interaction.followupIds.push(created.message.id);
  state.notify();
  return ok(state.apiMessage(created.message, { contentIntent: true, visibility: 'full' }));
};

// ------------------------------------------------------------------ channels and messages

const getChannel: Handler = ({ state }, _request, { channelId = '' }) => {
  const guard = channelGuard(state, channelId);
  if ('reply' in guard) return guard.reply;
  return ok(state.apiChannel(guard.channel));
};

const editChannel: Handler = ({ state }, request, { channelId = '' }) => {
  const guard = channelGuard(state, channelId);
  if ('reply' in guard) return guard.reply;
  const { channel } = guard;
  const thread = channel.thread;
  if (!thread) return errors.missingPermissions();
  const body = isRecord(request.body.json) ? request.body.json : {};
  const managesThreads = state.can(channel.id, state.botUserId, 'MANAGE_THREADS');
  const isOwner = thread.ownerId === state.botUserId;
  if (thread.locked && !managesThreads) return errors.threadLocked();
  // An archived thread takes edits only in a request that unarchives it.
  if (thread.archived && body.archived !== false) return errors.threadArchived();
  // Thread owners may lock their own threads (API docs, February 2025), not unlock them.
  if (typeof body.locked === 'boolean' && !managesThreads && !(isOwner && body.locked))
    return errors.missingPermissions();
  if (typeof body.name === 'string' && !isOwner && !managesThreads)
    return errors.missingPermissions();
  if (typeof body.archived === 'boolean' && body.archived !== thread.archived) {
    thread.archived = body.archived;
    thread.archiveTimestamp = state.timestamp();
  }
  if (typeof body.locked === 'boolean') thread.locked = body.locked;
  if (typeof body.name === 'string') channel.name = body.name;
  if (typeof body.auto_archive_duration === 'number')
    thread.autoArchiveDuration = body.auto_archive_duration;
  state.dispatcher.dispatch('THREAD_UPDATE', INTENTS.Guilds, () => state.apiChannel(channel));
  state.notify();
  return ok(state.apiChannel(channel));
};

/** Deleting a thread needs Manage Threads (its owner included); other channels are out of scope. */
const deleteChannel: Handler = ({ state }, _request, { channelId = '' }) => {
  const guard = channelGuard(state, channelId);
  if ('reply' in guard) return guard.reply;
  const { channel } = guard;
  if (!channel.thread) return errors.missingPermissions();
  const refused = requirePermissions(state, channel.id, ['MANAGE_THREADS']);
  if (refused) return refused;
  const deleted = state.apiChannel(channel);
  state.channels.delete(channel.id);
  state.channelMessages.delete(channel.id);
  state.dispatcher.dispatch('THREAD_DELETE', INTENTS.Guilds, () => ({
    id: channel.id,
    guild_id: channel.guildId,
    parent_id: channel.parentId,
    type: channel.type,
  }));
  state.notify();
  return ok(deleted);
};

const triggerTyping: Handler = ({ state }, _request, { channelId = '' }) => {
  const guard = channelGuard(state, channelId);
  if ('reply' in guard) return guard.reply;
  const sendPermission = guard.channel.thread ? 'SEND_MESSAGES_IN_THREADS' : 'SEND_MESSAGES';
  return requirePermissions(state, channelId, [sendPermission]) ?? NO_CONTENT;
};

/** How long Discord remembers an enforced nonce ("the past few minutes"). */
const NONCE_WINDOW_MS = 5 * 60_000;

const createChannelMessage: Handler = ({ state }, request, { channelId = '' }) => {
  const guard = channelGuard(state, channelId);
  if ('reply' in guard) return guard.reply;
  const { channel } = guard;
  const { files } = request.body;
  const needed: PermissionName[] = [channel.thread ? 'SEND_MESSAGES_IN_THREADS' : 'SEND_MESSAGES'];
  if (files.length > 0) needed.push('ATTACH_FILES');
  const refused = requirePermissions(state, channel.id, needed) ?? threadWritable(channel);
  if (refused) return refused;
  if (channel.recipientId !== undefined && state.dmsRefusedBy.has(channel.recipientId)) {
    return errors.cannotSendToUser();
  }
  const uploadProblem = state.checkUploads(files, request.body.totalBytes, channel.guildId);
  if (uploadProblem) return uploadProblem;
  const read = readInput(request.body.json, CHANNEL_MESSAGE_FLAGS);
  if ('reply' in read) return read.reply;
  const { input } = read;

  let referenced: FakeMessage | undefined;
  if (input.messageReference) {
    const candidate = state.messagesById.get(input.messageReference.message_id);
    const usable =
      candidate &&
      !candidate.deleted &&
      (candidate.flags & MESSAGE_FLAGS.EPHEMERAL) === 0 &&
      candidate.channel_id === channel.id;
    if (usable) referenced = candidate;
    else if (input.messageReference.fail_if_not_exists) {
      return formError(['message_reference'], 'REPLIES_UNKNOWN_MESSAGE', 'Unknown message');
    }
  }
  if (input.enforceNonce && input.nonce !== undefined) {
    // Discord: "checked for uniqueness in the past few minutes"; the same author and nonce
    // answer with the message already made instead of a second one.
    const earlier = (state.channelMessages.get(channel.id) ?? []).find(
      (message) =>
        message.nonce === input.nonce &&
        message.author.id === state.botUserId &&
        !message.deleted &&
        state.now() - Date.parse(message.timestamp) < NONCE_WINDOW_MS,
    );
    if (earlier) return ok(state.apiMessage(earlier, restView(state)));
  }
  const attachments = resolveAttachments(state, input, files, channel.id, []);
  if (!Array.isArray(attachments)) return attachments;
  const fields = {
    content: input.content ?? '',
    embeds: input.embeds ?? [],
    components: input.components ?? [],
    attachments,
    ...(input.poll ? { poll: input.poll } : {}),
  };
  if (isEmptyMessage(fields) && (input.stickerIds?.length ?? 0) === 0) return errors.emptyMessage();
  const draft: MessageDraft = {
    ...fields,
    channel_id: channel.id,
    type: referenced ? 19 : 0,
    author: botAuthor(state),
    ...resolveMentions(state, {
      content: fields.content,
      allowedMentions: input.allowedMentions,
      channelId: channel.id,
      repliedTo: referenced,
    }),
    flags: input.flags ?? 0,
  };
  if (channel.guildId) draft.guild_id = channel.guildId;
  if (input.nonce !== undefined) draft.nonce = input.nonce;
  if (input.tts !== undefined) draft.tts = input.tts;
  if (referenced) {
    draft.message_reference = {
      type: 0,
      message_id: referenced.id,
      channel_id: channel.id,
      ...(channel.guildId ? { guild_id: channel.guildId } : {}),
    };
  }
  const message = state.createMessage(draft);
  return ok(state.apiMessage(message, restView(state)));
};

function channelMessage(
  state: FakeDiscordState,
  params: Params,
): { channel: ChannelRecord; message: FakeMessage } | { reply: ApiReply } {
  const guard = channelGuard(state, params.channelId ?? '');
  if ('reply' in guard) return guard;
  const message = state.messagesById.get(params.messageId ?? '');
  const visible =
    message &&
    !message.deleted &&
    message.channel_id === guard.channel.id &&
    (message.flags & MESSAGE_FLAGS.EPHEMERAL) === 0;
  if (!visible) return { reply: errors.unknownMessage() };
  return { channel: guard.channel, message };
}

const getChannelMessage: Handler = ({ state }, _request, params) => {
  const found = channelMessage(state, params);
  if ('reply' in found) return found.reply;
  const refused = requirePermissions(state, found.channel.id, ['READ_MESSAGE_HISTORY']);
  if (refused) return refused;
  return ok(state.apiMessage(found.message, restView(state)));
};

const listChannelMessages: Handler = ({ state }, request, { channelId = '' }) => {
  const guard = channelGuard(state, channelId);
  if ('reply' in guard) return guard.reply;
  if (!state.can(channelId, state.botUserId, 'READ_MESSAGE_HISTORY')) return ok([]);
  const limitValue = Number(request.query.get('limit') ?? 50);
  if (!Number.isInteger(limitValue) || limitValue < 1 || limitValue > 100) {
    return formError(
      ['limit'],
      'NUMBER_TYPE_MAX',
      'int value should be less than or equal to 100.',
    );
  }
  const before = request.query.get('before');
  const after = request.query.get('after');
  const around = request.query.get('around');
  const visible = state
    .messageList(channelId)
    .filter((message) => (message.flags & MESSAGE_FLAGS.EPHEMERAL) === 0);
  const byId = (message: FakeMessage) => BigInt(message.id);
  let selected: FakeMessage[];
  if (after) {
    selected = visible.filter((message) => byId(message) > BigInt(after)).slice(0, limitValue);
  } else if (around) {
    const index = visible.findIndex((message) => byId(message) >= BigInt(around));
    const start = Math.max(0, (index < 0 ? visible.length : index) - Math.floor(limitValue / 2));
    selected = visible.slice(start, start + limitValue);
  } else {
    const older = before ? visible.filter((message) => byId(message) < BigInt(before)) : visible;
    selected = older.slice(Math.max(0, older.length - limitValue));
  }
  // Discord lists newest first.
  return ok([...selected].reverse().map((message) => state.apiMessage(message, restView(state))));
};

const editChannelMessage: Handler = ({ state }, request, params) => {
  const found = channelMessage(state, params);
  if ('reply' in found) return found.reply;
  const { channel, message } = found;
  if (message.author.id !== state.botUserId) return errors.cannotEditOthers();
  const refused =
    threadWritable(channel) ??
    (request.body.files.length > 0
      ? requirePermissions(state, channel.id, ['ATTACH_FILES'])
      : undefined);
  if (refused) return refused;
  const uploadProblem = state.checkUploads(
    request.body.files,
    request.body.totalBytes,
    channel.guildId,
  );
  if (uploadProblem) return uploadProblem;
  const read = readInput(request.body.json, CHANNEL_MESSAGE_FLAGS);
  if ('reply' in read) return read.reply;
  const editRefused = applyEdit(state, message, read.input, request.body.files);
  if (editRefused) return editRefused;
  return ok(state.apiMessage(message, restView(state)));
};

const deleteChannelMessage: Handler = ({ state }, _request, params) => {
  const found = channelMessage(state, params);
  if ('reply' in found) return found.reply;
  const { channel, message } = found;
  if (message.author.id !== state.botUserId) {
    const refused = requirePermissions(state, channel.id, ['MANAGE_MESSAGES']);
    if (refused) return refused;
  }
  state.deleteMessage(message);
  return NO_CONTENT;
};

function parseEmoji(raw: string): { id: string | null; name: string } | undefined {
  const custom = /^(?:a:)?([\w~]{2,32}):(\d+)$/.exec(raw);
  if (custom?.[1] && custom[2]) return { id: custom[2], name: custom[1] };
  // Unicode emoji: a short string without ASCII letters or digits.
  if (raw.length > 0 && raw.length <= 16 && !/[A-Za-z0-9:]/.test(raw))
    return { id: null, name: raw };
  return undefined;
}

function reactionEvent(
  state: FakeDiscordState,
  channel: ChannelRecord,
  message: FakeMessage,
  emoji: { id: string | null; name: string },
  event: 'MESSAGE_REACTION_ADD' | 'MESSAGE_REACTION_REMOVE',
): void {
  const intent =
    channel.type === CHANNEL_TYPES.DM
      ? INTENTS.DirectMessageReactions
      : INTENTS.GuildMessageReactions;
  state.dispatcher.dispatch(event, intent, () => {
    const payload: JsonObject = {
      user_id: state.botUserId,
      channel_id: channel.id,
      message_id: message.id,
      emoji: { ...emoji },
      burst: false,
      type: 0,
    };
    if (channel.guildId) {
      payload.guild_id = channel.guildId;
      if (event === 'MESSAGE_REACTION_ADD') {
        payload.member = state.apiMember(channel.guildId, state.botUserId, true);
        payload.message_author_id = message.author.id;
      }
    }
    return payload;
  });
}

const addReaction: Handler = ({ state }, _request, params) => {
  const found = channelMessage(state, params);
  if ('reply' in found) return found.reply;
  const { channel, message } = found;
  const emoji = parseEmoji(params.emoji ?? '');
  if (!emoji) return apiUnknownEmoji();
  const refused =
    requirePermissions(state, channel.id, ['READ_MESSAGE_HISTORY', 'ADD_REACTIONS']) ??
    threadWritable(channel);
  if (refused) return refused;
  let reaction = message.reactions.find(
    (entry) => entry.emoji.name === emoji.name && entry.emoji.id === emoji.id,
  );
  if (!reaction) {
    reaction = { emoji, count: 0, user_ids: [] };
    message.reactions.push(reaction);
  }
  if (!reaction.user_ids.includes(state.botUserId)) {
    reaction.user_ids.push(state.botUserId);
    reaction.count += 1;
    reactionEvent(state, channel, message, emoji, 'MESSAGE_REACTION_ADD');
    state.notify();
  }
  return NO_CONTENT;
};

const removeReaction: Handler = ({ state }, _request, params) => {
  const found = channelMessage(state, params);
  if ('reply' in found) return found.reply;
  const { channel, message } = found;
  const emoji = parseEmoji(params.emoji ?? '');
  if (!emoji) return apiUnknownEmoji();
  const reaction = message.reactions.find(
    (entry) => entry.emoji.name === emoji.name && entry.emoji.id === emoji.id,
  );
  if (reaction?.user_ids.includes(state.botUserId)) {
    reaction.user_ids = reaction.user_ids.filter((userId) => userId !== state.botUserId);
    reaction.count -= 1;
    if (reaction.count === 0)
      message.reactions = message.reactions.filter((entry) => entry !== reaction);
    reactionEvent(state, channel, message, emoji, 'MESSAGE_REACTION_REMOVE');
    state.notify();
  }
  return NO_CONTENT;
};

function apiUnknownEmoji(): ApiReply {
  return { status: 400, body: { message: 'Unknown Emoji', code: 10014 } };
}

// ------------------------------------------------------------------ threads

function readThreadOptions(
  json: unknown,
): { name: string; autoArchiveDuration: number; body: JsonObject } | { reply: ApiReply } {
  const body = isRecord(json) ? json : {};
  const name = typeof body.name === 'string' ? body.name : '';
  if (name.length < 1 || name.length > 100) {
    return {
      reply: formError(['name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.'),
    };
  }
  const duration =
    typeof body.auto_archive_duration === 'number' ? body.auto_archive_duration : 4320;
  if (![60, 1440, 4320, 10080].includes(duration)) {
    return {
      reply: formError(
        ['auto_archive_duration'],
        'BASE_TYPE_CHOICES',
        'Value must be one of {60, 1440, 4320, 10080}.',
      ),
    };
  }
  return { name, autoArchiveDuration: duration, body };
}

function announceThread(state: FakeDiscordState, thread: ChannelRecord): void {
  state.dispatcher.dispatch('THREAD_CREATE', INTENTS.Guilds, () => ({
    ...state.apiChannel(thread),
    newly_created: true,
  }));
}

const startThreadFromMessage: Handler = ({ state }, request, params) => {
  const found = channelMessage(state, params);
  if ('reply' in found) return found.reply;
  const { channel, message } = found;
  if (channel.thread || channel.type === CHANNEL_TYPES.DM) return errors.wrongChannelType();
  const refused = requirePermissions(state, channel.id, ['CREATE_PUBLIC_THREADS']);
  if (refused) return refused;
  if (message.thread_id) return errors.threadAlreadyCreated();
  const options = readThreadOptions(request.body.json);
  if ('reply' in options) return options.reply;
  // Discord gives a thread started from a message the message's id.
  const thread = state.createThreadRecord(channel, {
    id: message.id,
    name: options.name,
    type: CHANNEL_TYPES.PublicThread,
    ownerId: state.botUserId,
    autoArchiveDuration: options.autoArchiveDuration,
    invitable: true,
  });
  message.thread_id = thread.id;
  message.flags |= MESSAGE_FLAGS.HAS_THREAD;
  announceThread(state, thread);
  state.dispatchMessage('MESSAGE_UPDATE', message);
  state.notify();
  return ok(state.apiChannel(thread), 201);
};

const startThread: Handler = ({ state }, request, { channelId = '' }) => {
  const guard = channelGuard(state, channelId);
  if ('reply' in guard) return guard.reply;
  const { channel } = guard;
  if (channel.thread || channel.type === CHANNEL_TYPES.DM) return errors.wrongChannelType();
  const options = readThreadOptions(request.body.json);
  if ('reply' in options) return options.reply;
  // Without a type Discord (v10) makes a private thread.
  const type =
    options.body.type === CHANNEL_TYPES.PublicThread
      ? CHANNEL_TYPES.PublicThread
      : CHANNEL_TYPES.PrivateThread;
  const permission =
    type === CHANNEL_TYPES.PublicThread ? 'CREATE_PUBLIC_THREADS' : 'CREATE_PRIVATE_THREADS';
  const refused = requirePermissions(state, channel.id, [permission]);
  if (refused) return refused;
  const thread = state.createThreadRecord(channel, {
    id: state.nextId(),
    name: options.name,
    type,
    ownerId: state.botUserId,
    autoArchiveDuration: options.autoArchiveDuration,
    invitable: options.body.invitable !== false,
  });
  announceThread(state, thread);
  state.notify();
  return ok(state.apiChannel(thread), 201);
};

const joinThread: Handler = ({ state }, _request, { channelId = '' }) => {
  const guard = channelGuard(state, channelId);
  if ('reply' in guard) return guard.reply;
  const thread = guard.channel.thread;
  if (!thread) return errors.wrongChannelType();
  if (thread.archived) return errors.threadArchived();
  thread.memberIds.add(state.botUserId);
  state.notify();
  return NO_CONTENT;
};

// ------------------------------------------------------------------ guilds

function guildOr404(state: FakeDiscordState, guildId: string | undefined) {
  return guildId ? state.guilds.get(guildId) : undefined;
}

const getGuild: Handler = ({ state }, request, { guildId }) => {
  const guild = guildOr404(state, guildId);
  if (!guild) return errors.unknownGuild();
  const payload = state.apiGuild(guild);
  if (request.query.get('with_counts') === 'true') {
    payload.approximate_member_count = guild.members.size;
    payload.approximate_presence_count = 0;
  }
  return ok(payload);
};

const getGuildChannels: Handler = ({ state }, _request, { guildId }) => {
  const guild = guildOr404(state, guildId);
  if (!guild) return errors.unknownGuild();
  return ok(
    guild.channelIds
      .map((channelId) => state.channels.get(channelId))
      .filter((channel): channel is ChannelRecord => channel !== undefined)
      .map((channel) => state.apiChannel(channel)),
  );
};

const getGuildRoles: Handler = ({ state }, _request, { guildId }) => {
  const guild = guildOr404(state, guildId);
  return guild ? ok(state.apiRoles(guild)) : errors.unknownGuild();
};

const getGuildMember: Handler = ({ state }, _request, { guildId, userId = '' }) => {
  const guild = guildOr404(state, guildId);
  if (!guild) return errors.unknownGuild();
  const member = state.apiMember(guild.id, userId, true);
  return member ? ok(member) : errors.unknownMember();
};

const getActiveThreads: Handler = ({ state }, _request, { guildId }) => {
  const guild = guildOr404(state, guildId);
  if (!guild) return errors.unknownGuild();
  const threads = [...state.channels.values()].filter(
    (channel) => channel.guildId === guild.id && channel.thread && !channel.thread.archived,
  );
  return ok({ threads: threads.map((thread) => state.apiChannel(thread)), members: [] });
};

// ------------------------------------------------------------------ attachments

const refreshAttachmentUrls: Handler = ({ state }, request) => {
  const body = isRecord(request.body.json) ? request.body.json : {};
  const urls = Array.isArray(body.attachment_urls)
    ? body.attachment_urls.filter((url) => typeof url === 'string')
    : undefined;
  if (!urls) return formError(['attachment_urls'], 'BASE_TYPE_REQUIRED', 'This field is required');
  if (urls.length > 50)
    return formError(['attachment_urls'], 'BASE_TYPE_MAX_LENGTH', 'Must be 50 or fewer in length.');
  const refreshed = urls.flatMap((original) => {
    const fresh = state.refreshUrl(original);
    return fresh ? [{ original, refreshed: fresh }] : [];
  });
  state.notify();
  return ok({ refreshed_urls: refreshed });
};

const ROUTES: RouteDefinition[] = [
  { method: 'GET', pattern: '/gateway/bot', auth: true, handle: getGatewayBot },
  { method: 'GET', pattern: '/gateway', auth: false, handle: getGateway },
  { method: 'GET', pattern: '/users/@me', auth: true, handle: getCurrentUser },
  { method: 'POST', pattern: '/users/@me/channels', auth: true, handle: createDm },
  { method: 'GET', pattern: '/users/:userId', auth: true, handle: getUser },
  { method: 'GET', pattern: '/applications/@me', auth: true, handle: getApplication },
  {
    method: 'GET',
    pattern: '/applications/:applicationId/commands',
    auth: true,
    handle: listCommands,
  },
  {
    method: 'PUT',
    pattern: '/applications/:applicationId/commands',
    auth: true,
    handle: overwriteCommands,
  },
  {
    method: 'POST',
    pattern: '/applications/:applicationId/commands',
    auth: true,
    handle: createCommand,
  },
  {
    method: 'GET',
    pattern: '/applications/:applicationId/commands/:commandId',
    auth: true,
    handle: getCommand,
  },
  {
    method: 'PATCH',
    pattern: '/applications/:applicationId/commands/:commandId',
    auth: true,
    handle: editCommand,
  },
  {
    method: 'DELETE',
    pattern: '/applications/:applicationId/commands/:commandId',
    auth: true,
    handle: deleteCommand,
  },
  {
    method: 'GET',
    pattern: '/applications/:applicationId/guilds/:guildId/commands',
    auth: true,
    handle: listCommands,
  },
  {
    method: 'PUT',
    pattern: '/applications/:applicationId/guilds/:guildId/commands',
    auth: true,
    handle: overwriteCommands,
  },
  {
    method: 'POST',
    pattern: '/applications/:applicationId/guilds/:guildId/commands',
    auth: true,
    handle: createCommand,
  },
  {
    method: 'GET',
    pattern: '/applications/:applicationId/guilds/:guildId/commands/:commandId',
    auth: true,
    handle: getCommand,
  },
  {
    method: 'PATCH',
    pattern: '/applications/:applicationId/guilds/:guildId/commands/:commandId',
    auth: true,
    handle: editCommand,
  },
  {
    method: 'DELETE',
    pattern: '/applications/:applicationId/guilds/:guildId/commands/:commandId',
    auth: true,
    handle: deleteCommand,
  },
  {
    method: 'POST',
    pattern: '/interactions/:interactionId/:token/callback',
    auth: false,
    handle: interactionCallback,
  },
  {
    method: 'POST',
    pattern: '/webhooks/:applicationId/:token',
    auth: false,
    handle: createFollowup,
  },
  {
    method: 'GET',
    pattern: '/webhooks/:applicationId/:token/messages/:messageId',
    auth: false,
    handle: getWebhookMessage,
  },
  {
    method: 'PATCH',
    pattern: '/webhooks/:applicationId/:token/messages/:messageId',
    auth: false,
    handle: editWebhookMessage,
  },
  {
    method: 'DELETE',
    pattern: '/webhooks/:applicationId/:token/messages/:messageId',
    auth: false,
    handle: deleteWebhookMessage,
  },
  { method: 'GET', pattern: '/channels/:channelId', auth: true, handle: getChannel },
  { method: 'PATCH', pattern: '/channels/:channelId', auth: true, handle: editChannel },
  { method: 'DELETE', pattern: '/channels/:channelId', auth: true, handle: deleteChannel },
  { method: 'POST', pattern: '/channels/:channelId/typing', auth: true, handle: triggerTyping },
  {
    method: 'GET',
    pattern: '/channels/:channelId/messages',
    auth: true,
    handle: listChannelMessages,
  },
  {
    method: 'POST',
    pattern: '/channels/:channelId/messages',
    auth: true,
    handle: createChannelMessage,
  },
  {
    method: 'GET',
    pattern: '/channels/:channelId/messages/:messageId',
    auth: true,
    handle: getChannelMessage,
  },
  {
    method: 'PATCH',
    pattern: '/channels/:channelId/messages/:messageId',
    auth: true,
    handle: editChannelMessage,
  },
  {
    method: 'DELETE',
    pattern: '/channels/:channelId/messages/:messageId',
    auth: true,
    handle: deleteChannelMessage,
  },
  {
    method: 'PUT',
    pattern: '/channels/:channelId/messages/:messageId/reactions/:emoji/@me',
    auth: true,
    handle: addReaction,
  },
  {
    method: 'DELETE',
    pattern: '/channels/:channelId/messages/:messageId/reactions/:emoji/@me',
    auth: true,
    handle: removeReaction,
  },
  {
    method: 'POST',
    pattern: '/channels/:channelId/messages/:messageId/threads',
    auth: true,
    handle: startThreadFromMessage,
  },
  { method: 'POST', pattern: '/channels/:channelId/threads', auth: true, handle: startThread },
  {
    method: 'PUT',
    pattern: '/channels/:channelId/thread-members/@me',
    auth: true,
    handle: joinThread,
  },
  { method: 'GET', pattern: '/guilds/:guildId', auth: true, handle: getGuild },
  { method: 'GET', pattern: '/guilds/:guildId/channels', auth: true, handle: getGuildChannels },
  { method: 'GET', pattern: '/guilds/:guildId/roles', auth: true, handle: getGuildRoles },
  {
    method: 'GET',
    pattern: '/guilds/:guildId/members/:userId',
    auth: true,
    handle: getGuildMember,
  },
  {
    method: 'GET',
    pattern: '/guilds/:guildId/threads/active',
    auth: true,
    handle: getActiveThreads,
  },
  {
    method: 'POST',
    pattern: '/attachments/refresh-urls',
    auth: true,
    handle: refreshAttachmentUrls,
  },
];
