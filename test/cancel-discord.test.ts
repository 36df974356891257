import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import { type MockApi, type MockTask, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';
import { eventually } from './helpers/eventually.js';

/**
 * Cancelling on Discord, end to end through the real discord.js: the first job's task is held by
 * the mock API for as long as a test needs (no delay to race), so the second waits in line.
 */

const ADMIN = '700000000000000001';
const STRANGER = '700000000000000002';
const DAILY_IMAGES = 10;
const WEBHOOK_EDIT = 'PATCH /webhooks/:applicationId/:token/messages/:messageId';

let api: MockApi;
let fake: FakeDiscord;
let bot: DiscordBot | undefined;
/** Every job that reached a final state, in order. */
let finished: Job[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  api.release();
  await bot?.stop();
  bot = undefined;
  await fake?.close();
});

async function start(): Promise<DiscordBot> {
  fake = await FakeDiscord.start();
  finished = [];
  bot = await startDiscordBot(fake, api, {
    env: {
      // One job at a time: the second waits in line behind the held first.
      NANO_BANANA_MAX_CONCURRENT_JOBS: '1',
      NANO_BANANA_DAILY_IMAGES_PER_USER: String(DAILY_IMAGES),
      NANO_BANANA_ADMIN_IDS: ADMIN,
    },
  });
  bot.service.engine.on('finished', (job) => finished.push(job));
  await fake.ready();
  return bot;
}

const engine = () => {
  if (bot === undefined) throw new Error('the bot is not running');
  return bot.service.engine;
};

const taskOf = (prompt: string): MockTask | undefined =>
  [...api.tasks.values()].find((task) => task.request.prompt === prompt);

const createsWith = (prompt: string) =>
  api.creates().filter((call) => (call.body as { prompt?: string }).prompt === prompt);

function buttonIds(message: FakeMessage): string[] {
  return message.components.flatMap((row) =>
    ((row.components ?? []) as { custom_id?: string }[]).map(
      (component) => component.custom_id ?? '',
    ),
  );
}

const cancelButtonOf = (message: FakeMessage): string | undefined =>
  buttonIds(message).find((id) => id.startsWith('nb:cancel:'));

/** The job id a Cancel button names (`nb:cancel:<job id>`). */
const jobIdOf = (cancelId: string): string => cancelId.split(':')[2] ?? '';

/** Runs `/imagine <prompt>` and waits for its reply to show the Cancel button of a queued job. */
async function queue(prompt: string, userId?: string) {
  const interaction = fake.sendSlashCommand({
    name: 'imagine',
    options: { prompt },
    ...(userId === undefined ? {} : { userId }),
  });
  const message = await fake.waitFor(
    () => {
      const original = fake.interactionResponses(interaction.id).original;
      return original !== undefined && cancelButtonOf(original) !== undefined
        ? original
        : undefined;
    },
    { description: `the queued reply of "${prompt}"` },
  );
  const cancelId = cancelButtonOf(message) ?? '';
  return { interaction, message, cancelId, jobId: jobIdOf(cancelId) };
}

/** Waits until the mock API holds the task of a prompt: its job is running. */
const running = (prompt: string) =>
  fake.waitFor(() => taskOf(prompt), { description: `the task of "${prompt}"` });

/** Waits until no job waits or runs, every one of them in a final state. */
const idle = () =>
  fake.waitFor(
    () => (engine().stats.queued === 0 && engine().stats.inFlight === 0 ? true : undefined),
    { timeoutMs: 15_000, description: 'every job final' },
  );

/** The private answer a click got. */
const privateAnswer = (interactionId: string) =>
  fake.waitFor(
    () => {
      const callback = fake.interactionResponses(interactionId).callbacks[0];
      const content = (callback?.data as { content?: string } | undefined)?.content;
      return content === undefined ? undefined : { type: callback?.type, content };
    },
    { description: 'the private answer' },
  );

const imagesLeft = async (userId: string) => (await engine().usage(userId, fake.guildId)).user;

