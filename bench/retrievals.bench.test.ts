import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { waitUntil } from './support/bot-process.js';
import { report } from './support/report.js';
import {
  botCounts,
  discordUser,
  imagineOnDiscord,
  startWorld,
  type World,
} from './support/world.js';

/**
 * Retrieval calls the bot spends following 200 generate tasks in flight, per polling interval
 * (default 1 s): the follower asks for up to 50 tasks in one batch call. Jobs in flight at once
 * raised to 200 for this row (NANO_BANANA_MAX_CONCURRENT_JOBS), the per-user limit left at its
 * default (2), so 100 users send 2 requests each.
 */

const TASKS = 200;
const WINDOW_MS = 10_000;
/** A gap longer than this between two retrievals starts a new polling round. */
const ROUND_GAP_MS = 400;

let world: World;
afterAll(async () => {
  await world?.close();
});

describe('retrievals per polling interval', () => {
  it('following 200 generate tasks in flight', async () => {
    world = await startWorld({ apiDelayMs: 600_000, discord: true });
    const discord = world.discord;
    if (discord === undefined) throw new Error('no fake Discord');
    const bot = await world.startBot({ NANO_BANANA_MAX_CONCURRENT_JOBS: String(TASKS) });
    for (let index = 0; index < TASKS; index += 1) {
      imagineOnDiscord(discord, `a pear ${index}`, discordUser(index % (TASKS / 2)));
      if (index % 10 === 9) await sleep(20);
    }
    await waitUntil(() => world.api.tasks.size >= TASKS || undefined, {
      timeoutMs: 60_000,
      what: `${TASKS} tasks created`,
      log: bot.logTail,
    });
    // Every task followed for a round at least, then a clean window.
    await sleep(2_500);
    expect((await botCounts(bot)).inFlight).toBe(TASKS);
    const windowStart = Date.now();
    await sleep(WINDOW_MS);
    const windowEnd = Date.now();

    const calls = world.api
      .retrievals()
      .filter((call) => call.at >= windowStart && call.at < windowEnd);
    const rounds: number[][] = [];
    let last = Number.NEGATIVE_INFINITY;
    for (const call of calls) {
      if (call.at - last > ROUND_GAP_MS) rounds.push([]);
      const ids = (call.body as { ids?: unknown[] } | undefined)?.ids?.length ?? 1;
      rounds.at(-1)?.push(ids);
      last = call.at;
    }
    // The follower really followed all of them: each round asked for every task.
    const complete = rounds.slice(1, -1);
    expect(complete.length).toBeGreaterThan(0);
    for (const round of complete) expect(round.reduce((sum, ids) => sum + ids, 0)).toBe(TASKS);

    const perRound = complete.map((round) => round.length);
    const perInterval = calls.length / (WINDOW_MS / 1000);
    const worst = Math.max(...perRound);
    report(
      'Retrievals following 200 generate tasks in flight',
      [
        {
          order: 6,
          what: `retrieval calls per polling interval (1 s), 200 tasks in flight: most in one round (mean per second over ${WINDOW_MS / 1000} s)`,
          figure: `${worst} (${perInterval.toFixed(1)})`,
          target: '≤ 4',
          pass: worst <= 4,
        },
      ],
      [
        `${calls.length} calls in ${rounds.length} rounds; ids per call: ${[...new Set(complete.flat())].sort((left, right) => right - left).join(', ')}.`,
      ],
    );
  });
});
