import type { ServerSettings } from './server-settings.js';
import type { UserPreferences } from './user-preferences.js';

/**
 * What an adapter may read and change of the stored settings: a server's (its moderators') and a
 * member's preferences. Keys are per platform: a Discord guild and a Slack workspace never share
 * settings even if their ids collide. Every call may reach the store.
 */
export interface SettingsPort {
  /** A server's settings; `{}` when it has none. Invalid stored fields are left out. */
  server(platform: string, serverId: string): Promise<ServerSettings>;
  /**
   * Validates and stores a server's settings whole (fields absent are unset); returns what was
   * stored (model aliases resolved). Throws `invalid_input` naming the setting at fault.
   */
  saveServer(platform: string, serverId: string, settings: ServerSettings): Promise<ServerSettings>;
  /** A member's preferences; `{}` when they have none. Invalid stored fields are left out. */
  preferences(platform: string, userId: string): Promise<UserPreferences>;
  /** Validates and stores a member's preferences whole; returns what was stored. */
  savePreferences(
    platform: string,
    userId: string,
    preferences: UserPreferences,
  ): Promise<UserPreferences>;
}
