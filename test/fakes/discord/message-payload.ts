/**
 * Reads and checks a message payload the bot sends (channel messages, interaction responses,
 * webhook edits) against Discord's documented limits, so that a bot that would be refused by
 * Discord is refused here too, with the same 50035 error tree.
 */
import { type ApiReply, FormErrors } from './api-errors.js';
import type { JsonObject } from './types.js';

export const MESSAGE_FLAGS = {
  CROSSPOSTED: 1 << 0,
  SUPPRESS_EMBEDS: 1 << 2,
  HAS_THREAD: 1 << 5,
  EPHEMERAL: 1 << 6,
  LOADING: 1 << 7,
  SUPPRESS_NOTIFICATIONS: 1 << 12,
  IS_VOICE_MESSAGE: 1 << 13,
  IS_COMPONENTS_V2: 1 << 15,
} as const;

/** Flags a bot may set when it creates a message through the channel. */
export const CHANNEL_MESSAGE_FLAGS =
  MESSAGE_FLAGS.SUPPRESS_EMBEDS |
  MESSAGE_FLAGS.SUPPRESS_NOTIFICATIONS |
  MESSAGE_FLAGS.IS_VOICE_MESSAGE |
  MESSAGE_FLAGS.IS_COMPONENTS_V2;

/** Interaction responses and follow-ups may also be ephemeral. */
export const INTERACTION_MESSAGE_FLAGS = CHANNEL_MESSAGE_FLAGS | MESSAGE_FLAGS.EPHEMERAL;

export interface AttachmentInput {
  /** An upload index (`files[n]`) or the id of an attachment the message already has. */
  id: string;
  filename?: string;
  description?: string;
}

export interface MessageReferenceInput {
  type: number;
  message_id: string;
  channel_id?: string;
  guild_id?: string;
  fail_if_not_exists: boolean;
}

/** Fields the payload set; `undefined` means "not sent" (an edit keeps the old value). */
export interface MessageInput {
  content: string | undefined;
  embeds: JsonObject[] | undefined;
  components: JsonObject[] | undefined;
  flags: number | undefined;
  attachments: AttachmentInput[] | undefined;
  messageReference: MessageReferenceInput | undefined;
  allowedMentions: JsonObject | undefined;
  stickerIds: string[] | undefined;
  poll: JsonObject | undefined;
  nonce: string | number | undefined;
  /** With a nonce: a second message of the same author and nonce returns the first. */
  enforceNonce: boolean;
  tts: boolean | undefined;
}

export type MessageInputResult = { ok: true; input: MessageInput } | { ok: false; reply: ApiReply };

const COMPONENTS_V2_TOP_LEVEL = new Set([1, 9, 10, 12, 13, 14, 17]);
const SELECT_TYPES = new Set([3, 5, 6, 7, 8]);

