import type { AspectRatio, Resolution } from '../models.js';

/**
 * What a server's moderators set for it (a Discord guild, a Slack workspace): defaults, where the
 * bot answers, a daily limit under the operator's, the moderation log. Every field is optional:
 * absent means the operator's setting (or the bot's default) applies. The operator's settings
 * stay the ceiling: a server can narrow them, never widen them.
 */
export interface ServerSettings {
  readonly model?: string | undefined;
  readonly aspectRatio?: AspectRatio | undefined;
  readonly resolution?: Resolution | undefined;
  /** The channels the bot answers in; absent or empty: every channel the operator allows. */
  readonly channels?: readonly string[] | undefined;
  /** The server's daily image limit, never above `NANO_BANANA_DAILY_IMAGES_PER_SERVER`. */
  readonly dailyImages?: number | undefined;
  /** Where the server's moderation log goes. */
  readonly auditChannelId?: string | undefined;
  /** Discord only: results are private unless the request says otherwise. */
  readonly privateResults?: boolean | undefined;
  /** Discord only: results open a thread (true by default). */
  readonly threads?: boolean | undefined;
}

/** How many channels a server may list. */
export const MAX_SERVER_CHANNELS = 100;
/** The largest daily limit a server may set (the operator's ceiling may be lower). */
export const MAX_SERVER_DAILY_IMAGES = 1_000_000;
