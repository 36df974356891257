import { REST } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/core/index.js';
import { type FleetBudget, fleetShare, startFleetBudget } from '../src/discord/fleet-budget.js';
import { FakeDiscord } from './fakes/discord/index.js';
import { closeLockStores, openLockStore, processLocks } from './helpers/fleet-locks.js';

/**
 * Issue 12: Discord's global limit (about 50 bot-token requests per second) is the fleet's, and
 * discord.js's limiter sees only its own process. Each Discord process registers in the shared
 * store and spends an equal share; the share follows the fleet as processes come and go. The real
 * @discordjs/rest against the fake Discord, the locks of a shared store.
 */

const LEASE_MS = 600;

let fake: FakeDiscord | undefined;
const budgets: FleetBudget[] = [];

afterEach(async () => {
  await Promise.allSettled(budgets.splice(0).map((budget) => budget.stop()));
  await fake?.close();
  fake = undefined;
  await closeLockStores();
});

function restFor(discord: FakeDiscord): REST {
  return new REST({ api: discord.apiUrl, makeRequest: fetch as never, retries: 0 }).setToken(
    discord.botToken,
  );
}

/**
 * How many calls of a burst of bot-token calls the fake received in the burst's first half
 * second. discord.js spends its per-second allowance at once and waits for the next second: a
 * share of 25 shows as 25 calls at once, the rest a second later. Half a second, not a whole one,
 * so that a first call delayed by a loaded machine cannot bring the next second's calls into the
 * window.
 */
async function firstHalfSecondOfBurst(discord: FakeDiscord, rest: REST, calls: number) {
  const before = discord.calls.length;
  const started = Date.now();
  await Promise.all(Array.from({ length: calls }, () => rest.get('/gateway/bot')));
  const burst = discord.calls.slice(before);
  const first = burst[0]?.at ?? started;
  return burst.filter((call) => call.at - first < 500).length;
}

describe('the Discord bot-token budget across a fleet', () => {
  it('shares the global limit equally and takes the whole of it back when alone', async () => {
    fake = await FakeDiscord.start();
    const store = await openLockStore();
    const restA = restFor(fake);
    const restB = restFor(fake);
    const start = (owner: string, rest: REST) =>
      startFleetBudget({
        locks: processLocks(store, owner),
        rest,
        now: Date.now,
        logger: silentLogger,
        leaseMs: LEASE_MS,
      });
    const budgetA = await start('process-a', restA);
    budgets.push(budgetA);
    expect(budgetA.share()).toBe(50);
    const budgetB = await start('process-b', restB);
    budgets.push(budgetB);
    expect(budgetB.share()).toBe(25);
    // A sees B at its next renewal (a third of the lease).
    await fake.waitFor(() => budgetA.share() === 25 || undefined, {
      description: "A's share after B joined",
    });
    expect(restA.options.globalRequestsPerSecond).toBe(25);

    // What reaches Discord: 40 calls from A in a burst, at most its share before the next second.
    expect(await firstHalfSecondOfBurst(fake, restA, 40)).toBeLessThanOrEqual(25 + 1);

    // B leaves (a clean stop releases at once); A takes the whole limit back.
    await budgetB.stop();
    await fake.waitFor(() => budgetA.share() === 50 || undefined, {
      description: "A's share once B left",
    });
    // Once the second the last burst spilled into is over, all 40 go at once.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await firstHalfSecondOfBurst(fake, restA, 40)).toBe(40);
  });

  it('counts a process that died only until its lease expires', async () => {
    fake = await FakeDiscord.start();
    const store = await openLockStore();
    const at = Date.now();
    // A process that died holding its registration for LEASE_MS.
    await store.acquireLock('discord-process:dead', 'dead', at, at + LEASE_MS);
    const budget = await startFleetBudget({
      locks: processLocks(store, 'process-a'),
      rest: restFor(fake),
      now: Date.now,
      logger: silentLogger,
      leaseMs: LEASE_MS,
    });
    budgets.push(budget);
    expect(budget.share()).toBe(25);
    await fake.waitFor(() => budget.share() === 50 || undefined, {
      description: 'the share once the dead process expired',
    });
  });

  it('never gives a process less than one request per second', () => {
    expect(fleetShare(1)).toBe(50);
    expect(fleetShare(3)).toBe(16);
    expect(fleetShare(80)).toBe(1);
  });
});