export function isRecord(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function readMessageInput(json: unknown, allowedFlags: number): MessageInputResult {
  const body = isRecord(json) ? json : {};
  const problems = new FormErrors();

  const content =
    body.content === null ? '' : body.content === undefined ? undefined : String(body.content);
  if (content !== undefined && [...content].length > 2000) {
    problems.add(['content'], 'BASE_TYPE_MAX_LENGTH', 'Must be 2000 or fewer in length.');
  }

  const flags = typeof body.flags === 'number' ? body.flags & allowedFlags : undefined;
  const componentsV2 = ((flags ?? 0) & MESSAGE_FLAGS.IS_COMPONENTS_V2) !== 0;

  const embeds = readObjectArray(body.embeds);
  if (embeds) checkEmbeds(embeds, problems);

  const components = readObjectArray(body.components);
  if (components) {
    if (componentsV2) checkComponentsV2(components, problems);
    else checkActionRows(components, problems);
  }
  if (componentsV2 && ((content?.length ?? 0) > 0 || (embeds?.length ?? 0) > 0)) {
    problems.add(
      [content ? 'content' : 'embeds'],
      'MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2',
      "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
    );
  }

  const attachments = readAttachments(body.attachments);
  const messageReference = readReference(body.message_reference, problems);
  checkAllowedMentions(body.allowed_mentions, problems);
  if (!problems.isEmpty) return { ok: false, reply: problems.toReply() };

  const stickerIds = Array.isArray(body.sticker_ids) ? body.sticker_ids.map(String) : undefined;
  const nonce =
    typeof body.nonce === 'string' || typeof body.nonce === 'number' ? body.nonce : undefined;
  return {
    ok: true,
    input: {
      content,
      embeds,
      components,
      flags,
      attachments,
      messageReference,
      allowedMentions: isRecord(body.allowed_mentions) ? body.allowed_mentions : undefined,
      stickerIds,
      poll: isRecord(body.poll) ? body.poll : undefined,
      nonce,
      enforceNonce: body.enforce_nonce === true,
      tts: typeof body.tts === 'boolean' ? body.tts : undefined,
    },
  };
}

const MENTION_PARSE_TYPES = new Set(['users', 'roles', 'everyone']);
/** Discord caps the explicit id lists. */
const MAX_LISTED_IDS = 100;

/**
 * Discord's checks of an `allowed_mentions` object (400 50035 when broken): known parse types,
 * `parse: ['users']` not together with a `users` list (same for roles), at most 100 ids a list.
 */
export function checkAllowedMentions(value: unknown, problems: FormErrors): void {
  if (value === undefined || value === null) return;
  if (!isRecord(value)) {
    problems.add(['allowed_mentions'], 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used.');
    return;
  }
  const parse = Array.isArray(value.parse) ? value.parse.map(String) : [];
  for (const [index, type] of parse.entries()) {
    if (!MENTION_PARSE_TYPES.has(type)) {
      problems.add(
        ['allowed_mentions', 'parse', String(index)],
        'ENUM_TYPE_COERCE',
        `Value "${type}" is not a valid enum value.`,
      );
    }
  }
  for (const kind of ['users', 'roles'] as const) {
    const listed = value[kind];
    if (!Array.isArray(listed)) continue;
    if (parse.includes(kind)) {
      problems.add(
        ['allowed_mentions'],
        'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE',
        `parse:["${kind}"] and ${kind}: [ids...] are mutually exclusive.`,
      );
    }
    if (listed.length > MAX_LISTED_IDS) {
      problems.add(
        ['allowed_mentions', kind],
        'BASE_TYPE_MAX_LENGTH',
        `Must be ${MAX_LISTED_IDS} or fewer in length.`,
      );
    }
  }
}

function readObjectArray(value: unknown): JsonObject[] | undefined {
  if (value === null) return [];
  if (!Array.isArray(value)) return undefined;
  return value.filter(isRecord);
}

function readAttachments(value: unknown): AttachmentInput[] | undefined {
  if (value === null) return [];
  if (!Array.isArray(value)) return undefined;
  return value.filter(isRecord).map((entry) => {
    const attachment: AttachmentInput = { id: String(entry.id ?? '') };
    const filename = optionalString(entry.filename);
    const description = optionalString(entry.description);
    if (filename !== undefined) attachment.filename = filename;
    if (description !== undefined) attachment.description = description;
    return attachment;
  });
}

function readReference(value: unknown, problems: FormErrors): MessageReferenceInput | undefined {
  if (!isRecord(value)) return undefined;
  const messageId = optionalString(value.message_id);
  if (!messageId) {
    problems.add(
      ['message_reference', 'message_id'],
      'BASE_TYPE_REQUIRED',
      'This field is required',
    );
    return undefined;
  }
  const reference: MessageReferenceInput = {
    type: typeof value.type === 'number' ? value.type : 0,
    message_id: messageId,
    fail_if_not_exists: value.fail_if_not_exists !== false,
  };
  const channelId = optionalString(value.channel_id);
  const guildId = optionalString(value.guild_id);
  if (channelId) reference.channel_id = channelId;
  if (guildId) reference.guild_id = guildId;
  return reference;
}

function checkLength(
  problems: FormErrors,
  path: (string | number)[],
  value: unknown,
  max: number,
): number {
  if (typeof value !== 'string') return 0;
  if (value.length > max) {
    problems.add(path, 'BASE_TYPE_MAX_LENGTH', `Must be ${max} or fewer in length.`);
  }
  return value.length;
}

function checkEmbeds(embeds: JsonObject[], problems: FormErrors): void {
  if (embeds.length > 10) {
    problems.add(['embeds'], 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
  }
  let totalCharacters = 0;
  embeds.forEach((embed, index) => {
    totalCharacters += checkLength(problems, ['embeds', index, 'title'], embed.title, 256);
    totalCharacters += checkLength(
      problems,
      ['embeds', index, 'description'],
      embed.description,
      4096,
    );
    if (isRecord(embed.footer)) {
      totalCharacters += checkLength(
        problems,
        ['embeds', index, 'footer', 'text'],
        embed.footer.text,
        2048,
      );
    }
    if (isRecord(embed.author)) {
      totalCharacters += checkLength(
        problems,
        ['embeds', index, 'author', 'name'],
        embed.author.name,
        256,
      );
    }
    const fields = Array.isArray(embed.fields) ? embed.fields.filter(isRecord) : [];
    if (fields.length > 25) {
      problems.add(
        ['embeds', index, 'fields'],
        'BASE_TYPE_MAX_LENGTH',
        'Must be 25 or fewer in length.',
      );
    }
    fields.forEach((field, fieldIndex) => {
      const path = ['embeds', index, 'fields', fieldIndex];
      for (const [key, max] of [
        ['name', 256],
        ['value', 1024],
      ] as const) {
        if (typeof field[key] !== 'string' || field[key] === '') {
          problems.add([...path, key], 'BASE_TYPE_REQUIRED', 'This field is required');
        }
        totalCharacters += checkLength(problems, [...path, key], field[key], max);
      }
    });
    if (typeof embed.color === 'number' && (embed.color < 0 || embed.color > 0xffffff)) {
      problems.add(
        ['embeds', index, 'color'],
        'NUMBER_TYPE_MAX',
        'int value should be <= 16777215.',
      );
    }
  });
  if (totalCharacters > 6000) {
    problems.add(['embeds'], 'MAX_EMBED_SIZE_EXCEEDED', 'Embed size exceeds maximum size of 6000');
  }
}

function checkActionRows(rows: JsonObject[], problems: FormErrors): void {
  if (rows.length > 5) {
    problems.add(['components'], 'BASE_TYPE_MAX_LENGTH', 'Must be 5 or fewer in length.');
  }
  const customIds = new Set<string>();
  rows.forEach((row, rowIndex) => {
    if (row.type !== 1) {
      problems.add(
        ['components', rowIndex, 'type'],
        'UNION_TYPE_CHOICES',
        'Value of field "type" must be one of (1,).',
      );
      return;
    }
    const children = Array.isArray(row.components) ? row.components.filter(isRecord) : [];
    if (children.length === 0 || children.length > 5) {
      problems.add(
        ['components', rowIndex, 'components'],
        children.length === 0 ? 'BASE_TYPE_MIN_LENGTH' : 'BASE_TYPE_MAX_LENGTH',
        children.length === 0 ? 'Must be 1 or more in length.' : 'Must be 5 or fewer in length.',
      );
    }
    const selects = children.filter((child) => SELECT_TYPES.has(Number(child.type)));
    if (selects.length > 0 && children.length > 1) {
      problems.add(
        ['components', rowIndex, 'components'],
        'COMPONENT_LAYOUT_WIDTH_EXCEEDED',
        'The specified component exceeds the maximum width',
      );
    }
    children.forEach((child, childIndex) => {
      checkInteractive(
        child,
        ['components', rowIndex, 'components', childIndex],
        customIds,
        problems,
      );
    });
  });
}

function checkInteractive(
  component: JsonObject,
  path: (string | number)[],
  customIds: Set<string>,
  problems: FormErrors,
): void {
  const type = Number(component.type);
  const style = Number(component.style);
  const needsCustomId = SELECT_TYPES.has(type) || (type === 2 && style >= 1 && style <= 4);
  if (type === 2) {
    checkLength(problems, [...path, 'label'], component.label, 80);
    if (style === 5 && typeof component.url !== 'string') {
      problems.add([...path, 'url'], 'BASE_TYPE_REQUIRED', 'This field is required');
    }
  }
  if (needsCustomId) {
    const customId = component.custom_id;
    if (typeof customId !== 'string' || customId === '') {
      problems.add([...path, 'custom_id'], 'BASE_TYPE_REQUIRED', 'This field is required');
    } else {
      checkLength(problems, [...path, 'custom_id'], customId, 100);
      if (customIds.has(customId)) {
        problems.add(
          [...path, 'custom_id'],
          'COMPONENT_CUSTOM_ID_DUPLICATED',
          'Component custom id cannot be duplicated',
        );
      }
      customIds.add(customId);
    }
  }
  if (type === 3) {
    const options = Array.isArray(component.options) ? component.options : [];
    if (options.length === 0 || options.length > 25) {
      problems.add(
        [...path, 'options'],
        'BASE_TYPE_BAD_LENGTH',
        'Must be between 1 and 25 in length.',
      );
    }
  }
}

function checkComponentsV2(components: JsonObject[], problems: FormErrors): void {
  let total = 0;
  const customIds = new Set<string>();
  const visit = (component: JsonObject, path: (string | number)[]): void => {
    total += 1;
    if (component.type === 2 || SELECT_TYPES.has(Number(component.type))) {
      checkInteractive(component, path, customIds, problems);
    }
    const children = Array.isArray(component.components)
      ? component.components.filter(isRecord)
      : [];
    children.forEach((child, index) => {
      visit(child, [...path, 'components', index]);
    });
    if (isRecord(component.accessory)) visit(component.accessory, [...path, 'accessory']);
  };
  components.forEach((component, index) => {
    if (!COMPONENTS_V2_TOP_LEVEL.has(Number(component.type))) {
      problems.add(
        ['components', index, 'type'],
        'UNION_TYPE_CHOICES',
        'Invalid top-level component type.',
      );
    }
    visit(component, ['components', index]);
  });
  if (total > 40) {
    problems.add(
      ['components'],
      'COMPONENT_MAX_TOTAL_COMPONENTS_EXCEEDED',
      'Must be 40 or fewer in total.',
    );
  }
}
