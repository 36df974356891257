import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { BotProcess } from './support/bot-process.js';
import { waitUntil } from './support/bot-process.js';
import { report } from './support/report.js';
import { formatPercentiles, summarize } from './support/stats.js';
import {
  botCounts,
  discordUser,
  firstCallback,
  imagineOnDiscord,
  imagineOnSlack,
  type SentInteraction,
  slackUser,
  startWorld,
  type World,
} from './support/world.js';

/**
 * Time from a Discord interaction or a Slack command arriving to its acknowledgement, with 100
 * jobs in flight. Discord: from the fake sending INTERACTION_CREATE to it receiving the defer
 * callback. Slack: from the fake sending the command (a Socket Mode envelope, or a signed HTTP
 * request) to Bolt's ack. Jobs in flight at once raised to 100 for this row; the per-user limit
 * stays at 2, so 50 users fill it, and the measured requests (from the same users) queue behind.
 * Requests arrive at a steady 40 a second.
 */

const IN_FLIGHT = 100;
const SAMPLES = 200;
const SPACING_MS = 25;
const USERS = 25;

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** Starts the bot with 100 tasks running (50 from Discord, 50 from Slack), all long. */
async function loadedBot(slackMode: 'socket' | 'http'): Promise<{ world: World; bot: BotProcess }> {
  const started = await startWorld({
    apiDelayMs: 600_000,
    discord: true,
    slack: slackMode,
    slackUsers: USERS,
  });
  world = started;
  const { discord, slack } = started;
  if (discord === undefined || slack === undefined) throw new Error('fakes missing');
  const bot = await started.startBot({ NANO_BANANA_MAX_CONCURRENT_JOBS: String(IN_FLIGHT) });
  const acks: Promise<unknown>[] = [];
  for (let index = 0; index < IN_FLIGHT / 2; index += 1) {
    imagineOnDiscord(discord, `filler ${index}`, discordUser(index % USERS));
    acks.push(imagineOnSlack(slack, `filler ${index}`, slackUser(index % USERS)));
    await sleep(10);
  }
  await Promise.all(acks);
  await waitUntil(() => started.api.tasks.size >= IN_FLIGHT || undefined, {
    timeoutMs: 60_000,
    what: `${IN_FLIGHT} tasks in flight`,
    log: bot.logTail,
  });
  // Let the "started" notices settle before measuring.
  await sleep(1_500);
  expect((await botCounts(bot)).inFlight).toBe(IN_FLIGHT);
  return { world: started, bot };
}

async function measureDiscord(active: World, bot: BotProcess): Promise<number[]> {
  const discord = active.discord;
  if (discord === undefined) throw new Error('no fake Discord');
  const sent: SentInteraction[] = [];
  for (let index = 0; index < SAMPLES; index += 1) {
    sent.push(imagineOnDiscord(discord, `measured ${index}`, discordUser(index % USERS)));
    await sleep(SPACING_MS);
  }
  const latencies: number[] = [];
  for (const { interaction, sentAt } of sent) {
    const callback = await waitUntil(() => firstCallback(discord, interaction), {
      timeoutMs: 30_000,
      what: 'a Discord acknowledgement',
      log: bot.logTail,
    });
    // A defer (type 5), not a refusal: the request was accepted and queued.
    expect(callback.type).toBe(5);
    latencies.push(callback.at - sentAt);
  }
  return latencies;
}

async function measureSlack(active: World): Promise<number[]> {
  const slack = active.slack;
  if (slack === undefined) throw new Error('no fake Slack');
  const pending: Promise<{ status: number; ackMs: number }>[] = [];
  for (let index = 0; index < SAMPLES; index += 1) {
    pending.push(imagineOnSlack(slack, `measured ${index}`, slackUser(index % USERS)));
    await sleep(SPACING_MS);
  }
  const acks = await Promise.all(pending);
  for (const ack of acks) expect(ack.status).toBe(200);
  return acks.map((ack) => ack.ackMs);
}

describe('acknowledgement time with 100 jobs in flight', () => {
  it('Discord interactions, and Slack commands over Socket Mode, then over HTTP', async () => {
    const socket = await loadedBot('socket');
    const discordLatencies = summarize(await measureDiscord(socket.world, socket.bot));
    const socketLatencies = summarize(await measureSlack(socket.world));
    await socket.world.close();
    world = undefined;

    const http = await loadedBot('http');
    const httpLatencies = summarize(await measureSlack(http.world));

    report(
      'Acknowledgement time with 100 jobs in flight',
      [
        {
          order: 1,
          what: `Discord interaction → defer callback, ${SAMPLES} requests at 40/s: p50 / p95 / p99`,
          figure: formatPercentiles(discordLatencies),
          target: 'p99 ≤ 100 ms',
          pass: discordLatencies.p99 <= 100,
        },
        {
          order: 1.1,
          what: `Slack command → ack (Socket Mode), ${SAMPLES} requests at 40/s: p50 / p95 / p99`,
          figure: formatPercentiles(socketLatencies),
          target: 'p99 ≤ 100 ms',
          pass: socketLatencies.p99 <= 100,
        },
        {
          order: 1.2,
          what: `Slack command → HTTP 200 ack (signed request), ${SAMPLES} requests at 40/s: p50 / p95 / p99`,
          figure: formatPercentiles(httpLatencies),
          target: 'p99 ≤ 100 ms',
          pass: httpLatencies.p99 <= 100,
        },
      ],
      [
        `${IN_FLIGHT} tasks running (generation 10 min) while measuring; the measured requests queue behind them.`,
      ],
    );
  });
});
