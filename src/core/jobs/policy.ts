import { invalidInput, NanoBananaError } from '../errors.js';
import type { ServerSettings } from '../preferences/server-settings.js';
import { matchingForm } from '../text-matching.js';
import type { Admission, JobStore } from './store.js';

/** Who may ask, where, for what; every refusal here is polite and sends nothing to the API. */
export interface AccessPolicy {
  /** The operator admins' user ids (any platform): quota-exempt, may delete any result. */
  readonly adminIds: ReadonlySet<string>;
  /**
   * When set, only these servers (guilds, workspaces) may use the bot; direct messages (no server)
   * only when the set holds `dm`.
   */
  readonly allowedServers: ReadonlySet<string> | undefined;
  /** When set, only these channels may use the bot. */
  readonly allowedChannels: ReadonlySet<string> | undefined;
  /** Words (or phrases) a prompt may not contain, compared in their `matchingForm`. */
  readonly blockedWords: readonly string[];
}

/** Daily image quotas, in images per UTC day; 0 means unlimited. */
export interface QuotaLimits {
  readonly perUser: number;
  readonly perServer: number;
  /** All direct messages together: they have no server, so they get a bucket of their own. */
  readonly perDirectMessages?: number | undefined;
  readonly total: number;
}

/** The entry of `NANO_BANANA_ALLOWED_SERVERS` that lets direct messages in. */
export const DIRECT_MESSAGES_ENTRY = 'dm';

export function checkAccess(
  policy: AccessPolicy,
  where: { serverId: string | undefined; channelId: string; parentChannelId?: string | undefined },
): void {
  const serverRefused =
    policy.allowedServers !== undefined &&
    !policy.allowedServers.has(where.serverId ?? DIRECT_MESSAGES_ENTRY);
  // A thread of an allowed channel (a result's thread, say) is part of it, as for a server's list.
  const channelRefused =
    policy.allowedChannels !== undefined &&
    !policy.allowedChannels.has(where.channelId) &&
    !(where.parentChannelId !== undefined && policy.allowedChannels.has(where.parentChannelId));
  if (serverRefused || channelRefused) {
    throw new NanoBananaError('not_allowed', 'This server or channel is not on the allow-list');
  }
}

/**
 * A server's own allow-list of channels (its moderators' `/settings`), inside the operator's: a
 * request elsewhere in that server is refused, naming where the bot answers there (`<#id>` is a
 * channel link on Discord and on Slack alike). Empty or absent: every channel. A thread counts as
 * its channel.
 */
export function checkServerChannels(
  server: ServerSettings,
  where: { channelId: string; parentChannelId?: string | undefined },
): void {
  const channels = server.channels ?? [];
  if (channels.length === 0 || channels.includes(where.channelId)) return;
  // A thread of a listed channel (a result's thread, say) is part of it.
  if (where.parentChannelId !== undefined && channels.includes(where.parentChannelId)) return;
  // Platform ids are letters and digits: anything else in a stored list is not shown as a link.
  const links = channels.filter((id) => /^[A-Za-z0-9]+$/.test(id)).map((id) => `<#${id}>`);
  throw new NanoBananaError('not_allowed', 'This channel is not on the server’s list', {
    params: { channels: links },
  });
}

/**
 * The quotas with a server's own daily limit (its moderators' `/settings`): the tighter of the
 * server's and the operator's, so a server can lower its limit, never raise it.
 */
export function withServerLimit(limits: QuotaLimits, server: ServerSettings): QuotaLimits {
  const own = server.dailyImages;
  if (own === undefined || own <= 0) return limits;
  const perServer = limits.perServer > 0 ? Math.min(limits.perServer, own) : own;
  // Direct messages keep their own bucket, which defaults to the operator's per-server limit.
  return { ...limits, perServer, perDirectMessages: limits.perDirectMessages ?? limits.perServer };
}

/**
 * Refuses a server daily limit above the operator's (`NANO_BANANA_DAILY_IMAGES_PER_SERVER`), when
 * the operator set one: the operator's settings stay the ceiling.
 */
