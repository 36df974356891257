import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import type { FakeSlackFile, FakeSlackMessage } from './fakes/slack/index.js';
import { dataUrl, pngOf, type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

/**
 * Blending on Slack, end to end through the real Bolt against the fake Slack: a mention or a
 * thread reply with 2 to 5 image files and `--blend` is one edit with all of them; the Edit image
 * shortcut on a message with several files edits them all together; `/imagine --blend` (a slash
 * command carries no files) says how to blend; a wrong number of images is refused privately with
 * nothing sent.
 */

const ALICE = 'U0ALICE001';
const FRANCOIS = 'U0FRANCOIS';
const GENERAL = 'C0GENERAL1';

let harness: SlackHarness;

beforeAll(async () => {
  harness = await startSlackHarness({
    mode: 'socket',
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

const COLORS = ['#ff0000', '#00ff00', '#0000ff', '#ffff00', '#00ffff', '#ff00ff'];

/** `count` distinct PNGs shared by a user, with their bytes. */
async function sharedImages(count: number, userId = ALICE) {
  return Promise.all(
    COLORS.slice(0, count).map(async (color, index) => {
      const bytes = await pngOf(color);
      const file = harness.fake.addFile({
        name: `photo${index + 1}.png`,
        mimetype: 'image/png',
        bytes,
        userId,
      });
      return { file, bytes };
    }),
  );
}

const createBodies = (prompt: string) =>
  harness.api
    .creates()
    .filter((call) => (call.body as { prompt?: string }).prompt === prompt)
    .map((call) => call.body as { action: string; prompt: string; image_urls?: string[] });

const waitForPrompt = (prompt: string): Promise<Job> =>
  harness.waitForJob((job) => job.prompt === prompt);

const ephemeralsTo = (userId: string): FakeSlackMessage[] =>
  harness.fake.messages(GENERAL).filter((candidate) => candidate.ephemeralTo === userId);

/** Posts a message mentioning the bot, with files, and delivers it as Slack does (twice). */
async function mention(text: string, files: FakeSlackFile[], userId = ALICE, threadTs?: string) {
  const { fake } = harness;
  const message = fake.userMessage({
    channel: GENERAL,
    user: userId,
    text: `<@${fake.botUserId}> ${text}`,
    files,
    ...(threadTs === undefined ? {} : { threadTs }),
  });
  await Promise.all([
    fake.deliverEvent(fake.appMentionEvent(GENERAL, message)),
    fake.deliverEvent(fake.messageEvent(GENERAL, message)),
  ]);
  return message;
}

describe('Slack --blend', () => {
  it('blends the three files of a mention in one edit, into the mention’s thread', async () => {
    const shared = await sharedImages(3);
    const message = await mention(
      '--blend into one poster',
      shared.map(({ file }) => file),
    );
    const job = await waitForPrompt('into one poster');
    expect(job).toMatchObject({ state: 'done', action: 'edit', requesterId: ALICE });
    const bodies = createBodies('into one poster');
    expect(bodies).toHaveLength(1);
    expect(bodies[0]?.action).toBe('edit');
    expect(bodies[0]?.image_urls).toEqual(shared.map(({ bytes }) => dataUrl(bytes)));
    expect((job.destination as { threadTs: string }).threadTs).toBe(message.ts);
  });

  it('sends “blend these images” when only the flag is typed, from a reply in a thread too', async () => {
    const { fake } = harness;
    const parent = fake.userMessage({ channel: GENERAL, user: ALICE, text: 'our holiday' });
    const before = createBodies('blend these images').length;
    const shared = await sharedImages(2);
    await mention(
      '--blend',
      shared.map(({ file }) => file),
      ALICE,
      parent.ts,
    );
    await fake.waitFor(() => createBodies('blend these images').length > before || undefined, {
      timeoutMs: 15_000,
    });
    const body = createBodies('blend these images').at(-1);
    // Only the reply's own files: a blend names its images by attaching them.
    expect(body?.image_urls).toEqual(shared.map(({ bytes }) => dataUrl(bytes)));
  });

  it('refuses one file, six files and a file that is not an image, privately, sending nothing', async () => {
    const { fake } = harness;
    const before = harness.api.creates().length;
    const one = await sharedImages(1);
    await mention(
      '--blend alone',
      one.map(({ file }) => file),
    );
    const single = await fake.waitFor(() =>
      ephemeralsTo(ALICE).find((message) => message.text.includes('I found 1')),
    );
    expect(single.text).toBe('A blend needs 2 to 5 images, and I found 1. Add more and try again.');

    const six = await sharedImages(6);
    await mention(
      '--blend all six',
      six.map(({ file }) => file),
    );
    await fake.waitFor(() =>
      ephemeralsTo(ALICE).find((message) =>
        message.text.includes('and I found 6. Leave some out and try again.'),
      ),
    );

    const french = await sharedImages(1, FRANCOIS);
    await mention(
      '--blend seule',
      french.map(({ file }) => file),
      FRANCOIS,
    );
    await fake.waitFor(() =>
      ephemeralsTo(FRANCOIS).find((message) =>
        message.text.startsWith('Un mélange demande de 2 à 5 images, et j’en ai trouvé 1.'),
      ),
    );

    const notes = fake.addFile({
      name: 'notes.txt',
      mimetype: 'text/plain',
      bytes: Buffer.from('hello'),
      userId: ALICE,
    });
    const two = await sharedImages(2);
    await mention('--blend with notes', [...two.map(({ file }) => file), notes]);
    await fake.waitFor(() =>
      ephemeralsTo(ALICE).find((message) => message.text.includes('notes.txt')),
    );
    expect(harness.api.creates().length).toBe(before);
  });

  it('is in --help', async () => {
    const { fake } = harness;
    await fake.deliverSlashCommand({
      command: '/imagine',
      text: '--help',
      userId: ALICE,
      channelId: GENERAL,
    });
    const help = await fake.waitFor(() =>
      fake.responses
        .map((response) => (response.body as { text?: string }).text ?? '')
        .find((text) => text.includes('How to use Nano Banana')),
    );
    expect(help).toContain('`--blend`');
    expect(help).toContain('mention me in a message with them attached and `--blend`');
  });

  it('answers /imagine --blend with how to blend, since a command carries no files', async () => {
    const { fake } = harness;
    const before = harness.api.creates().length;
    const ack = await fake.deliverSlashCommand({
      command: '/imagine',
      text: '--blend two cats',
      userId: ALICE,
      channelId: GENERAL,
    });
    expect(ack.status).toBe(200);
    const answer = await fake.waitFor(() =>
      fake.responses
        .map((response) => (response.body as { text?: string }).text ?? '')
        .find((text) => text.startsWith('Slash commands')),
    );
    expect(answer).toContain('Slash commands can’t carry files');
    expect(answer).toContain('2 to 5 images');
    expect(harness.api.creates().length).toBe(before);
    expect(fake.messages(GENERAL).some((message) => message.text.includes('two cats'))).toBe(false);
  });
});

describe('the Slack Edit image shortcut', () => {
  /** Opens the shortcut on a new message with `count` images and submits `typed` in its form. */
  async function shortcutWith(count: number, typed: string) {
    const { fake } = harness;
    const shared = await sharedImages(count);
    const post = fake.userMessage({
      channel: GENERAL,
      user: ALICE,
      text: 'some photos',
      files: shared.map(({ file }) => file),
    });
    await fake.deliverInteraction(
      fake.messageShortcutPayload({
        userId: ALICE,
        channel: GENERAL,
        message: post,
        callbackId: 'edit_image',
      }),
    );
    const view = await fake.waitFor(() =>
      fake
        .views()
        .find(
          (candidate) =>
            candidate.callback_id === 'nb_edit_message' &&
            String(candidate.private_metadata).includes(shared[0]?.file.id ?? 'missing'),
        ),
    );
    await fake.deliverInteraction(
      fake.viewSubmissionPayload({
        userId: ALICE,
        view,
        values: { nb_prompt: { prompt: { type: 'plain_text_input', value: typed } } },
      }),
    );
    return { shared, view };
  }

  it('edits every image of a message with several files, in one job', async () => {
    const { shared } = await shortcutWith(3, 'as a triptych');
    const job = await waitForPrompt('as a triptych');
    expect(job).toMatchObject({ state: 'done', action: 'edit' });
    const bodies = createBodies('as a triptych');
    expect(bodies).toHaveLength(1);
    expect(bodies[0]?.image_urls).toEqual(shared.map(({ bytes }) => dataUrl(bytes)));
  });

  it('blends the message’s images with the default prompt when the form says only --blend', async () => {
    const before = createBodies('blend these images').length;
    const { shared } = await shortcutWith(2, '--blend');
    await harness.fake.waitFor(
      () => createBodies('blend these images').length > before || undefined,
      { timeoutMs: 15_000 },
    );
    expect(createBodies('blend these images').at(-1)?.image_urls).toEqual(
      shared.map(({ bytes }) => dataUrl(bytes)),
    );
  });

  it('refuses --blend on a message with one image in the form itself, sending nothing', async () => {
    const before = harness.api.creates().length;
    const { view } = await shortcutWith(1, '--blend please');
    await harness.fake.waitFor(() =>
      harness.fake
        .views()
        .find(
          (candidate) =>
            candidate.id === view.id &&
            JSON.stringify(candidate.blocks).includes('A blend needs 2 to 5 images'),
        ),
    );
    expect(harness.api.creates().length).toBe(before);
  });
});
