import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import { type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

// One result image lost for good on the result CDN, seen through the real Bolt against the fake
// Slack: the others are delivered, with a note saying how many are missing.

const ALICE = 'U0ALICE001';
const FRANCOIS = 'U0FRANCOIS';
const GENERAL = 'C0GENERAL1';

let harness: SlackHarness;

beforeAll(async () => {
  harness = await startSlackHarness({
    mode: 'http',
    fake: {
      users: [
        { id: ALICE, name: 'alice', locale: 'en-US' },
        { id: FRANCOIS, name: 'francois', locale: 'fr-FR' },
      ],
      channels: [{ id: GENERAL, name: 'general' }],
    },
  });
});
afterAll(async () => {
  await harness?.close();
});

function threadOf(job: Job) {
  const { channel, threadTs } = job.destination as { channel: string; threadTs: string };
  return harness.fake.thread(channel, threadTs);
}

describe('Slack results from a result CDN that loses an image', () => {
  it.each([
    [ALICE, 'three owls', /1 image is missing/],
    [FRANCOIS, 'trois hiboux', /1 image manque/],
  ])('delivers the others with a note saying one is missing (%s)', async (userId, prompt, note) => {
    harness.api.setImageFaults((download) =>
      download.prompt === prompt && download.index === 2 ? { status: 404 } : undefined,
    );
    await harness.fake.deliverSlashCommand({
      command: '/imagine',
      text: `${prompt} --count 3`,
      userId,
      channelId: GENERAL,
    });
    const job = await harness.waitForJob((candidate) => candidate.prompt === prompt, 20_000);
    expect(job.state).toBe('done');
    const uploaded = harness.fake
      .files()
      .filter((file) => file.user === harness.fake.botUserId && file.name.includes(job.id));
    expect(uploaded).toHaveLength(2);
    // The notes sit in the message under the images, with the buttons.
    const shown = threadOf(job).map((message) => JSON.stringify(message.blocks ?? []));
    expect(shown.some((blocks) => note.test(blocks))).toBe(true);
  });
});
