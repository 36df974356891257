import {
  type APIGatewayBotInfo,
  type Client,
  type ClientOptions,
  Events,
  Routes,
} from 'discord.js';
import type { Logger, NamedLocks } from '../core/index.js';
import { fleetIdentifyThrottler } from './identify-throttler.js';
import { claimShards, type ShardClaims } from './shard-claims.js';
import { type ShardPlan, shardIdsOf } from './shard-plan.js';

/**
 * How one process takes its part of the bot's Discord connection, through discord.js's own
 * sharding: the shards of its plan over the gateway, or none (a worker that only calls REST).
 * In a fleet (`locks` given) the shards are claimed in the shared store first, identifies wait
 * for their fleet-wide bucket, and one process at a time registers the commands. Without locks
 * (one process) nothing is claimed and discord.js throttles identifies itself.
 */
export interface FleetRole {
  readonly plan: ShardPlan;
  readonly locks: NamedLocks | undefined;
  /** How long a shard claim outlives its last renewal (NANO_BANANA_LEASE); default 30 s. */
  readonly leaseMs?: number;
  readonly now: () => number;
  readonly logger: Logger;
}

/** The `Client` options that make discord.js run the plan's shards. */
export function shardClientOptions(
  role: FleetRole,
): Pick<ClientOptions, 'shards' | 'shardCount' | 'ws'> {
  const { plan, locks } = role;
  const throttler =
    locks === undefined
      ? {}
      : {
          ws: {
            buildIdentifyThrottler: fleetIdentifyThrottler({
              locks,
              now: role.now,
              logger: role.logger,
            }),
          },
        };
  switch (plan.kind) {
    case 'none':
      return {};
    case 'some':
      return { shards: [...plan.ids], shardCount: plan.count, ...throttler };
    case 'all':
      return plan.count === undefined
        ? { shards: 'auto', ...throttler }
        : { shards: shardIdsOf(plan, plan.count), shardCount: plan.count, ...throttler };
  }
}

/**
 * This process's connection to Discord as its plan says: its shards over the gateway (claimed
 * first in a fleet), or REST alone for a worker, which sets the token and learns the application id
 * from `GET /applications/@me` (what a login would have told it).
 */
export class DiscordConnection {
  readonly #client: Client;
  readonly #token: string;
  readonly #role: FleetRole;
  #claims: ShardClaims | undefined;
  #restApplicationId: string | undefined;
  #stopped = false;

  constructor(client: Client, token: string, role: FleetRole) {
    this.#client = client;
    this.#token = token;
    this.#role = role;
  }

  /**
   * Rejects with `ShardClaimedError` when another live process runs one of the shards, or with
   * discord.js's error when Discord refuses the token or the intents.
   */
  async start(): Promise<void> {
    const client = this.#client;
    if (this.#role.plan.kind === 'none') {
      client.rest.setToken(this.#token);
      const application = (await client.rest.get(Routes.currentApplication())) as { id: string };
      this.#restApplicationId = application.id;
      return;
    }
    this.#claims = await this.#claim();
    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    await client.login(this.#token);
    await ready;
  }

  /** Connected: every shard ready, or for a worker, REST answered (and not stopped since). */
  ready(): boolean {
    return this.#role.plan.kind === 'none'
      ? this.#restApplicationId !== undefined && !this.#stopped
      : this.#client.isReady();
  }

  applicationId(): string {
    return this.#client.application?.id ?? this.#restApplicationId ?? '';
  }

  /** Disconnects, then gives the shards up (not before: two processes would hold one shard). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#client.destroy();
    await this.#claims?.release();
    this.#claims = undefined;
  }

  async #claim(): Promise<ShardClaims | undefined> {
    const { plan, locks } = this.#role;
    if (locks === undefined || plan.kind === 'none') return undefined;
    let count = plan.count;
    if (count === undefined) {
      // The claims need the count before discord.js would ask for it at login: ask now, and give
      // discord.js the same shards, so that what runs is what was claimed.
      this.#client.rest.setToken(this.#token);
      const gateway = (await this.#client.rest.get(Routes.gatewayBot())) as APIGatewayBotInfo;
      count = gateway.shards;
      this.#client.options.shards = shardIdsOf(plan, count);
      this.#client.options.shardCount = count;
    }
    return claimShards({
      locks,
      ids: shardIdsOf(plan, count),
      count,
      now: this.#role.now,
      logger: this.#role.logger,
      ...(this.#role.leaseMs === undefined ? {} : { leaseMs: this.#role.leaseMs }),
    });
  }
}

/** Generous for a few REST calls per guild; a registration outliving it lets another start one. */
const COMMANDS_LOCK_MS = 5 * 60_000;
export const COMMANDS_LOCK = 'discord-commands';

/**
 * Runs the command registration in one process at a time: in a fleet starting together, the
 * others skip it (every process registers the same definitions, and a rolling deploy's newest
 * process still compares and writes what changed when it starts). Returns what `sync` wrote, or
 * undefined when skipped.
 */
export async function registerCommandsOnce(
  role: FleetRole,
  sync: () => Promise<string[]>,
): Promise<string[] | undefined> {
  const { locks, now, logger } = role;
  if (locks === undefined) return sync();
  const at = now();
  if (!(await locks.acquireLock(COMMANDS_LOCK, locks.owner, at, at + COMMANDS_LOCK_MS))) {
    logger.debug('Another process is registering the Discord commands; skipped here');
    return undefined;
  }
  try {
    return await sync();
  } finally {
    await locks.releaseLock(COMMANDS_LOCK, locks.owner).catch((error: unknown) => {
      logger.warn({ err: error }, 'Could not release the command registration lock');
    });
  }
}
