import { NanoBananaClient, type NanoBananaClientOptions } from '../core/api/client.js';
import { AuditLog } from '../core/audit/index.js';
import type { Config, Environment } from '../core/config.js';
import type { ImageFile } from '../core/images/index.js';
import { JobEngine } from '../core/jobs/engine.js';
import type { NamedLocks } from '../core/jobs/named-locks.js';
import type { JobPort } from '../core/jobs/port.js';
import type { JobStore } from '../core/jobs/store.js';
import type { Logger } from '../core/logger.js';
import { trustedOrigins } from '../core/net/index.js';
import { TaskFollower } from '../core/task-follower.js';
import type { AdapterContext, AdapterFactory, ServiceAdapter } from './adapter-context.js';
import { type HttpService, startHttpServer } from './http-server.js';
import { createMetrics, type Metrics } from './metrics.js';
import { openJobStore } from './open-store.js';

// Where the adapters' side of the contract lives now; kept importable from here for older code.
export type { AdapterContext, AdapterFactory, ServiceAdapter } from './adapter-context.js';

export interface ServiceOptions {
  readonly config: Config;
  /** Where adapters read their settings; default `process.env` (plus `.env`, as the config). */
  readonly env?: Environment;
  readonly logger: Logger;
  readonly adapters: readonly AdapterFactory[];
  /** Overrides for the API client (tests: short retries). */
  readonly client?: Partial<NanoBananaClientOptions>;
  /** Overrides the result download (benchmarks). */
  readonly download?: (url: string, signal: AbortSignal) => Promise<ImageFile>;
  /** Host for the HTTP server; default `0.0.0.0`. */
  readonly host?: string;
  /** Wraps the port the adapters get (tests: a port whose answers come late). */
  readonly wrapJobs?: (jobs: JobPort) => JobPort;
  /** The named locks adapters share with other processes (tests: several bots over one store). */
  readonly locks?: NamedLocks;
}

export interface Service {
  readonly engine: JobEngine;
  /** The port the adapters were given (wrapped, when `wrapJobs` was). */
  readonly jobs: JobPort;
  readonly http: HttpService;
  readonly metrics: Metrics;
  readonly adapters: readonly ServiceAdapter[];
  /** Stops taking requests, lets deliveries finish for the grace period, closes everything. */
  stop(): Promise<void>;
}

/**
 * Starts the whole bot: one store, one API client and task follower, one engine, one HTTP server,
 * and every adapter given. Jobs resume once every adapter has registered how it delivers.
 */
