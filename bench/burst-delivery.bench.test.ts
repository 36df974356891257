import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BotProcess } from './support/bot-process.js';
import { waitUntil } from './support/bot-process.js';
import { report } from './support/report.js';
import { formatMs, formatPercentiles, summarize } from './support/stats.js';
import {
  discordUser,
  imagesDelivered,
  imagineOnDiscord,
  retrievalAfterFinish,
  type SentInteraction,
  startWorld,
  taskTagged,
  type World,
} from './support/world.js';

/**
 * A burst of results finishing together on Discord (issue 12): 100 `/imagine` from 100 members
 * are held at the mock API until all 100 tasks exist, then released at once. For each job, the
 * bot's own time from the retrieval that saw its task done to its images reaching Discord; and
 * the busiest second of calls at the fake, split by whether they carried the bot token. Discord
 * allows a bot about 50 bot-token requests per second; interaction webhooks are not bound by it.
 */

const JOBS = 100;

let world: World;
let bot: BotProcess;

beforeAll(async () => {
  world = await startWorld({ apiDelayMs: 200, discord: true });
  bot = await world.startBot({
    NANO_BANANA_MAX_CONCURRENT_JOBS: String(2 * JOBS),
    NANO_BANANA_POLL_INTERVAL_MS: '250',
  });
});
afterAll(async () => {
  await world?.close();
});

/**
 * The most calls in one second as Discord's global limit and discord.js's limiter count them: a
 * window opens at a call and lasts a second; the next opens at the first call after it. (A sliding
 * window can see up to twice the limit across two such windows.)
 */
function busiestSecond(times: readonly number[]): number {
  const sorted = [...times].sort((first, second) => first - second);
  let best = 0;
  let windowStart = Number.NEGATIVE_INFINITY;
  let count = 0;
  for (const at of sorted) {
    if (at - windowStart >= 1000) {
      windowStart = at;
      count = 0;
    }
    count += 1;
    best = Math.max(best, count);
  }
  return best;
}

describe('a burst of results on Discord', () => {
  it(`posts ${JOBS} results that finish together`, async () => {
    const discord = world.discord;
    if (discord === undefined) throw new Error('no fake Discord');
    world.api.hold();
    const sent: (SentInteraction & { tag: string })[] = [];
    for (let index = 0; index < JOBS; index += 1) {
      const tag = `burst-${index}`;
      sent.push({ ...imagineOnDiscord(discord, `a lighthouse ${tag}`, discordUser(index)), tag });
    }
    await waitUntil(() => sent.every(({ tag }) => taskTagged(world.api, tag) !== undefined), {
      timeoutMs: 60_000,
      what: `the ${JOBS} tasks`,
      log: bot.logTail,
    });
    const callsBefore = discord.calls.length;
    world.api.release();
    const delivered = await waitUntil(
      () => {
        const all = sent.map(({ interaction }) => imagesDelivered(discord, interaction));
        return all.every((entry) => entry !== undefined) ? all : undefined;
      },
      { timeoutMs: 120_000, what: `the ${JOBS} results`, intervalMs: 20, log: bot.logTail },
    );
    const own: number[] = [];
    let lastAt = 0;
    for (const [index, { tag }] of sent.entries()) {
      const task = taskTagged(world.api, tag);
      const retrieved = task === undefined ? undefined : retrievalAfterFinish(world.api, task);
      const at = delivered[index]?.at;
      if (retrieved === undefined || at === undefined) throw new Error(`no timing for ${tag}`);
      own.push(at - retrieved);
      lastAt = Math.max(lastAt, at);
    }
    // What follows the images (a thread opened on each result) is part of the burst's traffic:
    // counted once the calls have stopped for a second.
    let seen = -1;
    await waitUntil(
      () => {
        const now = discord.calls.length;
        const quiet = now === seen;
        seen = now;
        return quiet || undefined;
      },
      { timeoutMs: 60_000, what: 'the calls to stop', intervalMs: 1000, log: bot.logTail },
    );
    const during = discord.calls.slice(callsBefore);
    const withToken = during.filter((call) => !call.path.includes('/webhooks/'));
    const viaWebhook = during.length - withToken.length;
    const summary = summarize(own);
    expect(own).toHaveLength(JOBS);
    report(
      `A burst of ${JOBS} results finishing together (Discord)`,
      [
        {
          order: 40,
          what: `bot's own time from seeing a task done to its images posted, ${JOBS} results finishing together: p50 / p95 / p99`,
          figure: formatPercentiles(summary),
          target: 'p50 ≤ 300 ms',
          pass: summary.p50 <= 300,
        },
        {
          order: 41,
          what: 'busiest second at the fake during the burst (one-second windows as Discord counts): bot-token calls / all calls',
          figure: `${busiestSecond(withToken.map((call) => call.at))} / ${busiestSecond(during.map((call) => call.at))} (webhook calls in all: ${viaWebhook}, bot-token calls: ${withToken.length}; images of the first to the last result ${formatMs(lastAt - Math.min(...delivered.map((entry) => entry?.at ?? lastAt)))})`,
          target: 'bot-token calls ≤ 50 per second',
          pass: busiestSecond(withToken.map((call) => call.at)) <= 50,
        },
      ],
      [
        'Reproduce: `npm run bench -- bench/burst-delivery.bench.test.ts`. Tasks held at the mock API until all exist, then released together; own time = images at the fake − the retrieval that saw the task done.',
      ],
    );
  });
});
