import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isFinal, type Job } from '../src/core/index.js';
import { type MockApi, type MockTask, startMockApi } from '../src/mock-api/index.js';
import type { FakeMessage } from './fakes/discord/index.js';
import type { FakeSlackMessage } from './fakes/slack/index.js';
import { type BothHarness, startBothHarness } from './helpers/both-harness.js';
import { API_TOKEN } from './helpers/engine-fixture.js';
import { LatePort } from './helpers/late-port.js';

/**
 * Both adapters, through the real discord.js and Bolt, over a job port whose every call answers
 * only after a macrotask delay (as a store across the network would): requests are still
 * accepted, refused, cancelled and deleted as with the engine in the same process. An adapter
 * that forgets to await one of the port's calls fails here: it goes on before the call took
 * effect, or never hears of its failure.
 */

const SLACK_USER = 'U0LATEUSR1';
const SLACK_OTHER = 'U0LATEUSR2';
const SLACK_CHANNEL = 'C0LATECHN1';
const STRANGER = '730000000000000002';
const WEBHOOK_EDIT = 'PATCH /webhooks/:applicationId/:token/messages/:messageId';
/** Longer than a loopback round trip: what the adapter does next would overtake the call. */
const PORT_DELAY_MS = 40;

let api: MockApi;
let harness: BothHarness;
const port = new LatePort(PORT_DELAY_MS);

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
  harness = await startBothHarness({
    api,
    apiToken: API_TOKEN,
    slack: {
      users: [
        { id: SLACK_USER, name: 'late', locale: 'en-US' },
        { id: SLACK_OTHER, name: 'other', locale: 'en-US' },
      ],
      channels: [{ id: SLACK_CHANNEL, name: 'general' }],
    },
    env: {
      // One job at a time: a second request waits in line behind a held first.
      NANO_BANANA_MAX_CONCURRENT_JOBS: '1',
      NANO_BANANA_BLOCKED_WORDS: 'forbidden',
    },
    wrapJobs: (jobs) => port.wrap(jobs),
  });
});
afterAll(async () => {
  api.release();
  await harness?.close();
  await api.close();
});
afterEach(async () => {
  api.release();
  await idle();
});

/** What the store holds now, read without the late port's delay. */
const stored = (jobId: string): Promise<Job | undefined> => port.direct.getJob(jobId);