export async function startService(options: ServiceOptions): Promise<Service> {
  const { config, logger } = options;
  const apiToken = config.acedata.apiToken;
  if (apiToken === undefined) throw new Error('ACEDATA_API_TOKEN is not set');
  const store: JobStore = await openJobStore(config, logger);
  const client = new NanoBananaClient({
    apiToken,
    baseUrl: config.acedata.baseUrl,
    timeoutMs: config.acedata.requestTimeoutMs,
    logger: logger.child({ component: 'api' }),
    ...options.client,
  });
  const follower = new TaskFollower({
    client,
    pollIntervalMs: config.acedata.pollIntervalMs,
    logger: logger.child({ component: 'follower' }),
  });
  const engine = new JobEngine({
    store,
    client,
    follower,
    requestLimits: config,
    access: config.access,
    quotas: config.quotas,
    limits: config.engine,
    leaseMs: config.engine.leaseMs,
    publicUrl: config.service.publicUrl,
    resultOrigins: trustedOrigins(config.acedata.baseUrl),
    logger: logger.child({ component: 'engine' }),
    ...(options.download ? { download: options.download } : {}),
  });
  // The moderation log writes from the engine's events and posts through the adapters' sinks.
  const audit = new AuditLog({
    store,
    logger: logger.child({ component: 'audit' }),
    owner: engine.owner,
    auditChannelOf: async (platform, serverId) =>
      (await engine.settings.server(platform, serverId)).auditChannelId,
  });
  audit.follow(engine);
  // The adapters see the engine through the port only; the metrics and the HTTP server bind the
  // engine itself.
  const jobs: JobPort = options.wrapJobs?.(engine) ?? engine;
  const metrics = createMetrics();
  metrics.bindEngine(engine);
  metrics.observeFollower(() => follower);
  metrics.observeFleet(() => engine.fleetCounts());

  const adapters: ServiceAdapter[] = [];
  let started = false;
  const http = await startHttpServer({
    port: config.service.port,
    host: options.host ?? '0.0.0.0',
    metrics,
    metricsToken: config.service.metricsToken,
    maxConnections: config.service.maxHttpConnections,
    logger: logger.child({ component: 'http' }),
    // The server counts each callback in the metrics; the engine only answers.
    callbacks: { handle: (jobId, token) => engine.handleCallback(jobId, token) },
    health: async () => {
      const checks: Record<string, boolean> = { engine: started, database: await store.ping() };
      for (const adapter of adapters) checks[adapter.name] = adapter.ready();
      return { ready: Object.values(checks).every(Boolean), checks };
    },
  });

  const closeCore = async () => {
    follower.close();
    await client.close();
    await store.close();
  };
  try {
    const context: AdapterContext = {
      config,
      env: options.env ?? process.env,
      jobs,
      settings: engine.settings,
      logger,
      metrics,
      locks: options.locks ?? sharedLocks(store, engine.owner),
      audit,
      mount: (prefix, listener) => http.mount(prefix, listener),
    };
    for (const factory of options.adapters) {
      const adapter = factory(context);
      engine.registerAdapter(adapter.platform);
      adapters.push(adapter);
    }
    await Promise.all(adapters.map((adapter) => adapter.start()));
  } catch (error) {
    await Promise.allSettled(adapters.map((adapter) => adapter.stop()));
    await http.close();
    await closeCore();
    throw error;
  }
  await engine.start();
  audit.start();
  started = true;
  logger.info(
    { adapters: adapters.map((adapter) => adapter.name), port: http.port },
    'nano-banana-bot is running',
  );

  let stopping: Promise<void> | undefined;
  return {
    engine,
    jobs,
    http,
    metrics,
    adapters,
    stop: () => {
      stopping ??= (async () => {
        started = false;
        // The whole stop fits in the grace (Docker kills at 10 s): deliveries under way get most
        // of it, and whatever has not finished by the end (a delivery deaf to its abort, an
        // adapter whose stop hangs) is left behind. The store has every job for the next start.
        const graceMs = config.service.shutdownGraceMs;
        const deadline = Date.now() + graceMs;
        const remaining = () => Math.max(0, deadline - Date.now());
        const late: string[] = [];
        const within = async (what: string, work: Promise<unknown>) => {
          if (!(await settlesWithin(work, remaining()))) late.push(what);
        };
        logger.info({ graceMs }, 'Stopping: no new requests; deliveries under way may finish');
        await within('jobs', engine.stop(graceMs - closingReserveMs(graceMs)));
        // Lines not posted yet stay in the store's outbox for the next poster.
        await within('audit', audit.stop());
        await Promise.all(
          adapters.map((adapter) => within(`adapter ${adapter.name}`, adapter.stop())),
        );
        await within('http', http.close());
        follower.close();
        await within('api client', client.close());
        await store.close();
        if (late.length > 0) {
          logger.warn({ unfinished: late, graceMs }, 'Stopped at the end of the grace period');
        } else {
          logger.info('Stopped');
        }
      })();
      return stopping;
    },
  };
}

/**
 * The store's named locks for the adapters, when other processes may share the store: Discord
 * then claims its shards and registers its commands through them. The embedded store is this
 * process's alone, so there is nobody to coordinate with.
 */
function sharedLocks(store: JobStore, owner: string): NamedLocks | undefined {
  if (store.kind !== 'postgres') return undefined;
  return {
    owner,
    acquireLock: (name, lockOwner, now, until) => store.acquireLock(name, lockOwner, now, until),
    releaseLock: (name, lockOwner) => store.releaseLock(name, lockOwner),
    lockHolder: (name, now) => store.lockHolder(name, now),
    countLocks: (prefix, now) => store.countLocks(prefix, now),
  };
}

/** What of the grace is kept for closing adapters and the HTTP server once jobs are stopped. */
function closingReserveMs(graceMs: number): number {
  return Math.min(2000, Math.floor(graceMs / 4));
}

/** Whether the work settles (either way) within `timeoutMs`; it is not waited for after that. */
async function settlesWithin(work: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const settled = work.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, expired]);
  } finally {
    clearTimeout(timer);
  }
}
