import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import type { FakeSlackMessage } from './fakes/slack/index.js';
import { type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

/**
 * Who may do what on Slack, and what users' text may not do (issue 9): a workspace admin is a
 * moderator (deletes anyone's result) with the quotas of anyone, only the operator admins skip
 * them; a file's name or a flag a user typed is escaped wherever it joins mrkdwn, so that
 * `<!channel>` pings nobody and `<https://evil|Re-authorise>` is no link. The real Bolt app
 * against the fake Slack, the real engine against the mock API.
 */

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const WORKSPACE_ADMIN = 'U0WSADMIN1';
const OPERATOR = 'U0OPERATOR';
const GENERAL = 'C0GENERAL1';

interface SlackDestination {
  channel: string;
  threadTs: string;
  statusTs: string;
}

function destinationOf(job: Job): SlackDestination {
  return job.destination as SlackDestination;
}

let harness: SlackHarness;

beforeAll(async () => {
  harness = await startSlackHarness({
    mode: 'http',
    fake: {
      users: [
        { id: ALICE, name: 'alice', locale: 'en-US' },
        { id: BOB, name: 'bob', locale: 'en-US' },
        { id: WORKSPACE_ADMIN, name: 'wsadmin', locale: 'en-US', isAdmin: true },
        { id: OPERATOR, name: 'operator', locale: 'en-US' },
      ],
      channels: [{ id: GENERAL, name: 'general' }],
    },
    env: { NANO_BANANA_DAILY_IMAGES_PER_USER: '1', NANO_BANANA_ADMIN_IDS: OPERATOR },
  });
});
afterAll(async () => {
  await harness?.close();
});

const creates = (prompt: string) =>
  harness.api.creates().filter((call) => (call.body as { prompt?: string }).prompt === prompt);

const command = (text: string, userId: string) =>
  harness.fake.deliverSlashCommand({ command: '/imagine', text, userId, channelId: GENERAL });

/** Runs `/imagine <prompt>` and waits for its job to end. */
async function generate(prompt: string, userId: string): Promise<Job> {
  await command(prompt, userId);
  return harness.waitForJob((job) => job.prompt === prompt);
}

/** Runs a command that must be answered privately at once: the answer's text. */
async function privateAnswer(text: string, userId: string): Promise<string> {
  const { fake } = harness;
  const before = fake.responses.length;
  await command(text, userId);
  const response = await fake.waitFor(() => fake.responses[before]);
  expect(response.body).toMatchObject({ response_type: 'ephemeral' });
  return (response.body as { text: string }).text;
}

function ephemeralTo(userId: string, includes: string): Promise<FakeSlackMessage> {
  return harness.fake.waitFor(() =>
    harness.fake
      .messages(GENERAL)
      .find((message) => message.ephemeralTo === userId && message.text.includes(includes)),
  );
}

function resultFiles(job: Job) {
  const { fake } = harness;
  return fake
    .files()
    .filter(
      (file) =>
        file.user === fake.botUserId &&
        file.threadTs === destinationOf(job).threadTs &&
        file.name.includes(job.id),
    );
}

function buttonsOf(job: Job): FakeSlackMessage {
  const { channel, threadTs } = destinationOf(job);
  const found = harness.fake
    .thread(channel, threadTs)
    .find((message) => JSON.stringify(message.blocks ?? []).includes(`"value":"${job.id}"`));
  if (found === undefined) throw new Error(`no buttons for job ${job.id}`);
  return found;
}

function statusOf(job: Job): FakeSlackMessage {
  const { channel, statusTs } = destinationOf(job);
  const found = harness.fake.messages(channel).find((message) => message.ts === statusTs);
  if (found === undefined) throw new Error(`no status message for job ${job.id}`);
  return found;
}

describe('Slack moderators and quotas', () => {
  it('let a workspace admin delete anyone’s result, with the daily quota of anyone; an operator admin has none', async () => {
    const { fake } = harness;
    const bobs = await generate('bob’s boat', BOB);
    expect(bobs.state).toBe('done');
    await fake.deliverInteraction(
      fake.blockActionsPayload({
        userId: WORKSPACE_ADMIN,
        channel: GENERAL,
        message: buttonsOf(bobs),
        actionId: 'nb_delete',
        value: bobs.id,
      }),
    );
    await fake.waitFor(() => resultFiles(bobs).length === 0);
    await fake.waitFor(() => statusOf(bobs).text.includes(`deleted by <@${WORKSPACE_ADMIN}>`));

    expect((await generate('admin’s first', WORKSPACE_ADMIN)).state).toBe('done');
    expect(await privateAnswer('admin’s second', WORKSPACE_ADMIN)).toBe(
      'You have reached your daily limit of 1 images. It resets at midnight UTC.',
    );
    expect(creates('admin’s second')).toEqual([]);

    expect((await generate('operator’s first', OPERATOR)).state).toBe('done');
    expect((await generate('operator’s second', OPERATOR)).state).toBe('done');
  });
});

describe('Slack mrkdwn from users', () => {
  it('escapes a file name in the refusal of a file that is not an image', async () => {
    const { fake } = harness;
    // Alice's one image of the day; the edits below are refused or fail before they count.
    const parent = await generate('a quiet harbour', ALICE);
    const threadTs = destinationOf(parent).threadTs;

    const notes = fake.addFile({
      name: '<!channel>',
      mimetype: 'text/plain',
      bytes: Buffer.from('not an image'),
      userId: ALICE,
    });
    const textReply = fake.userMessage({
      channel: GENERAL,
      user: ALICE,
      text: 'use my notes',
      threadTs,
      files: [notes],
    });
    await fake.deliverEvent(fake.messageEvent(GENERAL, textReply));
    const refusal = await ephemeralTo(ALICE, 'isn’t an image format');
    expect(refusal.text).toBe(
      '“&lt;!channel&gt;” isn’t an image format I can use. Try PNG, JPEG or WebP.',
    );
    expect(creates('use my notes')).toEqual([]);
  });

  it('escapes a file name in the thread notice and the status of a job that fails at its turn', async () => {
    const { fake } = harness;
    const parent = await generate('a quiet bay', OPERATOR);
    const disguised = fake.addFile({
      name: '<https://evil|Re-authorise>.png',
      mimetype: 'image/png',
      bytes: Buffer.from('this is text, not a picture'),
      userId: OPERATOR,
    });
    const reply = fake.userMessage({
      channel: GENERAL,
      user: OPERATOR,
      text: 'use this one',
      threadTs: destinationOf(parent).threadTs,
      files: [disguised],
    });
    await fake.deliverEvent(fake.messageEvent(GENERAL, reply));
    const failed = await harness.waitForJob((job) => job.prompt === 'use this one');
    expect(failed.state).toBe('failed');

    const expected =
      '“&lt;https://evil|Re-authorise&gt;.png” isn’t an image format I can use. Try PNG, JPEG or WebP.';
    const notice = await fake.waitFor(() =>
      fake
        .thread(GENERAL, destinationOf(failed).threadTs)
        .find(
          (message) =>
            message.user === fake.botUserId &&
            message.blocks === undefined &&
            message.text.startsWith(`<@${OPERATOR}> `),
        ),
    );
    expect(notice.text).toBe(`<@${OPERATOR}> ${expected}`);
    const status = await fake.waitFor(() =>
      JSON.stringify(statusOf(failed).blocks).includes('❌') ? statusOf(failed) : undefined,
    );
    const statusTexts = (status.blocks ?? []).flatMap((block) =>
      ((block as { elements?: { text?: string }[] }).elements ?? []).map((element) => element.text),
    );
    expect(statusTexts).toContain(`❌ ${expected}`);
    expect(creates('use this one')).toEqual([]);
  });

  it('escapes what a user typed in a flag, from a command and from a message', async () => {
    const { fake } = harness;
    const fromCommand = await privateAnswer('a cat --model <!channel>', BOB);
    expect(fromCommand).toMatch(/^I don’t know the model “&lt;!channel&gt;”\. Available models: /);
    expect(fromCommand).not.toContain('<!channel>');

    // Slack sends what a user typed with `<`, `>` and `&` escaped; the bot reads it back as text.
    const mention = fake.userMessage({
      channel: GENERAL,
      user: BOB,
      text: `<@${fake.botUserId}> a fox --ar &lt;https://evil|Re-authorise&gt;`,
    });
    await fake.deliverEvent(fake.appMentionEvent(GENERAL, mention));
    const refusal = await ephemeralTo(BOB, 'aspect ratio');
    expect(refusal.text).toMatch(
      /^“&lt;https:\/\/evil\|Re-authorise&gt;” isn’t a supported aspect ratio\. Use one of: /,
    );
    expect(creates('a fox')).toEqual([]);
  });

  it('shows a prompt in the status message as the characters typed', async () => {
    const { fake } = harness;
    const mention = fake.userMessage({
      channel: GENERAL,
      user: OPERATOR,
      text: `<@${fake.botUserId}> &lt;!here&gt; &lt;https://evil|Re-authorise&gt; a fox &amp; a hen`,
    });
    await fake.deliverEvent(fake.appMentionEvent(GENERAL, mention));
    const job = await harness.waitForJob((candidate) => candidate.prompt.endsWith('a hen'));
    expect(job.prompt).toBe('<!here> <https://evil|Re-authorise> a fox & a hen');
    const section = (statusOf(job).blocks ?? [])[0] as { text?: { text?: string } };
    expect(section.text?.text).toBe(
      `<@${OPERATOR}> asked for an image:\n>&lt;!here&gt; &lt;https://evil|Re-authorise&gt; a fox &amp; a hen`,
    );
  });
});