/** Polls an asynchronous condition until it gives a value (bounded). */
async function eventually<T>(
  condition: () => Promise<T | undefined | false>,
  description: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until every job made through the port is final. */
const idle = () =>
  eventually(async () => {
    const jobs = await Promise.all(port.created.map((jobId) => stored(jobId)));
    return jobs.every((job) => job !== undefined && isFinal(job.state));
  }, 'every job final');

const taskOf = (prompt: string): MockTask | undefined =>
  [...api.tasks.values()].find((task) => task.request.prompt === prompt);

const running = (prompt: string) =>
  harness.discord.waitFor(() => taskOf(prompt), { description: `the task of "${prompt}"` });

const createsWith = (prompt: string) =>
  api.creates().filter((call) => (call.body as { prompt?: string }).prompt === prompt);

const finishedJob = (prompt: string): Job | undefined =>
  harness.finished.find((job) => job.prompt === prompt);

describe('Discord over a late port', () => {
  const buttonIds = (message: FakeMessage): string[] =>
    message.components.flatMap((row) =>
      ((row.components ?? []) as { custom_id?: string }[]).map(
        (component) => component.custom_id ?? '',
      ),
    );
  const buttonOf = (message: FakeMessage, action: string) =>
    buttonIds(message).find((id) => id.startsWith(`nb:${action}:`)) ?? '';
  /** What the interaction's reply said, edit after edit. */
  const replyEdits = (token: string): string[] =>
    harness.discord.calls
      .filter((call) => call.route === WEBHOOK_EDIT && call.path.includes(`/${token}/`))
      .map((call) => (call.json as { content?: string }).content ?? '');
  const originalOf = (interactionId: string) =>
    harness.discord.interactionResponses(interactionId).original;
  const resultOf = (interactionId: string) =>
    harness.discord.waitFor(
      () => {
        const original = originalOf(interactionId);
        return original !== undefined && original.attachments.length > 0 ? original : undefined;
      },
      { timeoutMs: 15_000, description: 'the result' },
    );

  it('shows “in line” before the engine’s “working on it”, then delivers', async () => {
    const { discord } = harness;
    api.hold();
    const interaction = discord.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'a late fox' },
    });
    await running('a late fox');
    await discord.waitFor(() => /Working on it/.test(originalOf(interaction.id)?.content ?? ''), {
      description: 'the started message',
    });
    // The engine started the job before `submit` answered the adapter: its progress still comes
    // after the adapter's own first word, never overwritten by it.
    const edits = replyEdits(interaction.token);
    expect(edits[0]).toMatch(/In line/);
    expect(edits.slice(edits.findIndex((text) => /Working on it/.test(text)))).not.toContainEqual(
      expect.stringMatching(/In line/),
    );
    api.release();
    const result = await resultOf(interaction.id);
    expect(result.content).toContain('a late fox');
    expect(createsWith('a late fox')).toHaveLength(1);
  });

  it('refuses privately before the defer, and sends nothing', async () => {
    const { discord } = harness;
    const interaction = discord.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'a forbidden fox' },
    });
    const callback = await discord.waitFor(
      () => discord.interactionResponses(interaction.id).callbacks[0],
      { description: 'the refusal' },
    );
    expect(callback.type).toBe(4);
    const data = callback.data as { content: string; flags: number };
    expect(data.flags & 64).toBe(64);
    expect(data.content).toMatch(/isn’t allowed/);
    expect(discord.interactionResponses(interaction.id).callbacks).toHaveLength(1);

    // The same by a message that mentions the bot: a reply, and no progress message.
    const asked = discord.postUserMessage({ content: `<@${discord.botUserId}> a forbidden cat` });
    const answer = await discord.waitFor(
      () =>
        discord
          .messages(discord.channelId)
          .find((message) => message.message_reference?.message_id === asked.id),
      { description: 'the reply' },
    );
    expect(answer.content).toMatch(/isn’t allowed/);
    expect(createsWith('a forbidden fox')).toHaveLength(0);
    expect(createsWith('a forbidden cat')).toHaveLength(0);
  });

  it('asks for Send Messages only when the job is likely to wait past the interaction token', async () => {
    const { discord } = harness;
    discord.denyPermission(discord.channelId, 'SEND_MESSAGES');
    try {
      // A free slot: the result goes through the interaction, which needs no Send Messages.
      const now = discord.sendSlashCommand({ name: 'imagine', options: { prompt: 'a fox now' } });
      const result = await resultOf(now.id);
      expect(result.content).toContain('a fox now');

      api.hold();
      discord.sendSlashCommand({ name: 'imagine', options: { prompt: 'a fox holding on' } });
      await running('a fox holding on');
      const later = discord.sendSlashCommand({
        name: 'imagine',
        options: { prompt: 'a fox later' },
      });
      const callback = await discord.waitFor(
        () => discord.interactionResponses(later.id).callbacks[0],
        { description: 'the refusal' },
      );
      expect(callback.type).toBe(4);
      expect((callback.data as { content: string }).content).toMatch(/Send Messages/);
      expect(createsWith('a fox later')).toHaveLength(0);
    } finally {
      discord.allowPermission(discord.channelId, 'SEND_MESSAGES');
    }
  });

  it('cancels a waiting request for its requester only', async () => {
    const { discord } = harness;
    api.hold();
    discord.sendSlashCommand({ name: 'imagine', options: { prompt: 'holds the slot' } });
    await running('holds the slot');
    const waiting = discord.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'waits in line' },
    });
    const queued = await discord.waitFor(
      () => {
        const original = originalOf(waiting.id);
        return original !== undefined && buttonOf(original, 'cancel') !== '' ? original : undefined;
      },
      { description: 'the queued reply' },
    );
    const cancelId = buttonOf(queued, 'cancel');
    const jobId = cancelId.split(':')[2] ?? '';

    const stranger = discord.sendButton({
      customId: cancelId,
      messageId: queued.id,
      userId: STRANGER,
    });
    const refused = await discord.waitFor(
      () => discord.interactionResponses(stranger.id).callbacks[0],
      { description: 'the refusal' },
    );
    expect((refused.data as { content: string }).content).toMatch(/Only the person/);
    expect((await stored(jobId))?.state).toBe('queued');

    const owner = discord.sendButton({ customId: cancelId, messageId: queued.id });
    const acknowledged = await discord.waitFor(
      () => discord.interactionResponses(owner.id).callbacks[0],
      { description: 'the acknowledgement' },
    );
    // Cancelled: the click needs only an acknowledgement, the message says the rest.
    expect(acknowledged.type).toBe(6);
    expect((await stored(jobId))?.state).toBe('cancelled');
    await discord.waitFor(() => /cancelled/.test(originalOf(waiting.id)?.content ?? ''), {
      description: 'the cancelled message',
    });
    api.release();
    await idle();
    expect(createsWith('waits in line')).toHaveLength(0);
  });

  it('says “Deleted.” only once the store forgot the result, and tells the member when it could not', async () => {
    const { discord } = harness;
    /** A delivered result, its Delete button and its job id. */
    const delivered = async (prompt: string) => {
      const interaction = discord.sendSlashCommand({ name: 'imagine', options: { prompt } });
      const result = await resultOf(interaction.id);
      const deleteId = buttonOf(result, 'delete');
      const jobId = deleteId.split(':')[2] ?? '';
      await eventually(async () => (await stored(jobId))?.delivery, 'the delivery');
      return { result, deleteId, jobId };
    };

    const kept = await delivered('a fox to delete');
    const deleted = discord.sendButton({ customId: kept.deleteId, messageId: kept.result.id });
    await discord.waitFor(() => originalOf(deleted.id)?.content === 'Deleted.' || undefined, {
      description: '“Deleted.”',
    });
    // Read at once: the answer came after the store forgot, not before.
    expect((await stored(kept.jobId))?.delivery).toBeUndefined();

    const unlucky = await delivered('a fox the store keeps');
    port.failNext('forgetResult', new Error('the store is unreachable'));
    const failed = discord.sendButton({ customId: unlucky.deleteId, messageId: unlucky.result.id });
    // The deferred private reply says what happened: a failure, not “Deleted.”.
    const told = await discord.waitFor(() => originalOf(failed.id)?.content || undefined, {
      description: 'the answer',
    });
    expect(told).not.toBe('Deleted.');
    expect(told).toMatch(/problem/);
    expect((await stored(unlucky.jobId))?.delivery).toBeDefined();
  });
});

