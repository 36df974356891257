import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BotProcess } from './support/bot-process.js';
import { waitUntil } from './support/bot-process.js';
import { report } from './support/report.js';
import { formatMs, formatPercentiles, summarize } from './support/stats.js';
import {
  createdAt,
  discordUser,
  finishedAt,
  firstImageRequest,
  imagesDelivered,
  imagineOnDiscord,
  retrievalAfterFinish,
  startWorld,
  taskTagged,
  type World,
} from './support/world.js';

/**
 * The bot's own time per job on Discord: from the interaction arriving to the images reaching
 * Discord, minus the simulated generation (create received → task finished) and minus the wait
 * for the poll (task finished → the retrieval that saw it). What is left is the bot's work: the
 * defer, the store, the create, the retrieval's answer, the download, any re-encoding, the upload.
 * Jobs run one after another, so each is timed alone; the first of each kind warms up and is not
 * counted.
 */

const GENERATION_MS = 1000;
const DISCORD_LIMIT = 10 * 1024 * 1024;

let world: World;
let bot: BotProcess;

beforeAll(async () => {
  world = await startWorld({ apiDelayMs: GENERATION_MS, photo: true, discord: true });
  bot = await world.startBot();
});
afterAll(async () => {
  await world?.close();
});

interface Timing {
  own: number;
  beforeCreate: number;
  afterPoll: number;
  pollWait: number;
  /** From the retrieval that saw it finished to the first byte asked of its image. */
  toDownload: number;
  deliveredBytes: number;
  deliveredType: string;
}

let sequence = 0;

/** One `/imagine`, waited for to the end; the parts of its time. */
async function runJob(kind: string, flags: string): Promise<Timing> {
  const discord = world.discord;
  if (discord === undefined) throw new Error('no fake Discord');
  sequence += 1;
  const tag = `own-${kind}-${sequence}`;
  const { interaction, sentAt } = imagineOnDiscord(
    discord,
    `a lake at dawn ${tag} ${flags}`.trim(),
    discordUser(1),
  );
  const delivered = await waitUntil(() => imagesDelivered(discord, interaction), {
    timeoutMs: 60_000,
    what: `the images of ${tag}`,
    intervalMs: 5,
    log: bot.logTail,
  });
  const task = taskTagged(world.api, tag);
  if (task === undefined) throw new Error(`no task for ${tag}`);
  const created = createdAt(world.api, task);
  const finished = finishedAt(task);
  const retrieved = retrievalAfterFinish(world.api, task);
  if (retrieved === undefined) throw new Error(`no retrieval saw ${tag} finished`);
  const downloaded = firstImageRequest(world.api, task);
  if (downloaded === undefined) throw new Error(`the image of ${tag} was never downloaded`);
  const [file] = delivered.files;
  return {
    own: created - sentAt + (delivered.at - retrieved),
    beforeCreate: created - sentAt,
    afterPoll: delivered.at - retrieved,
    pollWait: retrieved - finished,
    toDownload: downloaded - retrieved,
    deliveredBytes: file?.bytes.length ?? 0,
    deliveredType: file?.contentType ?? '',
  };
}

async function runJobs(kind: string, flags: string, count: number): Promise<Timing[]> {
  await runJob(`${kind}-warmup`, flags);
  const timings: Timing[] = [];
  for (let index = 0; index < count; index += 1) timings.push(await runJob(kind, flags));
  return timings;
}

function parts(timings: readonly Timing[]): string {
  const median = (pick: (timing: Timing) => number) => summarize(timings.map(pick)).p50;
  const size = median((timing) => timing.deliveredBytes) / 1_048_576;
  return (
    `interaction → create ${formatMs(median((timing) => timing.beforeCreate))}, ` +
    `retrieval → images in Discord ${formatMs(median((timing) => timing.afterPoll))} ` +
    `(of which retrieval → download asked ${formatMs(median((timing) => timing.toDownload))}); ` +
    `poll wait subtracted ${formatMs(median((timing) => timing.pollWait))}; ` +
    `sent ${size.toFixed(1)} MiB ${timings[0]?.deliveredType ?? ''} (p50s)`
  );
}

describe('the bot’s own time per job (Discord)', () => {
  it('1K results, 4K photo-like results re-encoded to fit 10 MiB, and 4K noise', async () => {
    const small = await runJobs('1k', '', 15);
    const photo = await runJobs('4k-photo', '--model pro --res 4K', 6);
    const noise = await runJobs('4k-noise', 'mock:incompressible --model pro --res 4K', 2);

    // The measured things happened: images delivered, the 4K ones re-encoded under the limit.
    for (const timing of [...photo, ...noise]) {
      expect(timing.deliveredType).toBe('image/jpeg');
      expect(timing.deliveredBytes).toBeLessThanOrEqual(DISCORD_LIMIT);
    }
    expect(small.every((timing) => timing.deliveredType === 'image/png')).toBe(true);

    const smallSummary = summarize(small.map((timing) => timing.own));
    const photoSummary = summarize(photo.map((timing) => timing.own));
    const noiseSummary = summarize(noise.map((timing) => timing.own));
    report(
      'The bot’s own time per job (Discord, one job at a time)',
      [
        {
          order: 2,
          what: `own time per job, 1K result (photo-like PNG, sent as it is), ${small.length} jobs: p50 / p95 / p99`,
          figure: formatPercentiles(smallSummary),
          target: 'p50 ≤ 150 ms',
          pass: smallSummary.p50 <= 150,
        },
        {
          order: 3,
          what: `own time per job, 4K photo-like result (~25 MB PNG) re-encoded to fit 10 MiB, ${photo.length} jobs: p50 / p95 / p99`,
          figure: formatPercentiles(photoSummary),
          target: 'p50 ≤ 1 s',
          pass: photoSummary.p50 <= 1000,
        },
        {
          order: 3.5,
          what: `own time per job, 4K pure noise (~50 MB PNG, the worst case: scaled down too), ${noise.length} jobs: p50 / max`,
          figure: `${formatMs(noiseSummary.p50)} / ${formatMs(noiseSummary.max)}`,
          target: '(worst case, no target)',
          pass: undefined,
        },
      ],
      [
        `Simulated generation ${GENERATION_MS} ms; default settings; the first job of each kind warmed up and was not counted.`,
        `1K: ${parts(small)}.`,
        `4K photo: ${parts(photo)}.`,
        `4K noise: ${parts(noise)}.`,
      ],
    );
  });
});
