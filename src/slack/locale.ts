import type { webApi } from '@slack/bolt';
import { type Locale, type Logger, resolveLocale } from '../core/index.js';

/** What the adapter needs to know about a user: the language to answer in, and admin rights. */
export interface SlackUser {
  readonly locale: Locale;
  /** A workspace admin or owner (may delete anyone's results). */
  readonly workspaceAdmin: boolean;
}

const FALLBACK: SlackUser = { locale: 'en', workspaceAdmin: false };
/** People rarely change language; an hour keeps `users.info` calls rare. */
const TTL_MS = 60 * 60_000;
/** A failed lookup is tried again sooner. */
const FAILURE_TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

interface CacheEntry {
  user: Promise<SlackUser>;
  expires: number;
}

/**
 * Users' locales (`users.info` with `include_locale`) and admin flags, cached for a while. A lookup
 * that fails answers English without rights: a missing `users:read` scope costs the user their
 * language, never their request.
 */
export class UserDirectory {
  readonly #client: webApi.WebClient;
  readonly #logger: Logger;
  readonly #entries = new Map<string, CacheEntry>();

  constructor(client: webApi.WebClient, logger: Logger) {
    this.#client = client;
    this.#logger = logger;
  }

  lookup(userId: string): Promise<SlackUser> {
    const now = Date.now();
    const cached = this.#entries.get(userId);
    if (cached !== undefined && cached.expires > now) return cached.user;
    const entry: CacheEntry = { user: Promise.resolve(FALLBACK), expires: now + TTL_MS };
    entry.user = this.#fetch(userId, entry);
    this.#entries.delete(userId);
    this.#entries.set(userId, entry);
    // Maps keep insertion order: the first key is the oldest.
    if (this.#entries.size > MAX_ENTRIES) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return entry.user;
  }

  async locale(userId: string): Promise<Locale> {
    return (await this.lookup(userId)).locale;
  }

  async #fetch(userId: string, entry: CacheEntry): Promise<SlackUser> {
    try {
      const answer = await this.#client.users.info({ user: userId, include_locale: true });
      const user = answer.user;
      return {
        locale: resolveLocale(user?.locale),
        workspaceAdmin: user?.is_admin === true || user?.is_owner === true,
      };
    } catch (error) {
      this.#logger.warn(
        { err: error, userId },
        'Could not read a Slack user; answering in English',
      );
      entry.expires = Date.now() + FAILURE_TTL_MS;
      return FALLBACK;
    }
  }
}