describe('Slack over a late port', () => {
  const command = (text: string, userId = SLACK_USER) =>
    harness.slack.deliverSlashCommand({
      command: '/imagine',
      text,
      userId,
      channelId: SLACK_CHANNEL,
    });
  const statusOf = (prompt: string): FakeSlackMessage | undefined =>
    harness.slack
      .messages(SLACK_CHANNEL)
      .find(
        (message) =>
          message.user === harness.slack.botUserId &&
          message.ephemeralTo === undefined &&
          message.thread_ts === undefined &&
          message.text.includes(prompt),
      );
  /** What a status message said, update after update. */
  const statusUpdates = (ts: string): string[] =>
    harness.slack
      .callsTo('chat.update')
      .filter((call) => call.args.ts === ts)
      .map((call) => String(call.args.text ?? ''));
  const cancelValueOf = (message: FakeSlackMessage | undefined): string | undefined =>
    (
      (message?.blocks ?? []) as {
        type: string;
        elements?: { action_id?: string; value?: string }[];
      }[]
    )
      .flatMap((block) => (block.type === 'actions' ? (block.elements ?? []) : []))
      .find((element) => element.action_id === 'nb_cancel')?.value;
  const press = (message: FakeSlackMessage, userId: string, actionId: string, value: string) =>
    harness.slack.deliverInteraction(
      harness.slack.blockActionsPayload({
        userId,
        channel: SLACK_CHANNEL,
        message,
        actionId,
        value,
      }),
    );
  const privateTexts = (userId: string): string[] => [
    ...harness.slack
      .messages(SLACK_CHANNEL)
      .filter((message) => message.ephemeralTo === userId)
      .map((message) => message.text),
    ...harness.slack.responses.map((response) => (response.body as { text?: string }).text ?? ''),
  ];

  it('shows “in line” before the engine’s “working on it”, then delivers', async () => {
    const { slack } = harness;
    api.hold();
    await command('a late owl');
    await running('a late owl');
    const status = await slack.waitFor(() => {
      const shown = statusOf('a late owl');
      return shown?.text.includes('Working on it') ? shown : undefined;
    });
    const updates = statusUpdates(status.ts);
    expect(updates[0]).toMatch(/Queued/);
    expect(
      updates.slice(updates.findIndex((text) => text.includes('Working on it'))),
    ).not.toContainEqual(expect.stringMatching(/Queued/));
    api.release();
    const job = await slack.waitFor(() => finishedJob('a late owl'), { timeoutMs: 15_000 });
    expect(job.state).toBe('done');
  });

  it('refuses privately, and posts and sends nothing', async () => {
    const { slack } = harness;
    await command('a forbidden owl');
    await slack.waitFor(() => privateTexts(SLACK_USER).find((text) => /isn’t allowed/.test(text)));
    expect(statusOf('a forbidden owl')).toBeUndefined();
    expect(createsWith('a forbidden owl')).toHaveLength(0);
  });

  it('cancels a waiting request for its requester only', async () => {
    const { slack } = harness;
    api.hold();
    await command('owl holds the slot', SLACK_OTHER);
    await running('owl holds the slot');
    await command('owl waits in line');
    const queued = await slack.waitFor(() => {
      const shown = statusOf('owl waits in line');
      return cancelValueOf(shown) === undefined ? undefined : structuredClone(shown);
    });
    const jobId = cancelValueOf(queued) ?? '';

    await press(queued, SLACK_OTHER, 'nb_cancel', jobId);
    await slack.waitFor(() =>
      privateTexts(SLACK_OTHER).find((text) => text.startsWith('Only the person who asked')),
    );
    expect((await stored(jobId))?.state).toBe('queued');

    await press(queued, SLACK_USER, 'nb_cancel', jobId);
    await slack.waitFor(() =>
      statusOf('owl waits in line')?.text.includes('The request was cancelled.') ? true : undefined,
    );
    expect((await stored(jobId))?.state).toBe('cancelled');
    api.release();
    await idle();
    expect(createsWith('owl waits in line')).toHaveLength(0);
  });

  it('deletes a result, and hears of a store that failed to forget it', async () => {
    const { slack } = harness;
    await command('an owl to delete');
    const job = await slack.waitFor(() => finishedJob('an owl to delete'), { timeoutMs: 15_000 });
    await eventually(async () => (await stored(job.id))?.delivery, 'the delivery');
    const buttons = await slack.waitFor(() =>
      slack
        .messages(SLACK_CHANNEL)
        .find((message) => JSON.stringify(message.blocks ?? []).includes(`"value":"${job.id}"`)),
    );

    const errorsBefore = harness.logs.filter((line) => line.includes('A Slack button failed'));
    port.failNext('forgetResult', new Error('the store is unreachable'));
    await press(buttons, SLACK_USER, 'nb_delete', job.id);
    await slack.waitFor(
      () =>
        harness.logs.filter((line) => line.includes('A Slack button failed')).length >
        errorsBefore.length,
    );
    expect((await stored(job.id))?.delivery).toBeDefined();

    await press(buttons, SLACK_USER, 'nb_delete', job.id);
    await eventually(async () => (await stored(job.id))?.delivery === undefined, 'forgotten');
  });
});
