import { afterAll, describe, expect, it } from 'vitest';
import { report } from './support/report.js';
import { formatMs, summarize } from './support/stats.js';
import { startWorld, type World } from './support/world.js';

/**
 * Cold start: `node bin/nano-banana.js start` with both platforms' tokens, a new data folder each
 * time (the store created and migrated), until /readyz answers 200 (store open, engine started,
 * Discord's gateway and Slack's Socket Mode connected). The first start also registers the
 * Discord commands; later ones find them registered.
 */

const STARTS = 5;

let world: World;
afterAll(async () => {
  await world?.close();
});

describe('cold start to ready', () => {
  it('with Discord and Slack', async () => {
    world = await startWorld({ apiDelayMs: 1000, discord: true, slack: 'socket' });
    const times: number[] = [];
    for (let index = 0; index < STARTS; index += 1) {
      const bot = await world.startBot();
      times.push(bot.readyMs);
      expect(await bot.stop()).toBe(0);
      await world.slack?.socketDisconnected({ timeoutMs: 10_000 });
    }
    const summary = summarize(times);
    report(
      'Cold start to ready',
      [
        {
          order: 9,
          what: `\`nano-banana start\` (Discord + Slack Socket Mode, new store) → /readyz 200, ${STARTS} starts: median (slowest)`,
          figure: `${formatMs(summary.p50)} (${formatMs(summary.max)})`,
          target: '≤ 2 s',
          pass: summary.max <= 2000,
        },
      ],
      [`Each start: ${times.map((time) => formatMs(time)).join(', ')}.`],
    );
  });
});
