import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, waitUntil } from './support/bot-process.js';
import { report } from './support/report.js';
import { formatMs, formatPercentiles, summarize } from './support/stats.js';
import {
  createdAt,
  discordUser,
  finishedAt,
  firstImageRequest,
  imagesDelivered,
  imagineOnDiscord,
  type SentInteraction,
  startWorld,
  taskTagged,
  type World,
} from './support/world.js';

/**
 * From a task finishing (as the mock API records it) to the bot holding its result, marked by the
 * bot asking for the result's image: by polling alone (default interval, 1 s), then with callbacks
 * (PUBLIC_URL set, the API calls back when a task ends). The tasks finish at random points of
 * the poll cycle: one long task keeps the poll loop turning, and the measured jobs are sent at
 * random moments, each with the same fixed generation time. They are spaced so that no job waits
 * for a slot (8 at once by default): a job that waits starts right after a poll (when a slot frees)
 * and, with a fixed generation time, would finish in step with the polls.
 */

const GENERATION_MS = 2000;
const JOBS = 60;

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** A fixed-seed generator, so that every run sends at the same moments. */
function randomSequence(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

interface Measured {
  readonly latencies: number[];
  /** The longest time a measured job waited between being sent and its create. */
  readonly longestStart: number;
}

async function measure(env: Record<string, string>, runTag: string): Promise<Measured> {
  world = await startWorld({ apiDelayMs: GENERATION_MS, discord: true });
  const active = world;
  const discord = active.discord;
  if (discord === undefined) throw new Error('no fake Discord');
  const bot = await active.startBot(env);
  // Keeps the follower's loop turning at its own rhythm, independent of the measured jobs.
  imagineOnDiscord(discord, `keep polling ${runTag} mock:delay=600000`, discordUser(999));
  await waitUntil(() => taskTagged(active.api, `keep polling ${runTag}`), {
    timeoutMs: 10_000,
    what: 'the long task',
  });

  const random = randomSequence(6);
  const sent: { tag: string; sent: SentInteraction }[] = [];
  for (let index = 0; index < JOBS; index += 1) {
    await sleep(300 + random() * 600);
    const tag = `${runTag}-${index}`;
    // One user each: the per-user limit must not hold anyone back.
    sent.push({ tag, sent: imagineOnDiscord(discord, `a fox ${tag}`, discordUser(index)) });
  }
  for (const { sent: interaction } of sent) {
    await waitUntil(() => imagesDelivered(discord, interaction.interaction), {
      timeoutMs: 30_000,
      what: 'a result delivered',
      log: bot.logTail,
    });
  }
  let longestStart = 0;
  const latencies = sent.map(({ tag, sent: interaction }) => {
    const task = taskTagged(active.api, tag);
    if (task === undefined) throw new Error(`no task for ${tag}`);
    longestStart = Math.max(longestStart, createdAt(active.api, task) - interaction.sentAt);
    const held = firstImageRequest(active.api, task);
    if (held === undefined) throw new Error(`the result of ${tag} was never asked for`);
    return held - finishedAt(task);
  });
  return { latencies, longestStart };
}

describe('time from a task finishing to the bot holding its result', () => {
  it('by polling alone, then with callbacks', async () => {
    const polled = await measure({}, 'poll');
    const polling = summarize(polled.latencies);

    const port = await freePort();
    const called = await measure(
      { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` },
      'callback',
    );
    // Callbacks really carried the news: every measured task called back, and the bot took it.
    const delivered = world?.api.callbacks.filter((callback) => callback.status === 204) ?? [];
    expect(delivered.length).toBeGreaterThanOrEqual(JOBS);
    const callbacks = summarize(called.latencies);

    report(
      'Time from a task finishing to the bot holding its result',
      [
        {
          order: 4,
          what: `polling only (every 1 s, the default), ${JOBS} tasks: p50 / p95 / p99`,
          figure: formatPercentiles(polling),
          target: 'p50 ≤ 750 ms',
          pass: polling.p50 <= 750,
        },
        {
          order: 5,
          what: `with callbacks (PUBLIC_URL set), ${JOBS} tasks: p50 / p95 / p99`,
          figure: formatPercentiles(callbacks),
          target: 'p50 ≤ 300 ms',
          pass: callbacks.p50 <= 300,
        },
      ],
      [
        `Generation ${GENERATION_MS} ms; tasks finish at random points of the poll cycle; "holding" = the bot asks for the result's image.`,
        `Longest wait from a request to its create: ${formatMs(polled.longestStart)} (polling), ${formatMs(called.longestStart)} (callbacks): no job waited for a slot.`,
      ],
    );
  });
});
