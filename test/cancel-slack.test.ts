import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import type { MockTask } from '../src/mock-api/index.js';
import type { FakeSlackMessage } from './fakes/slack/index.js';
import { eventually } from './helpers/eventually.js';
import { type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

/**
 * Cancelling on Slack, end to end through the real Bolt: the first job's task is held by the mock
 * API for as long as a test needs (no delay to race), so the next one waits in line.
 */

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const ADMIN = 'U0ADMIN001';
const GENERAL = 'C0GENERAL1';
const DAILY_IMAGES = 10;

let harness: SlackHarness;

beforeAll(async () => {
  harness = await startSlackHarness({
    mode: 'http',
    fake: {
      users: [
        { id: ALICE, name: 'alice', locale: 'en-US' },
        { id: BOB, name: 'bob', locale: 'en-GB' },
        { id: ADMIN, name: 'operator', locale: 'en-US' },
      ],
      channels: [{ id: GENERAL, name: 'general' }],
    },
    env: {
      // One job at a time: the next one waits in line behind the held first.
      NANO_BANANA_MAX_CONCURRENT_JOBS: '1',
      NANO_BANANA_DAILY_IMAGES_PER_USER: String(DAILY_IMAGES),
      NANO_BANANA_ADMIN_IDS: ADMIN,
    },
  });
});
afterAll(async () => {
  await harness?.close();
});
afterEach(() => {
  harness.api.release();
});

const engine = () => harness.service.engine;

const command = (prompt: string, userId = ALICE) =>
  harness.fake.deliverSlashCommand({
    command: '/imagine',
    text: prompt,
    userId,
    channelId: GENERAL,
  });

const taskOf = (prompt: string): MockTask | undefined =>
  [...harness.api.tasks.values()].find((task) => task.request.prompt === prompt);

const createsWith = (prompt: string) =>
  harness.api.creates().filter((call) => (call.body as { prompt?: string }).prompt === prompt);

/** The bot's status message of a request, as it is now. */
const statusOf = (prompt: string): FakeSlackMessage | undefined =>
  harness.fake
    .messages(GENERAL)
    .find(
      (message) =>
        message.user === harness.fake.botUserId &&
        message.ephemeralTo === undefined &&
        message.text.includes(prompt),
    );

/** The job id a status message's Cancel button carries, if it has one. */
function cancelValueOf(message: FakeSlackMessage | undefined): string | undefined {
  const blocks = (message?.blocks ?? []) as {
    type: string;
    elements?: { action_id?: string; value?: string }[];
  }[];
  return blocks
    .flatMap((block) => (block.type === 'actions' ? (block.elements ?? []) : []))
    .find((element) => element.action_id === 'nb_cancel')?.value;
}

/** Runs `/imagine <prompt>` and waits for its status message to offer Cancel (it waits in line). */
async function queue(prompt: string, userId = ALICE) {
  await command(prompt, userId);
  const message = await harness.fake.waitFor(
    () => {
      const status = statusOf(prompt);
      // A copy: what the member's screen shows now, whatever later edits do to the stored message.
      return cancelValueOf(status) === undefined ? undefined : structuredClone(status);
    },
    { timeoutMs: 10_000 },
  );
  return { message, jobId: cancelValueOf(message) ?? '' };
}

/** Waits until the mock API holds the task of a prompt: its job is running. */
const running = (prompt: string) => harness.fake.waitFor(() => taskOf(prompt));

/** Waits for a request's status message to say it started, and returns it. */
const startedStatus = (prompt: string) =>
  harness.fake.waitFor(() => {
    const status = statusOf(prompt);
    return status?.text.includes('Working on it') ? status : undefined;
  });

const press = (message: FakeSlackMessage, userId: string, jobId: string) =>
  harness.fake.deliverInteraction(
    harness.fake.blockActionsPayload({
      userId,
      channel: GENERAL,
      message,
      actionId: 'nb_cancel',
      value: jobId,
    }),
  );

/** The private answers a user got in the channel. */
const privateTexts = (userId: string) =>
  harness.fake
    .messages(GENERAL)
    .filter((message) => message.ephemeralTo === userId)
    .map((message) => message.text);

const privateAnswer = (userId: string, text: string) =>
  harness.fake.waitFor(() => privateTexts(userId).find((shown) => shown === text));

/** Waits until no job waits or runs, every one of them in a final state. */
const idle = () =>
  harness.fake.waitFor(
    () => (engine().stats.queued === 0 && engine().stats.inFlight === 0 ? true : undefined),
    { timeoutMs: 15_000 },
  );

const finishedWith = (prompt: string): Job[] =>
  harness.finished.filter((job) => job.prompt === prompt);

const imagesLeft = async (userId: string, teamId: string) =>
  (await engine().usage(userId, teamId)).user;

describe('Cancel on Slack', () => {
  it('cancels a waiting request: no create, stored cancelled, its images given back, the first one unharmed', async () => {
    harness.api.hold();
    await command('first sunrise');
    await running('first sunrise');
    // The first one has started: its status no longer offers to cancel.
    expect(cancelValueOf(await startedStatus('first sunrise'))).toBeUndefined();
    const second = await queue('second sunrise');
    expect(second.message.text).toContain('Queued: you’re next.');
    const teamId = (await engine().getJob(second.jobId))?.serverId ?? '';
    const leftBefore = await imagesLeft(ALICE, teamId);

    await press(second.message, ALICE, second.jobId);
    await harness.fake.waitFor(() =>
      statusOf('second sunrise')?.text.includes('The request was cancelled.') ? true : undefined,
    );
    expect(cancelValueOf(statusOf('second sunrise'))).toBeUndefined();
    expect(await engine().getJob(second.jobId)).toMatchObject({
      state: 'cancelled',
      reservedImages: 0,
    });
    expect(await imagesLeft(ALICE, teamId)).toBe((leftBefore ?? 0) + 1);
    // Cancelling one's own request is answered by the status message alone.
    expect(privateTexts(ALICE)).toEqual([]);

    harness.api.release();
    await idle();
    expect(finishedWith('second sunrise').map((job) => job.state)).toEqual(['cancelled']);
    expect(finishedWith('first sunrise').map((job) => job.state)).toEqual(['done']);
    expect(createsWith('second sunrise')).toHaveLength(0);
    expect(createsWith('first sunrise')).toHaveLength(1);
    expect(await engine().getJob(second.jobId)).toMatchObject({
      state: 'cancelled',
      reservedImages: 0,
    });
    expect(await imagesLeft(ALICE, teamId)).toBe((leftBefore ?? 0) + 1);
  });

  it('lets an operator admin cancel someone else’s waiting request, and no one else', async () => {
    harness.api.hold();
    await command('holding the slot', BOB);
    await running('holding the slot');
    const waiting = await queue('alice’s request');

    await press(waiting.message, BOB, waiting.jobId);
    await privateAnswer(BOB, 'Only the person who asked can cancel this request.');
    expect((await engine().getJob(waiting.jobId))?.state).toBe('queued');

    await press(waiting.message, ADMIN, waiting.jobId);
    await harness.fake.waitFor(() =>
      statusOf('alice’s request')?.text.includes('The request was cancelled.') ? true : undefined,
    );
    expect(await engine().getJob(waiting.jobId)).toMatchObject({
      state: 'cancelled',
      requesterId: ALICE,
      reservedImages: 0,
    });
    expect(privateTexts(ADMIN)).toEqual([]);

    harness.api.release();
    await idle();
    expect(createsWith('alice’s request')).toHaveLength(0);
    expect(finishedWith('holding the slot').map((job) => job.state)).toEqual(['done']);
  });

  it('answers “too late” to a Cancel pressed once the job has started, and the job goes on', async () => {
    harness.api.hold();
    await command('ahead of it', BOB);
    const ahead = await running('ahead of it');
    const late = await queue('started before the press');

    harness.api.release(ahead.id);
    await running('started before the press');
    // Its status drops the Cancel button once it starts...
    expect(cancelValueOf(await startedStatus('started before the press'))).toBeUndefined();
    // Its task exists: the engine has it running once the create's answer is in.
    await eventually(async () => (await await engine().getJob(late.jobId))?.state === 'running');

    // ...but a member whose screen still shows it may press it.
    await press(late.message, ALICE, late.jobId);
    await privateAnswer(ALICE, 'It’s too late to cancel: this request has already started.');
    expect((await engine().getJob(late.jobId))?.state).toBe('running');

    harness.api.release();
    await idle();
    expect((await engine().getJob(late.jobId))?.state).toBe('done');
    expect(createsWith('started before the press')).toHaveLength(1);
  });
});
