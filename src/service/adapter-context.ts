import type {
  AuditRegistry,
  Config,
  Environment,
  JobPort,
  Logger,
  NamedLocks,
  PlatformAdapter,
  SettingsPort,
} from '../core/index.js';
import type { RequestListener } from './http-server.js';
import type { Metrics } from './metrics.js';

/**
 * What the service and a chat adapter agree on, in a module of its own: adapters import it and
 * the core's index, never the service that wires them (nor its engine, store or timers).
 */

/** What an adapter gets to plug itself into the running service. */
export interface AdapterContext {
  readonly config: Config;
  /** The environment the configuration came from: each adapter reads its own settings here. */
  readonly env: Environment;
  /** The jobs, through the core's narrow port: every call may reach the store, so each is awaited. */
  readonly jobs: JobPort;
  /** Servers' settings and members' preferences (stored, shared by every process of a fleet). */
  readonly settings: SettingsPort;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * The store's named locks, when processes share a store (a fleet): Discord claims its shards,
   * spaces identifies and registers commands once through them. Absent, one process does all.
   */
  readonly locks?: NamedLocks | undefined;
  /**
   * The moderation log: an adapter registers how its platform's lines read and are posted.
   * Absent when a test builds a context by hand.
   */
  readonly audit?: AuditRegistry | undefined;
  /** Mounts a request listener on the shared HTTP server (Slack's HTTP endpoint, say). */
  mount(pathPrefix: string, listener: RequestListener): void;
}

/** A running chat adapter, as the service sees it. */
export interface ServiceAdapter {
  /** `discord`, `slack`. */
  readonly name: string;
  /** How it delivers; registered with the engine before jobs resume. */
  readonly platform: PlatformAdapter;
  /** Connects; rejects with a plain message when its token is wrong. */
  start(): Promise<void>;
  /** True while connected. */
  ready(): boolean;
  stop(): Promise<void>;
}

export type AdapterFactory = (context: AdapterContext) => ServiceAdapter;
