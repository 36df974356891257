import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { type BotProcess, waitUntil } from './support/bot-process.js';
import { dockerMallocEnv, photoOfSize } from './support/images.js';
import { report } from './support/report.js';
import { formatMb, MB } from './support/stats.js';
import {
  botCounts,
  botUploads,
  discordUser,
  imagesDelivered,
  imagineOnDiscord,
  imagineOnSlack,
  type SentInteraction,
  SLACK_CHANNEL,
  slackUser,
  startWorld,
  type World,
} from './support/world.js';

/**
 * The bot's resident memory, measured from outside (/proc/<pid>/status of the bot's process):
 * its peak while 50 Slack edits with 10 MB input images run, and what it keeps after a load once
 * idle again.
 */

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** Samples the bot's RSS every 50 ms until stopped; the kernel's high-water mark backs it up. */
function sampleRss(bot: BotProcess): { stop(): number } {
  let highest = bot.rssBytes();
  const timer = setInterval(() => {
    try {
      highest = Math.max(highest, bot.rssBytes());
    } catch {
      // The process ended; stop() reports what was seen.
    }
  }, 50);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(highest, bot.peakRssBytes());
    },
  };
}

/** 50 users each mention the bot with a ~10 MB photo; resolves with the peak RSS. */
async function fiftyEdits(
  env: Record<string, string>,
  images: readonly Buffer[],
): Promise<{ idle: number; peak: number; seconds: number }> {
  const active = await startWorld({ apiDelayMs: 1000, photo: true, slack: 'socket' });
  world = active;
  const slack = active.slack;
  if (slack === undefined) throw new Error('no fake Slack');
  const bot = await active.startBot(env);
  await sleep(1_000);
  const idle = bot.rssBytes();
  const sampler = sampleRss(bot);
  const started = performance.now();
  const acks = [];
  for (let index = 0; index < 50; index += 1) {
    const user = slackUser(index);
    const file = slack.addFile({
      name: `photo-${index}.png`,
      mimetype: 'image/png',
      bytes: images[index % images.length] ?? Buffer.alloc(0),
      userId: user,
    });
    const message = slack.userMessage({
      channel: SLACK_CHANNEL,
      user,
      text: `<@${slack.botUserId}> make it autumn ${index}`,
      files: [file],
    });
    acks.push(slack.deliverEvent(slack.appMentionEvent(SLACK_CHANNEL, message)));
  }
  for (const ack of await Promise.all(acks)) expect(ack.status).toBe(200);
  await waitUntil(() => botUploads(slack) >= 50 || undefined, {
    timeoutMs: 200_000,
    what: '50 edited images uploaded',
    intervalMs: 100,
    log: bot.logTail,
  });
  // Each job is done once its images are in Slack and the engine has recorded it.
  for (let attempt = 0; attempt < 50 && (await botCounts(bot)).done < 50; attempt += 1) {
    await sleep(100);
  }
  const peak = sampler.stop();
  const seconds = (performance.now() - started) / 1000;
  const counts = await botCounts(bot);
  expect(counts).toMatchObject({ done: 50, failed: 0 });
  // They were edits of the shared photos, sent inline.
  const edits = active.api
    .creates()
    .filter((call) => (call.body as { action?: string }).action === 'edit');
  expect(edits).toHaveLength(50);
  await active.close();
  world = undefined;
  return { idle, peak, seconds };
}

