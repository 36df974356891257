import type { Client, REST } from 'discord.js';
import type {
  AcceptanceGate,
  Config,
  JobPort,
  Logger,
  ProgressThrottle,
  SettingsPort,
} from '../core/index.js';
import type { DiscordSettings } from './settings.js';

/** What every part of the Discord adapter shares. */
export interface DiscordRuntime {
  readonly client: Client;
  /** Bot-token calls: bound by Discord's global limit (about 50 requests per second). */
  readonly rest: REST;
  /**
   * Interaction webhook calls (the token in the URL, no bot token): Discord's global limit does
   * not bind them, so they do not queue behind it as they would in `rest`, whose own limiter counts
   * every call it makes. Per-route limits still apply, and this client honours them.
   */
  readonly webhooks: REST;
  /** The jobs, through the core's port: every call may reach the store, so each is awaited. */
  readonly jobs: JobPort;
  /** Servers' settings (`/settings`) through the core's port: each call may reach the store. */
  readonly settingsPort: SettingsPort;
  readonly config: Config;
  readonly settings: DiscordSettings;
  readonly logger: Logger;
  /** Requests being submitted: the engine's progress for them waits for their first message. */
  readonly acceptances: AcceptanceGate;
  /** Throttles progress edits per job (Discord: about 5 edits per 5 s per channel). */
  readonly throttle: ProgressThrottle;
  /** The bot's user id, once logged in. */
  botUserId(): string;
  applicationId(): string;
  now(): number;
}
