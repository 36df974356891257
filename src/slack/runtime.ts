import type { webApi } from '@slack/bolt';
import type {
  AcceptanceGate,
  Config,
  JobPort,
  Logger,
  ProgressThrottle,
  SettingsPort,
} from '../core/index.js';
import type { EventClaims } from './event-claims.js';
import type { ExpiringSet } from './expiring-set.js';
import type { UserDirectory } from './locale.js';
import type { SlackSettings } from './settings.js';

/** Who the bot is in this workspace, from `auth.test` at start-up. */
export interface BotIdentity {
  userId: string;
  botId: string;
  /** The bot user's name, for `/invite @name`. */
  name: string;
}

/** What every part of the adapter shares: built once per adapter, passed to each handler. */
export interface SlackRuntime {
  readonly settings: SlackSettings;
  readonly config: Config;
  /** The jobs, through the core's port: every call may reach the store, so each is awaited. */
  readonly jobs: JobPort;
  /** Workspaces' settings (`--settings`) through the core's port: each call may reach the store. */
  readonly settingsPort: SettingsPort;
  /** The Web API client the adapter calls Slack with (Bolt's own only receives). */
  readonly client: webApi.WebClient;
  /**
   * The same, for calls a person is waiting on (a `trigger_id` lasts 3 s; a modal shows "one
   * moment"): it retries for a few seconds only, and a rate limit fails the call instead of
   * holding it for minutes.
   */
  readonly quickClient: webApi.WebClient;
  readonly logger: Logger;
  readonly users: UserDirectory;
  /** Requests being submitted: the engine's progress for them waits for their first status. */
  readonly acceptances: AcceptanceGate;
  /** Throttles status-message edits, per job. */
  readonly progress: ProgressThrottle;
  /** Events and interactions already taken, here or in the fleet, so that duplicates run once. */
  readonly events: EventClaims;
  /** Threads the bot posted results into (`channel:ts`), where a plain reply is an edit. */
  readonly threads: ExpiringSet;
  /** Users' files a job downloaded as images (by URL): they may be a thread's latest image. */
  readonly usableFiles: ExpiringSet;
  readonly bot: BotIdentity;
}

export function threadKey(channel: string, threadTs: string): string {
  return `${channel}:${threadTs}`;
}
