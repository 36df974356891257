import type { REST } from 'discord.js';
import type { Logger, NamedLocks } from '../core/index.js';

/**
 * Discord allows a bot about 50 bot-token requests per second across all its processes, and
 * discord.js's limiter sees only its own process's calls. So in a fleet each Discord process
 * registers itself in the shared store (a named lease `discord-process:<owner>`, renewed while it
 * runs) and spends an equal share of the 50: with three processes, 16 per second each. The share
 * follows the fleet as processes come and go, at each renewal. Interaction webhooks are outside
 * that limit and go through their own client (see `DiscordRuntime.webhooks`).
 */

/** Discord's global limit for one bot token, per second. */
export const DISCORD_GLOBAL_REQUESTS_PER_SECOND = 50;

export const FLEET_MEMBER_PREFIX = 'discord-process:';

export interface FleetBudgetOptions {
  readonly locks: NamedLocks;
  /** The bot-token REST client whose global window gets the share. */
  readonly rest: REST;
  readonly now: () => number;
  readonly logger: Logger;
  /** How long a process counts after its last renewal; the shard claims' lease. */
  readonly leaseMs: number;
}

export interface FleetBudget {
  /** This process's share now, per second. */
  share(): number;
  /** Leaves the fleet: the others take the share at their next renewal. */
  stop(): Promise<void>;
}

/** An equal share of the bot's global limit among `processes` (at least one request per second). */
export function fleetShare(processes: number): number {
  return Math.max(1, Math.floor(DISCORD_GLOBAL_REQUESTS_PER_SECOND / Math.max(1, processes)));
}

export async function startFleetBudget(options: FleetBudgetOptions): Promise<FleetBudget> {
  const { locks, rest, now, logger, leaseMs } = options;
  const name = `${FLEET_MEMBER_PREFIX}${locks.owner}`;
  let share = DISCORD_GLOBAL_REQUESTS_PER_SECOND;
  const apply = (next: number) => {
    if (next === share) return;
    logger.info(
      { requestsPerSecond: next, was: share },
      'Discord bot-token budget: an equal share of the fleet-wide global limit',
    );
    share = next;
    // @discordjs/rest reads the option each time its one-second window opens.
    (rest.options as { globalRequestsPerSecond: number }).globalRequestsPerSecond = next;
  };
  const renew = async () => {
    const at = now();
    await locks.acquireLock(name, locks.owner, at, at + leaseMs);
    apply(fleetShare(await locks.countLocks(FLEET_MEMBER_PREFIX, at)));
  };
  await renew();
  const timer = setInterval(
    () => {
      renew().catch((error: unknown) =>
        // The last share stays: the store will answer again, and a stale share errs by little.
        logger.warn({ err: error }, 'Could not renew the Discord bot-token budget'),
      );
    },
    Math.floor(leaseMs / 3),
  );
  timer.unref();
  return {
    share: () => share,
    stop: async () => {
      clearInterval(timer);
      await locks.releaseLock(name, locks.owner).catch(() => undefined);
    },
  };
}
