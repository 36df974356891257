/**
 * Who a message the bot sends pings, as Discord computes it from the content and the request's
 * `allowed_mentions`: the `mentions`, `mention_roles` and `mention_everyone` fields of the stored
 * message. Tests read these to prove that text quoted from users (a prompt holding `@everyone` or
 * `<@id>`) pings nobody the bot did not mean to.
 */
import { CHANNEL_TYPES, type FakeDiscordState } from './state.js';
import type { FakeMessage, FakeUser, JsonObject } from './types.js';

export interface MentionFields {
  mentions: FakeUser[];
  mention_roles: string[];
  mention_everyone: boolean;
}

const PARSE_TYPES = ['users', 'roles', 'everyone'];

/**
 * The mention fields of a message the bot sends in `channelId`. Without `allowed_mentions`
 * Discord parses every kind (users, roles, @everyone/@here) and pings a replied-to author; with
 * it, only the kinds in `parse`, the ids listed, and the replied-to author when `replied_user`.
 * @everyone and @here ping only where the bot has Mention Everyone, never in a DM; so do roles
 * (the fake's roles are not mentionable by everyone).
 */
export function resolveMentions(
  state: FakeDiscordState,
  options: {
    content: string;
    allowedMentions: JsonObject | undefined;
    channelId: string;
    repliedTo?: FakeMessage | undefined;
  },
): MentionFields {
  const { content, allowedMentions, channelId, repliedTo } = options;
  const parse = allowedMentions
    ? Array.isArray(allowedMentions.parse)
      ? allowedMentions.parse.map(String)
      : []
    : PARSE_TYPES;
  const listed = (kind: 'users' | 'roles') =>
    allowedMentions && Array.isArray(allowedMentions[kind])
      ? allowedMentions[kind].map(String)
      : [];
  const allowsUser = (id: string) => parse.includes('users') || listed('users').includes(id);
  const allowsRole = (id: string) => parse.includes('roles') || listed('roles').includes(id);

  const userIds = new Set<string>();
  for (const match of content.matchAll(/<@!?(\d+)>/g)) {
    const userId = match[1];
    if (userId && state.users.has(userId) && allowsUser(userId)) userIds.add(userId);
  }
  if (repliedTo) {
    const ping = allowedMentions ? allowedMentions.replied_user === true : true;
    if (ping) userIds.add(repliedTo.author.id);
  }

  const channel = state.channels.get(channelId);
  const inGuild = channel !== undefined && channel.type !== CHANNEL_TYPES.DM;
  const guild = inGuild && channel.guildId ? state.guilds.get(channel.guildId) : undefined;
  const mayPingEveryone = inGuild && state.can(channelId, state.botUserId, 'MENTION_EVERYONE');
  const roleIds = new Set<string>();
  for (const match of content.matchAll(/<@&(\d+)>/g)) {
    const roleId = match[1];
    const role = guild?.roles.find((candidate) => candidate.id === roleId);
    if (!roleId || !role || !allowsRole(roleId)) continue;
    if (mayPingEveryone) roleIds.add(roleId);
  }
  const mentionEveryone =
    mayPingEveryone && parse.includes('everyone') && /@(everyone|here)\b/.test(content);
  return {
    mentions: [...userIds].map((userId) => state.apiUser(userId)),
    mention_roles: [...roleIds],
    mention_everyone: mentionEveryone,
  };
}
