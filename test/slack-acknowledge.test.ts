import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import { slackText } from '../src/slack/texts.js';
import type { FakeSlack, FakeSlackFile, FakeSlackMessage } from './fakes/slack/index.js';
import { dataUrl, pngOf, type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

/**
 * Issue 10 §6, against the real Bolt over HTTP (where Bolt answers an unacknowledged request by
 * itself after 3 s) and the fake Slack (which refuses a `trigger_id` older than 3 s): modals open
 * and submissions are acknowledged before any slow lookup; a result thread's latest image is one
 * the bot delivered or a job already used; a thread Slack will not give is told, not guessed.
 */

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const GENERAL = 'C0GENERAL1';
/** Longer than a trigger's 3 s, and than Bolt's wait for an acknowledgement. */
const SLOW_MS = 3_500;

interface SlackDestination {
  channel: string;
  threadTs: string;
  statusTs: string;
}

function destinationOf(job: Job): SlackDestination {
  return job.destination as SlackDestination;
}

let harness: SlackHarness;
let fake: FakeSlack;

beforeAll(async () => {
  harness = await startSlackHarness({
    mode: 'http',
    fake: {
      users: [
        { id: ALICE, name: 'alice', locale: 'en-US' },
        { id: BOB, name: 'bob', locale: 'en-GB' },
      ],
      channels: [{ id: GENERAL, name: 'general' }],
    },
  });
  fake = harness.fake;
});
afterAll(async () => {
  await harness?.close();
});

function createsFor(prompt: string) {
  return harness.api
    .creates()
    .filter((call) => (call.body as { prompt?: string }).prompt === prompt);
}

function imageUrlsOf(prompt: string): string[] {
  const [call] = createsFor(prompt);
  if (call === undefined) throw new Error(`no create for "${prompt}"`);
  return (call.body as { image_urls?: string[] }).image_urls ?? [];
}

function waitForPrompt(prompt: string, timeoutMs = 15_000): Promise<Job> {
  return harness.waitForJob((job) => job.prompt === prompt, timeoutMs);
}

async function generate(prompt: string): Promise<Job> {
  await fake.deliverSlashCommand({
    command: '/imagine',
    text: prompt,
    userId: ALICE,
    channelId: GENERAL,
  });
  return waitForPrompt(prompt);
}

async function resultBytes(job: Job, index = 0): Promise<Buffer> {
  const url = job.result?.images[index]?.url;
  if (url === undefined) throw new Error(`job ${job.id} has no result`);
  return Buffer.from(await (await fetch(url)).arrayBuffer());
}

/** Alice's reply in a thread, with files, delivered as Slack's `message` event. */
/** A reply in a result thread that asks the bot (a plain one is chatter and costs nothing). */
async function reply(threadTs: string, text: string, files: FakeSlackFile[] = []) {
  const message = fake.userMessage({
    channel: GENERAL,
    user: ALICE,
    text: `<@${fake.botUserId}> ${text}`,
    threadTs,
    files,
  });
  await fake.deliverEvent(fake.messageEvent(GENERAL, message));
  return message;
}

async function shareFile(name: string, bytes: Buffer) {
  return fake.addFile({ name, mimetype: 'image/png', bytes, userId: ALICE });
}

/** The plain notice a failed job posted in its thread for its requester, after its status. */
function failureNotice(job: Job): FakeSlackMessage | undefined {
  const { channel, threadTs, statusTs } = destinationOf(job);
  return fake
    .thread(channel, threadTs)
    .find(
      (message) =>
        Number(message.ts) > Number(statusTs) &&
        message.user === fake.botUserId &&
        message.blocks === undefined &&
        message.text.startsWith(`<@${job.requesterId}> `),
    );
}

function viewText(view: unknown): string {
  return JSON.stringify(view);
}

describe('Slack modals acknowledge first', () => {
  /** Bob's message with an image, and Alice's Edit image shortcut on it, as Slack sends it. */
  async function shortcutOnImage(userId: string, color: string) {
    const png = await pngOf(color);
    const drawing = fake.addFile({
      name: 'lake.png',
      mimetype: 'image/png',
      bytes: png,
      userId: BOB,
    });
    const post = fake.userMessage({
      channel: GENERAL,
      user: BOB,
      text: 'my lake',
      files: [drawing],
    });
    const payload = fake.messageShortcutPayload({
      userId,
      channel: GENERAL,
      message: post,
      callbackId: 'edit_image',
    }) as { trigger_id: string; message: { files: Record<string, unknown>[] } };
    return { png, post, payload };
  }

  function formFor(payload: { trigger_id: string }) {
    const [opened] = fake
      .callsTo('views.open')
      .filter((call) => call.args.trigger_id === payload.trigger_id);
    const id = (opened?.response as { view?: { id?: string } } | undefined)?.view?.id;
    return fake.views().find((view) => view.id === id && view.callback_id === 'nb_edit_message');
  }

  it('opens the Edit image shortcut’s modal as “one moment”, then the form, though users.info and files.info are slow', async () => {
    // A user the bot has never looked up, and a file shared from elsewhere: both need Slack.
    const carol = 'U0CAROL001';
    fake.addUser({ id: carol, name: 'carol', locale: 'en-US' });
    const { payload } = await shortcutOnImage(carol, '#4488cc');
    for (const file of payload.message.files) {
      delete file.url_private;
      delete file.url_private_download;
      delete file.mimetype;
      file.file_access = 'check_file_info';
    }
    fake.setLatency('users.info', SLOW_MS);
    fake.setLatency('files.info', SLOW_MS);
    try {
      expect((await fake.deliverInteraction(payload)).status).toBe(200);
      await fake.waitFor(() => formFor(payload), { timeoutMs: 15_000 });
      // Opened within the trigger's 3 s, as a notice, then turned into the form.
      const [opened] = fake
        .callsTo('views.open')
        .filter((call) => call.args.trigger_id === payload.trigger_id);
      expect(opened?.response).toMatchObject({ ok: true });
      expect(viewText(opened?.args.view)).toContain(slackText('en', 'modal.loading'));
      expect(fake.callsTo('files.info').length).toBeGreaterThan(0);
    } finally {
      fake.setLatency('users.info', 0);
      fake.setLatency('files.info', 0);
    }
  });

  it('acknowledges a submission before its slow files.info, then shows the refusal or starts the edit', async () => {
    const { png, post, payload } = await shortcutOnImage(ALICE, '#22bbdd');
    await fake.deliverInteraction(payload);
    const form = await fake.waitFor(() => formFor(payload));
    fake.setLatency('files.info', SLOW_MS);
    try {
      // A bad flag: acknowledged at once, then the form again with the user's text and why.
      const started = Date.now();
      const refusedAck = await fake.deliverInteraction(
        fake.viewSubmissionPayload({
          userId: ALICE,
          view: form,
          values: { nb_prompt: { prompt: { type: 'plain_text_input', value: 'frozen --ar 5:4' } } },
        }),
      );
      expect(refusedAck.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(refusedAck.body).toMatchObject({ response_action: 'update', view: { type: 'modal' } });
      const refusal = await fake.waitFor(
        () =>
          fake
            .callsTo('views.update')
            .find(
              (call) => call.args.view_id === form.id && viewText(call.args.view).includes('5:4'),
            ),
        { timeoutMs: 15_000 },
      );
      expect(viewText(refusal.args.view)).toContain('isn’t a supported aspect ratio');
      expect(viewText(refusal.args.view)).toContain('"initial_value":"frozen --ar 5:4"');
      expect(createsFor('frozen')).toEqual([]);

      // The same slow lookup: acknowledged first all the same (Bolt would answer 404 by itself
      // after 3 s, and the job would never start), then the edit runs.
      const submittedAt = Date.now();
      const ack = await fake.deliverInteraction(
        fake.viewSubmissionPayload({
          userId: ALICE,
          view: form,
          values: { nb_prompt: { prompt: { type: 'plain_text_input', value: 'frozen over' } } },
        }),
      );
      expect(ack.status).toBe(200);
      expect(Date.now() - submittedAt).toBeLessThan(3_000);
      expect(ack.body).toMatchObject({ response_action: 'update' });
      const job = await waitForPrompt('frozen over', 20_000);
      expect(job).toMatchObject({ state: 'done', action: 'edit', requesterId: ALICE });
      expect(imageUrlsOf('frozen over')).toEqual([dataUrl(png)]);
      expect(destinationOf(job).threadTs).toBe(post.ts);
      const shown = fake
        .callsTo('views.update')
        .filter((call) => call.args.view_id === form.id)
        .map((call) => viewText(call.args.view));
      expect(shown.some((text) => text.includes(slackText('en', 'modal.sent')))).toBe(true);
    } finally {
      fake.setLatency('files.info', 0);
    }
  });

  it('opens the ✏️ Edit button’s modal before a slow users.info, then the form', async () => {
    const original = await generate('a green door');
    const { channel, threadTs } = destinationOf(original);
    const buttons = fake
      .thread(channel, threadTs)
      .find((message) => JSON.stringify(message.blocks ?? []).includes(`"value":"${original.id}"`));
    if (buttons === undefined) throw new Error('no result buttons');
    const dave = 'U0DAVE0001';
    fake.addUser({ id: dave, name: 'dave', locale: 'fr-FR' });
    fake.setLatency('users.info', SLOW_MS);
    try {
      const press = fake.blockActionsPayload({
        userId: dave,
        channel: GENERAL,
        message: buttons,
        actionId: 'nb_edit',
        value: original.id,
      });
      await fake.deliverInteraction(press);
      const form = await fake.waitFor(
        () =>
          fake
            .views()
            .find(
              (view) =>
                view.callback_id === 'nb_edit_result' &&
                JSON.parse(view.private_metadata).jobId === original.id,
            ),
        { timeoutMs: 15_000 },
      );
      // In Dave's French once users.info has answered.
      expect(viewText(form.title)).toContain(slackText('fr', 'modal.title'));
      const [opened] = fake
        .callsTo('views.open')
        .filter((call) => call.args.trigger_id === press.trigger_id);
      expect(opened?.response).toMatchObject({ ok: true });
    } finally {
      fake.setLatency('users.info', 0);
    }
  });

  it('retries opening a modal for seconds, not minutes', async () => {
    const original = await generate('a red barn');
    const { channel, threadTs } = destinationOf(original);
    const buttons = fake
      .thread(channel, threadTs)
      .find((message) => JSON.stringify(message.blocks ?? []).includes(`"value":"${original.id}"`));
    if (buttons === undefined) throw new Error('no result buttons');
    const pressEdit = () =>
      fake.deliverInteraction(
        fake.blockActionsPayload({
          userId: BOB,
          channel: GENERAL,
          message: buttons,
          actionId: 'nb_edit',
          value: original.id,
        }),
      );

    // A passing fault is retried within the trigger's life: the modal opens.
    fake.failNext('views.open', { status: 503 });
    await pressEdit();
    await fake.waitFor(() =>
      fake
        .views()
        .find(
          (view) =>
            view.callback_id === 'nb_edit_result' &&
            JSON.parse(view.private_metadata).jobId === original.id,
        ),
    );

    // A rate limit asking for 30 s: given up at once (the trigger would be long dead), and said.
    const respondedBefore = fake.responses.length;
    fake.failNext('views.open', { status: 429, retryAfter: 30 });
    const pressed = Date.now();
    await pressEdit();
    const told = await fake.waitFor(
      () =>
        fake.responses
          .slice(respondedBefore)
          .find(
            (response) =>
              (response.body as { text?: string }).text === slackText('en', 'modal.failed'),
          ),
      { timeoutMs: 10_000 },
    );
    expect(told.user).toBe(BOB);
    expect(Date.now() - pressed).toBeLessThan(10_000);
  });
});

describe('a result thread’s latest image', () => {
  it('edits photo.png after an earlier file that was no image, and a refusal names the file just attached', async () => {
    const parent = await generate('a snowy hill');
    const threadTs = destinationOf(parent).threadTs;

    // y.png is text: its edit fails, naming it.
    const notAnImage = await shareFile('y.png', Buffer.from('not a picture at all'));
    await reply(threadTs, 'use y', [notAnImage]);
    const failed = await waitForPrompt('use y');
    expect(failed).toMatchObject({ state: 'failed', error: { params: { name: 'y.png' } } });

    // The next reply's photo.png is edited with the bot's image, not with y.png.
    const photoBytes = await pngOf('#ee2266');
    const photo = await shareFile('photo.png', photoBytes);
    await reply(threadTs, 'make it blue', [photo]);
    const edited = await waitForPrompt('make it blue');
    expect(edited.state).toBe('done');
    expect(imageUrlsOf('make it blue')).toEqual([
      dataUrl(await resultBytes(parent)),
      dataUrl(photoBytes),
    ]);

    // A reply without a file: the bot's latest result.
    await reply(threadTs, 'now at night');
    expect((await waitForPrompt('now at night')).state).toBe('done');
    expect(imageUrlsOf('now at night')).toEqual([dataUrl(await resultBytes(edited))]);

    // Another bad file: the refusal names it, the file just attached.
    const badBytes = Buffer.from('also not a picture');
    const bad = await shareFile('bad.png', badBytes);
    await reply(threadTs, 'with this one', [bad]);
    const refused = await waitForPrompt('with this one');
    expect(refused.state).toBe('failed');
    const notice = await fake.waitFor(() => failureNotice(refused));
    expect(notice.text).toContain('“bad.png” isn’t an image format');
    expect(notice.text).not.toContain('y.png');

    // A user's image a job used (its edit refused by the safety filter) is the latest one; the
    // bad file since is not.
    const secondBytes = await pngOf('#11aa11');
    const second = await shareFile('second.png', secondBytes);
    await reply(threadTs, 'paint it mock:fail', [second]);
    expect((await waitForPrompt('paint it mock:fail')).error?.code).toBe('moderation_blocked');
    await reply(threadTs, 'now in spring');
    expect((await waitForPrompt('now in spring')).state).toBe('done');
    expect(imageUrlsOf('now in spring')).toEqual([dataUrl(secondBytes)]);
  });

  it('is the photo a reply mentioning the bot hangs under, when the thread holds no result', async () => {
    const photoBytes = await pngOf('#aa7700');
    const photo = await shareFile('dog.png', photoBytes);
    const post = fake.userMessage({ channel: GENERAL, user: BOB, text: 'my dog', files: [photo] });
    const mention = fake.userMessage({
      channel: GENERAL,
      user: ALICE,
      text: `<@${fake.botUserId}> give it a hat`,
      threadTs: post.ts,
    });
    await fake.deliverEvent(fake.messageEvent(GENERAL, mention));
    expect((await waitForPrompt('give it a hat')).state).toBe('done');
    expect(imageUrlsOf('give it a hat')).toEqual([dataUrl(photoBytes)]);
  });

  it('leaves out a bad photo the thread hangs under once the reply attaches its own', async () => {
    const broken = await shareFile('z.png', Buffer.from('text, not a photo'));
    const post = fake.userMessage({ channel: GENERAL, user: BOB, text: 'look', files: [broken] });
    const mention = (text: string, files: FakeSlackFile[] = []) => {
      const message = fake.userMessage({
        channel: GENERAL,
        user: ALICE,
        text: `<@${fake.botUserId}> ${text}`,
        threadTs: post.ts,
        files,
      });
      return fake.deliverEvent(fake.messageEvent(GENERAL, message));
    };
    // Asked about the photo itself: the refusal is about it.
    await mention('make it pop');
    const failed = await waitForPrompt('make it pop');
    expect(failed).toMatchObject({ state: 'failed', error: { params: { name: 'z.png' } } });
    // A reply with its own image edits that image, not the broken one again.
    const ownBytes = await pngOf('#0055aa');
    await mention('use mine instead', [await shareFile('mine.png', ownBytes)]);
    expect((await waitForPrompt('use mine instead')).state).toBe('done');
    expect(imageUrlsOf('use mine instead')).toEqual([dataUrl(ownBytes)]);
  });

  it('tells the user privately when Slack will not give the thread, and sends nothing', async () => {
    const parent = await generate('a quiet pond');
    const threadTs = destinationOf(parent).threadTs;
    const cases = [
      {
        fault: 'missing_scope',
        expected: slackText('en', 'thread.missing_scope', { scope: 'channels:history' }),
      },
      {
        fault: 'not_in_channel',
        expected: slackText('en', 'thread.not_in_channel', { bot: 'nano-banana' }),
      },
      { fault: { status: 429, retryAfter: 1 }, expected: slackText('en', 'thread.rate_limited') },
      {
        fault: 'thread_not_found',
        expected: slackText('en', 'thread.unreadable', { code: 'thread_not_found' }),
      },
    ] as const;
    for (const [index, { fault, expected }] of cases.entries()) {
      const prompt = `add ducks ${index}`;
      fake.failNext('conversations.replies', fault);
      await reply(threadTs, prompt);
      const told = await fake.waitFor(() =>
        fake
          .messages(GENERAL)
          .find((message) => message.ephemeralTo === ALICE && message.text === expected),
      );
      expect(told.thread_ts).toBe(threadTs);
      expect(createsFor(prompt)).toEqual([]);
    }
    // Nothing was queued either: no status message for any of them.
    for (const index of cases.keys()) {
      expect(
        fake
          .thread(GENERAL, threadTs)
          .some(
            (message) =>
              message.user === fake.botUserId && message.text.includes(`add ducks ${index}`),
          ),
      ).toBe(false);
    }
  });
});