describe('memory', () => {
  it('peak RSS with 50 concurrent Slack edits, each with a 10 MB input image', async () => {
    // Half just under the API's 10,000,000-byte input limit (sent as they are, base64 in the
    // create), half just over (re-encoded first).
    const images = [
      await photoOfSize(9_500_000, 9_990_000),
      await photoOfSize(10_100_000, 10_900_000),
    ];
    const malloc = dockerMallocEnv();
    const mallocText = Object.entries(malloc)
      .map(([name, value]) => `${name}=${value}`)
      .join(' ');
    const docker = await fiftyEdits(malloc, images);
    const plain = await fiftyEdits({}, images);
    const allAtOnce = await fiftyEdits(
      { ...malloc, NANO_BANANA_MAX_CONCURRENT_JOBS: '50' },
      images,
    );
    const row = (order: number, what: string, result: typeof docker) => ({
      order,
      what,
      figure: `${formatMb(result.peak)} (${formatMb(result.idle)})`,
      target: '≤ 400 MB',
      pass: result.peak <= 400 * MB,
    });
    report(
      'Peak memory with 50 concurrent Slack edits, each with a 10 MB input image',
      [
        row(
          7,
          `50 edits at once, default limits, with the Docker image's malloc settings (${mallocText}): peak RSS (idle before)`,
          docker,
        ),
        row(
          7.1,
          '… started plainly (`node bin/nano-banana.js start`, as `npx nano-banana start`, no malloc settings in the environment: it relaunches itself with them): peak RSS (idle before)',
          plain,
        ),
        row(
          7.2,
          '… all 50 running at once (NANO_BANANA_MAX_CONCURRENT_JOBS=50), Docker malloc settings: peak RSS (idle before)',
          allAtOnce,
        ),
      ],
      [
        `Input images: ${images.map((image) => `${(image.length / MB).toFixed(1)} MB`).join(' and ')} photo-like PNGs, alternating; Slack in Socket Mode; generation 1 s; default limits run 8 jobs at a time.`,
        `All 50 edited and uploaded in ${docker.seconds.toFixed(0)} s, ${plain.seconds.toFixed(0)} s and ${allAtOnce.seconds.toFixed(0)} s.`,
      ],
    );
  });

  it('memory after a load of 200 requests through both adapters, once idle', async () => {
    const malloc = dockerMallocEnv();
    const docker = await loadThenIdle(malloc);
    const plain = await loadThenIdle({});
    const growth = (result: typeof docker) => result.after - result.before;
    const row = (order: number, what: string, result: typeof docker) => ({
      order,
      what,
      figure: `${growth(result) >= 0 ? '+' : ''}${(growth(result) / MB).toFixed(0)} MB (${formatMb(result.before)} → ${formatMb(result.after)})`,
      target: '≤ +50 MB',
      pass: growth(result) <= 50 * MB,
    });
    report(
      'Memory after a load, once idle',
      [
        row(
          8,
          '200 requests (100 Discord, 100 Slack, 1 in 20 refused), then idle, Docker malloc settings: RSS after − before (after a forced GC)',
          docker,
        ),
        row(
          8.1,
          '… the same started plainly (no malloc settings in the environment: it relaunches itself with them)',
          plain,
        ),
      ],
      [
        `Docker malloc settings: RSS after start ${formatMb(docker.afterStart)}, after a warm-up of 10 requests ${formatMb(docker.before)}, peak during the load ${formatMb(docker.peak)}, idle after it ${formatMb(docker.after)}.`,
        `Started plainly: after start ${formatMb(plain.afterStart)}, after the warm-up ${formatMb(plain.before)}, peak ${formatMb(plain.peak)}, idle after ${formatMb(plain.after)}.`,
        'Results are photo-like 1K PNGs (about 1.7 MB); generation 300 ms; default limits; Slack in Socket Mode.',
      ],
    );
  });
});

interface LoadMemory {
  readonly afterStart: number;
  readonly before: number;
  readonly peak: number;
  readonly after: number;
}

/**
 * A warm-up of 10 requests, then 200 (100 through each adapter, 20 users each, 20 a second);
 * the bot's RSS once idle (after a forced GC) before and after them.
 */
async function loadThenIdle(env: Record<string, string>): Promise<LoadMemory> {
  const active = await startWorld({
    apiDelayMs: 300,
    photo: true,
    discord: true,
    slack: 'socket',
    slackUsers: 20,
  });
  world = active;
  const { discord, slack } = active;
  if (discord === undefined || slack === undefined) throw new Error('fakes missing');
  const bot = await active.startBot(env, { exposeGc: true });
  const settle = async () => {
    await sleep(3_000);
    await bot.collectGarbage();
    await sleep(500);
    await bot.collectGarbage();
    return bot.rssBytes();
  };
  const afterStart = await settle();

  const discordRequests: SentInteraction[] = [];
  let expectedEnded = 0;
  let failing = 0;
  /** 1 request in 20 ends in a refusal by the API's safety filter, as some do. */
  const send = async (count: number, label: string) => {
    const acks: Promise<{ status: number }>[] = [];
    for (let index = 0; index < count; index += 1) {
      const refused = index % 20 === 19;
      if (refused) failing += 2;
      const prompt = `${label} ${index}${refused ? ' mock:fail' : ''}`;
      discordRequests.push(imagineOnDiscord(discord, prompt, discordUser(index % 20)));
      acks.push(imagineOnSlack(slack, prompt, slackUser(index % 20)));
      expectedEnded += 2;
      await sleep(50);
    }
    for (const ack of await Promise.all(acks)) expect(ack.status).toBe(200);
  };
  const waitForAll = async () => {
    const deadline = performance.now() + 200_000;
    for (;;) {
      const counts = await botCounts(bot);
      const ended = counts.done + counts.failed >= expectedEnded;
      if (ended && counts.queued + counts.inFlight === 0) return counts;
      if (performance.now() > deadline) throw new Error(`the load did not end:\n${bot.logTail()}`);
      await sleep(250);
    }
  };

  // A warm-up: code paths loaded and compiled, pools and caches filled.
  await send(5, 'warm-up');
  await waitForAll();
  const before = await settle();

  const sampler = sampleRss(bot);
  await send(100, 'load');
  const counts = await waitForAll();
  const peak = sampler.stop();
  // Every request ended once: delivered, or refused with its message.
  expect(counts.failed).toBe(failing);
  expect(counts.done).toBe(expectedEnded - failing);
  const delivered = discordRequests.filter(({ interaction }) =>
    imagesDelivered(discord, interaction),
  ).length;
  expect(delivered).toBe((expectedEnded - failing) / 2);
  await waitUntil(() => botUploads(slack) >= (expectedEnded - failing) / 2 || undefined, {
    timeoutMs: 10_000,
    what: 'every Slack result uploaded',
  });

  const after = await settle();
  // Still up and answering.
  expect((await fetch(`${bot.url}/healthz`)).status).toBe(200);
  await active.close();
  world = undefined;
  return { afterStart, before, peak, after };
}
