import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import type { FakeSlack, FakeSlackMessage } from './fakes/slack/index.js';
import { pngOf, type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

/**
 * Issue 9 §6 (and §4's inline-input cap) on Slack, end to end through the real Bolt against the
 * fake Slack: Slack Connect senders, Slackbot, chatter in result threads, and a job's inline
 * images over 30 MB together.
 */

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
/** A member of another organisation, in a channel shared with it. */
const CAROL = 'U0CAROL001';
const PARTNER_TEAM = 'T0PARTNER1';
const STRANGER_TEAM = 'T0STRANGE1';
const GENERAL = 'C0GENERAL1';
const HOST_TEAM = 'T0FAKETEAM';

const USERS = [
  { id: ALICE, name: 'alice', locale: 'en-US' },
  { id: BOB, name: 'bob', locale: 'en-US' },
  { id: CAROL, name: 'carol', locale: 'en-US' },
];

interface SlackDestination {
  channel: string;
  threadTs: string;
}

function threadOf(job: Job): string {
  return (job.destination as SlackDestination).threadTs;
}

function helpers(harness: () => SlackHarness) {
  const fake = (): FakeSlack => harness().fake;
  const creates = (prompt: string) =>
    harness()
      .api.creates()
      .filter((call) => (call.body as { prompt?: string }).prompt === prompt);
  const generate = async (prompt: string, userId = ALICE): Promise<Job> => {
    await fake().deliverSlashCommand({
      command: '/imagine',
      text: prompt,
      userId,
      channelId: GENERAL,
    });
    return harness().waitForJob((job) => job.prompt === prompt);
  };
  const ephemeralsTo = (userId: string) =>
    fake()
      .messages(GENERAL)
      .filter((message) => message.ephemeralTo === userId);
  /** A message in the channel (or a thread) as a `message` event, with fields changed. */
  const deliverMessage = (message: FakeSlackMessage, extra: Record<string, unknown> = {}) =>
    fake().deliverEvent({ ...fake().messageEvent(GENERAL, message), ...extra });
  return { fake, creates, generate, ephemeralsTo, deliverMessage };
}

/** A PNG of noise that does not compress: `rows` rows of 1600 pixels, about 4.8 KB each. */
async function noisePng(rows: number): Promise<Buffer> {
  const width = 1600;
  return sharp(randomBytes(width * rows * 3), { raw: { width, height: rows, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
}

describe('Slack limits, with the default settings', () => {
  let harness: SlackHarness;
  const use = helpers(() => harness);

  beforeAll(async () => {
    harness = await startSlackHarness({
      mode: 'socket',
      fake: { users: USERS, channels: [{ id: GENERAL, name: 'general' }] },
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('refuses a member of another organisation in a shared channel, and any shared channel', async () => {
    const { fake } = harness;
    const fromCarol = fake.userMessage({
      channel: GENERAL,
      user: CAROL,
      text: `<@${fake.botUserId}> a partner’s lighthouse`,
    });
    await use.deliverMessage(fromCarol, { user_team: PARTNER_TEAM, team: PARTNER_TEAM });
    const refusal = await fake.waitFor(() =>
      use.ephemeralsTo(CAROL).find((message) => message.text.includes('not enabled here')),
    );
    expect(refusal.text).toBe(
      'I’m not enabled here. Ask an admin to allow this server or channel.',
    );

    // Even a member of the host workspace, when Slack says the channel is shared.
    const fromBob = fake.userMessage({
      channel: GENERAL,
      user: BOB,
      text: `<@${fake.botUserId}> a shared lighthouse`,
    });
    await fake.sendEnvelope('events_api', {
      ...fake.eventCallback(fake.messageEvent(GENERAL, fromBob)),
      is_ext_shared_channel: true,
    });
    await fake.waitFor(() =>
      use.ephemeralsTo(BOB).find((message) => message.text.includes('not enabled here')),
    );

    // A button pressed by the partner's member: refused before any handler.
    const parent = await use.generate('a host’s lighthouse');
    const buttons = fake
      .thread(GENERAL, threadOf(parent))
      .find((message) => JSON.stringify(message.blocks ?? []).includes('nb_reroll'));
    if (buttons === undefined) throw new Error('no result buttons');
    const press = fake.blockActionsPayload({
      userId: CAROL,
      channel: GENERAL,
      message: buttons,
      actionId: 'nb_reroll',
      value: parent.id,
    });
    const user = press.user as Record<string, unknown>;
    await fake.deliverInteraction({ ...press, user: { ...user, team_id: PARTNER_TEAM } });
    await fake.waitFor(() =>
      fake.responses.find((response) =>
        String((response.body as { text?: string }).text).includes('not enabled here'),
      ),
    );
    expect(use.creates('a partner’s lighthouse')).toEqual([]);
    expect(use.creates('a shared lighthouse')).toEqual([]);
    expect(use.creates('a host’s lighthouse')).toHaveLength(1);
  });

  it('never takes Slackbot’s posts for requests', async () => {
    const { fake } = harness;
    const fromSlackbot = fake.userMessage({
      channel: GENERAL,
      user: 'USLACKBOT',
      text: `<@${fake.botUserId}> a reminder’s robot`,
    });
    await use.deliverMessage(fromSlackbot);
    // A member's request after it: once that one is done, Slackbot's post had its turn.
    const fromAlice = fake.userMessage({
      channel: GENERAL,
      user: ALICE,
      text: `<@${fake.botUserId}> a member’s robot`,
    });
    await use.deliverMessage(fromAlice);
    await harness.waitForJob((job) => job.prompt === 'a member’s robot');
    expect(use.creates('a reminder’s robot')).toEqual([]);
    expect(harness.finished.some((job) => job.requesterId === 'USLACKBOT')).toBe(false);
  });

  it('costs nothing for "thanks!" or 👍 in a result thread; a mention or an image there still edits', async () => {
    const { fake } = harness;
    const parent = await use.generate('a calm lake');
    const threadTs = threadOf(parent);
    // The result says how to ask for an edit, now that a plain reply is not one.
    const hint = fake
      .thread(GENERAL, threadTs)
      .find((message) => JSON.stringify(message.blocks ?? []).includes('nb_edit'));
    expect(JSON.stringify(hint?.blocks)).toContain(
      'To edit, reply in this thread mentioning me with what to change, or press Edit.',
    );
    const before = harness.api.creates().length;
    for (const text of ['thanks!', 'lol nice', ':+1:']) {
      await use.deliverMessage(fake.userMessage({ channel: GENERAL, user: ALICE, text, threadTs }));
    }
    const mention = fake.userMessage({
      channel: GENERAL,
      user: ALICE,
      text: `<@${fake.botUserId}> at dawn`,
      threadTs,
    });
    await use.deliverMessage(mention);
    await harness.waitForJob((job) => job.prompt === 'at dawn');
    const photo = fake.addFile({
      name: 'sky.png',
      mimetype: 'image/png',
      bytes: await pngOf('#2244aa'),
      userId: ALICE,
    });
    await use.deliverMessage(
      fake.userMessage({
        channel: GENERAL,
        user: ALICE,
        text: 'with this sky',
        threadTs,
        files: [photo],
      }),
    );
    await harness.waitForJob((job) => job.prompt === 'with this sky');
    expect(harness.api.creates().length).toBe(before + 2);
    for (const text of ['thanks!', 'lol nice', ':+1:']) expect(use.creates(text)).toEqual([]);
    // Nothing said to the chatter either.
    expect(use.ephemeralsTo(ALICE).filter((message) => message.thread_ts === threadTs)).toEqual([]);
  });

  it('refuses inline images over 30 MB together, naming the file to leave out, before sending anything', async () => {
    const { fake } = harness;
    const parent = await use.generate('a tall tower');
    // About 7.5, 7.5, 7.6 and 8.6 MB: over 30 MB with the tower, under it without the largest.
    const files = await Promise.all(
      [
        ['first.png', 1560],
        ['second.png', 1570],
        ['third.png', 1580],
        ['largest.png', 1800],
      ].map(async ([name, rows]) =>
        fake.addFile({
          name: String(name),
          mimetype: 'image/png',
          bytes: await noisePng(Number(rows)),
          userId: ALICE,
        }),
      ),
    );
    const reply = fake.userMessage({
      channel: GENERAL,
      user: ALICE,
      text: 'blend them all',
      threadTs: threadOf(parent),
      files,
    });
    await use.deliverMessage(reply);
    const failed = await harness.waitForJob((job) => job.prompt === 'blend them all', 30_000);
    expect(failed).toMatchObject({
      state: 'failed',
      error: {
        code: 'invalid_input',
        params: { reason: 'inputs_too_large', names: ['largest.png'] },
      },
    });
    const notice = await fake.waitFor(() =>
      fake
        .thread(GENERAL, threadOf(parent))
        // The plain notice for the requester (the status message is Block Kit).
        .find(
          (message) =>
            message.blocks === undefined && message.text.includes('Together the images are over'),
        ),
    );
    expect(notice.text).toBe(
      `<@${ALICE}> Together the images are over 30 MB. Leave out largest.png and try again.`,
    );
    expect(use.creates('blend them all')).toEqual([]);
  }, 60_000);
});

describe('Slack limits, opened up by the operator', () => {
  let harness: SlackHarness;
  const use = helpers(() => harness);

  beforeAll(async () => {
    harness = await startSlackHarness({
      mode: 'socket',
      fake: { users: USERS, channels: [{ id: GENERAL, name: 'general' }] },
      env: {
        NANO_BANANA_ALLOW_SLACK_CONNECT: 'true',
        NANO_BANANA_ALLOWED_SERVERS: `${HOST_TEAM},${PARTNER_TEAM}`,
        NANO_BANANA_THREAD_REPLIES: 'any',
      },
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('serves an allowed partner’s member in a shared channel, and checks others by their own team', async () => {
    const { fake } = harness;
    const envelope = (message: FakeSlackMessage, team: string) => ({
      ...fake.eventCallback({
        ...fake.messageEvent(GENERAL, message),
        user_team: team,
        team,
      }),
      is_ext_shared_channel: true,
    });
    const partner = fake.userMessage({
      channel: GENERAL,
      user: CAROL,
      text: `<@${fake.botUserId}> a partner’s harbour`,
    });
    await fake.sendEnvelope('events_api', envelope(partner, PARTNER_TEAM));
    const job = await harness.waitForJob((done) => done.prompt === 'a partner’s harbour');
    expect(job).toMatchObject({ state: 'done', requesterId: CAROL });

    const stranger = fake.userMessage({
      channel: GENERAL,
      user: BOB,
      text: `<@${fake.botUserId}> a stranger’s harbour`,
    });
    // The envelope names the host workspace, which is allowed; the sender's own is not.
    await fake.sendEnvelope('events_api', envelope(stranger, STRANGER_TEAM));
    await fake.waitFor(() =>
      use.ephemeralsTo(BOB).find((message) => message.text.includes('not enabled here')),
    );
    expect(use.creates('a stranger’s harbour')).toEqual([]);
  });

  it('with NANO_BANANA_THREAD_REPLIES=any, a plain reply in a result thread is an edit', async () => {
    const { fake } = harness;
    const parent = await use.generate('a red barn');
    await use.deliverMessage(
      fake.userMessage({
        channel: GENERAL,
        user: ALICE,
        text: 'in the snow',
        threadTs: threadOf(parent),
      }),
    );
    const job = await harness.waitForJob((done) => done.prompt === 'in the snow');
    expect(job).toMatchObject({ state: 'done', action: 'edit' });
    expect(use.creates('in the snow')).toHaveLength(1);
  });
});
