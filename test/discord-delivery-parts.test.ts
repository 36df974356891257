import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryCheckpoint, Job, ResultImageFile } from '../src/core/index.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';

/**
 * A result too big for one Discord message goes in parts: the first edits the interaction reply,
 * the others are the interaction webhook's follow-ups, which take no nonce. A part posted before a
 * later one failed is saved in the job (the core's delivery checkpoint), and the next attempt, or
 * the process that takes the job over, does not post it again.
 */

const FOLLOWUP_ROUTE = 'POST /webhooks/:applicationId/:token';

let api: MockApi;
let fake: FakeDiscord;
let bot: DiscordBot;
const finished: Job[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 100 });
  fake = await FakeDiscord.start();
  bot = await startDiscordBot(fake, api);
  bot.service.engine.on('finished', (job) => finished.push(job));
  await fake.ready();
});
afterAll(async () => {
  await bot?.stop();
  await fake?.close();
  await api?.close();
});

async function images(count: number): Promise<ResultImageFile[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, index) => ({
      bytes: await sharp({
        create: {
          width: 16,
          height: 16,
          channels: 3,
          background: { r: index * 10, g: 80, b: 160 },
        },
      })
        .png()
        .toBuffer(),
      mime: 'image/png',
      width: 16,
      height: 16,
      index,
      sourceUrl: '',
    })),
  );
}

describe('a Discord result in several messages', () => {
  it('does not post a follow-up part again after a later part failed', async () => {
    const interaction = fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'a quilt' } });
    const done = await fake.waitFor(() => finished.find((job) => job.prompt === 'a quilt'), {
      timeoutMs: 20_000,
      description: 'the job done',
    });
    const discord = bot.service.adapters.find((adapter) => adapter.name === 'discord');
    if (discord === undefined) throw new Error('no Discord adapter');

    // 21 images: three messages of 10, 10 and 1. The second message's follow-up is posted and
    // saved; the third's is refused, and the delivery fails.
    const files = await images(21);
    const saved: unknown[] = [];
    const checkpoint: DeliveryCheckpoint = {
      save: async (delivery) => {
        saved.push(delivery);
        fake.failNext(FOLLOWUP_ROUTE, 400);
      },
    };
    const job: Job = { ...done, state: 'delivering', delivery: undefined };
    const firstAttempt = await discord.platform
      .deliver(job, files, new AbortController().signal, checkpoint)
      .then(
        () => 'delivered',
        () => 'failed',
      );

    // The next attempt starts from what was saved, as a process taking the job over would.
    const delivery = (await discord.platform.deliver(
      { ...job, delivery: saved.at(-1) },
      files,
      new AbortController().signal,
      checkpoint,
    )) as { messages: unknown[]; images: unknown[] };

    const followups = fake.interactionResponses(interaction.id).followups;
    const withImage = (number: number) =>
      followups.filter((message) =>
        message?.attachments.some((attachment) => attachment.filename.endsWith(`-${number}.png`)),
      );
    expect(withImage(11)).toHaveLength(1);
    expect(withImage(21)).toHaveLength(1);
    expect(firstAttempt).toBe('failed');
    expect(saved).toHaveLength(1);
    expect(delivery.messages).toHaveLength(3);
    expect(delivery.images).toHaveLength(21);
  });
});