export function checkServerLimitCeiling(
  limits: QuotaLimits,
  dailyImages: number | undefined,
): void {
  if (dailyImages === undefined || limits.perServer <= 0 || dailyImages <= limits.perServer) return;
  throw invalidInput('limit_above_ceiling', 'Above the operator’s per-server daily limit', {
    value: dailyImages,
    max: limits.perServer,
  });
}

/**
 * Refuses a prompt holding a blocked word as a whole word (so "class" does not trip on "ass"),
 * compared in the `matchingForm` of both: case, accents, invisible characters and look-alike
 * letters ignored.
 */
export function checkBlockedWords(
  policy: Pick<AccessPolicy, 'blockedWords'>,
  prompt: string,
): void {
  if (policy.blockedWords.length === 0) return;
  const folded = matchingForm(prompt);
  for (const word of policy.blockedWords) {
    const needle = matchingForm(word).trim();
    if (needle === '') continue;
    let from = 0;
    for (;;) {
      const at = folded.indexOf(needle, from);
      if (at < 0) break;
      const before = folded[at - 1];
      const after = folded[at + needle.length];
      if (!isWordCharacter(before) && !isWordCharacter(after)) {
        throw new NanoBananaError('blocked_prompt', 'The prompt holds a blocked word', {
          params: { word },
        });
      }
      from = at + 1;
    }
  }
}

function isWordCharacter(character: string | undefined): boolean {
  return character !== undefined && /[\p{L}\p{N}_]/u.test(character);
}

export interface QuotaRequest {
  readonly day: string;
  readonly requesterId: string;
  readonly serverId: string | undefined;
  readonly images: number;
}

/**
 * The daily quotas a request counts against, each with its limit (0 or less: unlimited): the
 * user's, the server's (or the direct messages' bucket), and everyone's together. The store checks
 * them atomically when it admits a job (`Admission.quotas`).
 */
export function quotaScopes(
  limits: QuotaLimits,
  request: Omit<QuotaRequest, 'images'>,
): Admission['quotas'] {
  return [
    {
      scope: 'user',
      limit: limits.perUser,
      of: { day: request.day, requesterId: request.requesterId },
    },
    request.serverId === undefined
      ? {
          scope: 'dm',
          limit: directMessagesLimit(limits),
          of: { day: request.day, directMessages: true },
        }
      : {
          scope: 'server',
          limit: limits.perServer,
          of: { day: request.day, serverId: request.serverId },
        },
    { scope: 'total', limit: limits.total, of: { day: request.day } },
  ];
}

/**
 * Refuses a request whose images would go over a daily quota. Images are reserved when a job is
 * accepted, so a user with one image left cannot queue five. A check before the platform is
 * answered; the store checks again, atomically, when it admits the job.
 */
export async function checkQuota(
  store: JobStore,
  limits: QuotaLimits,
  request: QuotaRequest,
): Promise<void> {
  for (const { scope, limit, of } of quotaScopes(limits, request)) {
    if (limit <= 0) continue;
    const remaining = Math.max(0, limit - (await store.reservedImages(of)));
    if (request.images > remaining) {
      throw new NanoBananaError('quota_exceeded', `Daily ${scope} quota reached`, {
        params: { scope, limit, remaining },
      });
    }
  }
}

/** What a user has left today, per scope; undefined where unlimited. */
export async function remainingQuota(
  store: JobStore,
  limits: QuotaLimits,
  who: { day: string; requesterId: string; serverId: string | undefined },
): Promise<{ user: number | undefined; server: number | undefined; total: number | undefined }> {
  const [user, server, total] = await Promise.all(
    quotaScopes(limits, who).map(async ({ limit, of }) =>
      limit <= 0 ? undefined : Math.max(0, limit - (await store.reservedImages(of))),
    ),
  );
  return { user, server, total };
}

/** Unset, direct messages share the per-server limit: a DM is not a way around a server's. */
function directMessagesLimit(limits: QuotaLimits): number {
  return limits.perDirectMessages ?? limits.perServer;
}

/** The UTC day of a time, `2026-11-24`: quotas reset at midnight UTC. */
export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}