describe('Cancel on Discord', () => {
  it('cancels a waiting request: no create, stored cancelled, its images given back, the first one unharmed', async () => {
    await start();
    api.hold();
    const first = fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'first in line' } });
    await running('first in line');
    const second = await queue('second in line');
    expect(second.message.content).toMatch(/#1/);
    expect(await imagesLeft(fake.userId)).toBe(DAILY_IMAGES - 2);

    // The first one has started: its message no longer offers to cancel.
    const started = await fake.waitFor(
      () => {
        const original = fake.interactionResponses(first.id).original;
        return original !== undefined && /Working on it/.test(original.content)
          ? original
          : undefined;
      },
      { description: 'the first job’s started message' },
    );
    expect(cancelButtonOf(started)).toBeUndefined();

    const click = fake.sendButton({ customId: second.cancelId, messageId: second.message.id });
    const cancelledMessage = await fake.waitFor(
      () => {
        const original = fake.interactionResponses(second.interaction.id).original;
        return original?.content === 'The request was cancelled.' ? original : undefined;
      },
      { description: 'the cancelled notice' },
    );
    expect(cancelButtonOf(cancelledMessage)).toBeUndefined();
    // The click itself is only acknowledged (a deferred update), nothing said to anyone else.
    expect(fake.interactionResponses(click.id).callbacks.map((callback) => callback.type)).toEqual([
      6,
    ]);
    expect(await engine().getJob(second.jobId)).toMatchObject({
      state: 'cancelled',
      reservedImages: 0,
    });
    expect(await imagesLeft(fake.userId)).toBe(DAILY_IMAGES - 1);

    api.release();
    await idle();
    expect(finished.map((job) => [job.prompt, job.state])).toEqual([
      ['second in line', 'cancelled'],
      ['first in line', 'done'],
    ]);
    expect(fake.interactionResponses(first.id).original?.attachments).toHaveLength(1);
    expect(createsWith('second in line')).toHaveLength(0);
    expect(createsWith('first in line')).toHaveLength(1);
    expect(await engine().getJob(second.jobId)).toMatchObject({
      state: 'cancelled',
      reservedImages: 0,
    });
    expect(await imagesLeft(fake.userId)).toBe(DAILY_IMAGES - 1);
  });

  it('lets an operator admin cancel someone else’s waiting request, and no one else', async () => {
    await start();
    api.hold();
    fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'holding the slot' } });
    await running('holding the slot');
    const waiting = await queue('someone’s request');

    const stranger = fake.sendButton({
      customId: waiting.cancelId,
      messageId: waiting.message.id,
      userId: STRANGER,
    });
    expect(await privateAnswer(stranger.id)).toEqual({
      type: 4,
      content: 'Only the person who asked can cancel this.',
    });
    expect((await engine().getJob(waiting.jobId))?.state).toBe('queued');

    const admin = fake.sendButton({
      customId: waiting.cancelId,
      messageId: waiting.message.id,
      userId: ADMIN,
    });
    await fake.waitFor(
      () =>
        fake.interactionResponses(waiting.interaction.id).original?.content ===
          'The request was cancelled.' || undefined,
      { description: 'the cancelled notice' },
    );
    expect(fake.interactionResponses(admin.id).callbacks.map((callback) => callback.type)).toEqual([
      6,
    ]);
    expect(await engine().getJob(waiting.jobId)).toMatchObject({
      state: 'cancelled',
      requesterId: fake.userId,
      reservedImages: 0,
    });
    expect(await imagesLeft(fake.userId)).toBe(DAILY_IMAGES - 1);

    api.release();
    await idle();
    expect(createsWith('someone’s request')).toHaveLength(0);
    expect(finished.map((job) => job.state).sort()).toEqual(['cancelled', 'done']);
  });

  it('answers “too late” to a Cancel clicked once the job has started, and the job goes on', async () => {
    await start();
    api.hold();
    // The first job comes from a DM, so that its messages go through the channel routes: the next
    // interaction-webhook edit is then the second job's "started" one.
    fake.postUserMessage({ channelId: fake.openDm(fake.userId), content: 'a DM request' });
    const dmTask = await running('a DM request');
    const late = await queue('started before the click');

    // That edit is lost (as one still on its way would be): the member still sees Cancel.
    fake.failNext(WEBHOOK_EDIT, 400);
    api.release(dmTask.id);
    await running('started before the click');
    await fake.waitFor(
      () =>
        fake.calls.some(
          (call) =>
            call.route === WEBHOOK_EDIT && call.status === 400 && call.path.includes('@original'),
        ) || undefined,
      { description: 'the lost "started" edit' },
    );
    // Its task exists: the engine has it running once the create's answer is in.
    await eventually(async () => (await await engine().getJob(late.jobId))?.state === 'running');

    const click = fake.sendButton({ customId: late.cancelId, messageId: late.message.id });
    expect(await privateAnswer(click.id)).toEqual({
      type: 4,
      content: 'Too late to cancel: this one has already started.',
    });
    expect((await engine().getJob(late.jobId))?.state).toBe('running');

    api.release();
    await idle();
    expect(await engine().getJob(late.jobId)).toMatchObject({ state: 'done' });
    expect(createsWith('started before the click')).toHaveLength(1);
    expect(fake.interactionResponses(late.interaction.id).original?.attachments).toHaveLength(1);
  });
});
