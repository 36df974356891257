import { z } from 'zod';
import { ConfigError, type Environment, settings, trustedOrigins } from '../core/index.js';
import { type ShardPlan, shardCountSetting, shardIdsSetting, shardPlan } from './shard-plan.js';

const DEFAULT_DISCORD_API_URL = 'https://discord.com/api';

/**
 * Where Discord serves images: attachments on its CDN, embedded images through its media proxy.
 * The bot downloads input images from these origins only (see `images.ts`).
 */
export const DISCORD_IMAGE_ORIGINS = [
  'https://cdn.discordapp.com',
  'https://media.discordapp.net',
  'https://images-ext-1.discordapp.net',
  'https://images-ext-2.discordapp.net',
] as const;

/** Exported for the settings documentation test, which compares it with the README. */
export const environmentSchema = z.object({
  DISCORD_TOKEN: settings.optionalText,
  DISCORD_API_URL: settings.httpUrl(DEFAULT_DISCORD_API_URL),
  DISCORD_GUILD_IDS: settings.list,
  DISCORD_MESSAGE_CONTENT: settings.boolean(false),
  DISCORD_RESULT_THREADS: settings.boolean(true),
  DISCORD_AUDIT_CHANNEL_ID: settings.optionalText,
  DISCORD_SHARD_COUNT: shardCountSetting,
  DISCORD_SHARD_IDS: shardIdsSetting,
});

export interface DiscordSettings {
  /** The bot token; the adapter is on when it is set. */
  readonly token: string | undefined;
  /** REST base (and so gateway discovery); a proxy or our tests may point it elsewhere. */
  readonly apiUrl: string;
  /** Register the commands to these guilds at once; empty registers them globally. */
  readonly guildIds: readonly string[];
  /** Ask for the privileged Message Content intent (the admin must enable it in the portal). */
  readonly messageContent: boolean;
  /** Open a thread on each result message in a text channel. */
  readonly resultThreads: boolean;
  /** The operator's moderation log: a channel that gets every server's lines. */
  readonly auditChannelId: string | undefined;
  /**
   * The only origins input images are fetched from: Discord's CDN and media proxy, and the origin
   * of `DISCORD_API_URL` when it is replaced (a proxy or a test server serves the files there).
   */
  readonly imageOrigins: readonly string[];
  /** Which gateway shards this process runs (`DISCORD_SHARD_COUNT`, `DISCORD_SHARD_IDS`). */
  readonly shards: ShardPlan;
}

export function readDiscordSettings(environment: Environment): DiscordSettings {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) throw new ConfigError(settings.describeIssues(parsed.error));
  const values = parsed.data;
  // DATABASE_URL is the core's setting (a store shared by a fleet); only its presence counts here.
  const shards = shardPlan(
    values.DISCORD_SHARD_COUNT,
    values.DISCORD_SHARD_IDS,
    (environment.DATABASE_URL ?? '').trim() !== '',
  );
  if ('problems' in shards) throw new ConfigError(shards.problems);
  return {
    token: values.DISCORD_TOKEN,
    apiUrl: values.DISCORD_API_URL,
    guildIds: values.DISCORD_GUILD_IDS,
    messageContent: values.DISCORD_MESSAGE_CONTENT,
    resultThreads: values.DISCORD_RESULT_THREADS,
    auditChannelId: values.DISCORD_AUDIT_CHANNEL_ID,
    imageOrigins:
      values.DISCORD_API_URL === DEFAULT_DISCORD_API_URL
        ? [...DISCORD_IMAGE_ORIGINS]
        : trustedOrigins(...DISCORD_IMAGE_ORIGINS, values.DISCORD_API_URL),
    shards,
  };
}
