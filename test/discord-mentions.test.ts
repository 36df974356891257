/**
 * A prompt is text a user typed, and the bot quotes it (the result's header, a thread's
 * follow-ups). Quoted `@everyone`, `@here`, `<@id>` or `<@&role>` must ping nobody: every message
 * the bot sends pings exactly the requester where it names them, and nobody else anywhere. The
 * fake computes the pings from the content and `allowed_mentions` as Discord does, and the bot
 * holds Mention Everyone (the default @everyone permissions), so a missing `allowed_mentions`
 * shows.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import { discordText } from '../src/discord/texts.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage, type JsonObject } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';

const ASKER = '110000000000000001';
const SOMEONE = '110000000000000002';
const ROLE = '110000000000000003';
const PINGS = `@everyone @here <@${SOMEONE}> <@&${ROLE}>`;
const MINUTE = 60_000;
const LOADING = 1 << 7;

let api: MockApi;
let fake: FakeDiscord;
let bot: DiscordBot | undefined;
let finished: Job[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 100 });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  await bot?.stop();
  bot = undefined;
  await fake?.close();
  api.setDelay(100);
});

async function start() {
  fake = await FakeDiscord.start({
    guilds: [
      {
        members: [
          { id: ASKER, username: 'asker' },
          { id: SOMEONE, username: 'someone' },
        ],
        roles: [{ id: ROLE, name: 'moderators' }],
      },
    ],
  });
  bot = await startDiscordBot(fake, api);
  finished = [];
  bot.service.engine.on('finished', (job) => finished.push(job));
  await fake.ready();
  expect(fake.userId).toBe(ASKER);
}

const jobDone = (prompt: string) =>
  fake.waitFor(() => finished.find((job) => job.prompt.includes(prompt)), {
    timeoutMs: 20_000,
    description: `the job "${prompt}" to finish`,
  });

interface Pings {
  readonly content: string;
  readonly users: string[];
  readonly roles: string[];
  readonly everyone: boolean;
}

function pingsOf(message: FakeMessage | JsonObject): Pings {
  const mentions = (message.mentions ?? []) as { id: string }[];
  return {
    content: String(message.content ?? ''),
    users: mentions.map((user) => user.id).sort(),
    roles: [...((message.mention_roles ?? []) as string[])],
    everyone: message.mention_everyone === true,
  };
}

/**
 * Every version of every message the bot sent: each create and edit as Discord answered it (so
 * progress edits overwritten since are seen too), and each stored message as it ends.
 */
function everythingTheBotSent(): Pings[] {
  const answered = fake.calls
    .filter((call) => call.method === 'POST' || call.method === 'PATCH')
    .map((call) => call.response)
    .filter(
      (response): response is JsonObject =>
        typeof response === 'object' &&
        response !== null &&
        'mention_everyone' in response &&
        (response as { author?: { id?: string } }).author?.id === fake.botUserId,
    )
    .map(pingsOf);
  const channels = [
    fake.channelId,
    fake.openDm(ASKER),
    ...fake.threads().map((thread) => thread.id),
  ];
  const stored = channels
    .flatMap((channelId) => fake.messages(channelId))
    .filter((message) => message.author.id === fake.botUserId)
    .map(pingsOf);
  return [...answered, ...stored];
}

/** Nobody but the requester is pinged, and the requester is wherever the text names them. */
function expectOnlyTheRequesterPinged(): Pings[] {
  const sent = everythingTheBotSent();
  for (const message of sent) {
    const expected = message.content.includes(`<@${ASKER}>`) ? [ASKER] : [];
    expect({ ...message, users: message.users }).toEqual({
      content: message.content,
      users: expected,
      roles: [],
      everyone: false,
    });
  }
  return sent;
}

/** The messages that quote the prompt's pings (so the test knows it looked at some). */
const quoting = (sent: Pings[]) => sent.filter((message) => message.content.includes('@everyone'));

describe('Discord mentions in quoted prompts', () => {
  it('pings only the requester on the progress and the result of /imagine, and in its thread', async () => {
    await start();
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: `${PINGS} a fox` },
    });
    await jobDone('a fox');
    const result = await fake.waitFor(() => {
      const original = fake.interactionResponses(interaction.id).original;
      return original?.attachments.length ? original : undefined;
    });
    const thread = await fake.waitFor(() => fake.thread(result.id), {
      description: 'the result thread',
    });
    expect(result.content).toContain(`<@${ASKER}>`);
    expect(pingsOf(result).users).toEqual([ASKER]);

    // A follow-up in the thread quotes the pings again: its progress reply and its result.
    fake.postUserMessage({
      channelId: thread.id,
      content: `<@${fake.botUserId}> ${PINGS} warmer`,
      authorId: ASKER,
    });
    await jobDone('warmer');
    await fake.waitFor(
      () =>
        fake
          .messages(thread.id)
          .find((message) => message.author.id === fake.botUserId && message.attachments.length),
      { description: 'the follow-up result in the thread' },
    );
    const sent = expectOnlyTheRequesterPinged();
    expect(quoting(sent).length).toBeGreaterThanOrEqual(2);
  });

  it('pings only the requester on a failure', async () => {
    await start();
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: `${PINGS} mock:fail` },
    });
    const job = await jobDone('mock:fail');
    expect(job.state).toBe('failed');
    const original = await fake.waitFor(() => {
      const current = fake.interactionResponses(interaction.id).original;
      return current?.content.includes(`<@${ASKER}>`) ? current : undefined;
    });
    expect(pingsOf(original).users).toEqual([ASKER]);
    expectOnlyTheRequesterPinged();
  });

  it('pings only the requester in the channel message that replaces an expired token', async () => {
    await start();
    api.setDelay(10 * MINUTE);
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: `${PINGS} late` },
    });
    const task = await fake.waitFor(() =>
      [...api.tasks.values()].find((candidate) =>
        String(candidate.request.prompt).includes('late'),
      ),
    );
    await fake.waitFor(() => {
      const original = fake.interactionResponses(interaction.id).original;
      return original !== undefined && (original.flags & LOADING) === 0;
    });
    fake.advanceClock(14 * MINUTE);
    api.finishTask(task.id);
    await jobDone('late');
    const posted = fake
      .messages(fake.channelId)
      .find((message) => message.webhook_id === undefined && message.attachments.length > 0);
    expect(posted?.content).toContain(`<@${ASKER}> here are your images:`);
    const sent = expectOnlyTheRequesterPinged();
    expect(quoting(sent).length).toBeGreaterThanOrEqual(1);
  });

  it('pings only the requester when the thread cannot be opened and the result says so', async () => {
    await start();
    fake.denyPermission(fake.channelId, 'CREATE_PUBLIC_THREADS');
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: `${PINGS} threadless` },
    });
    await jobDone('threadless');
    const noted = await fake.waitFor(
      () => {
        const original = fake.interactionResponses(interaction.id).original;
        return original?.content.match(/thread/i) && original.content.includes('threadless')
          ? original
          : undefined;
      },
      { description: 'the result noting the missing thread' },
    );
    expect(fake.thread(noted.id)).toBeUndefined();
    const sent = expectOnlyTheRequesterPinged();
    expect(quoting(sent).length).toBeGreaterThanOrEqual(1);
  });

  it('pings only the requester on the replies to a message that asks the bot', async () => {
    await start();
    fake.postUserMessage({
      content: `<@${fake.botUserId}> ${PINGS} by message`,
      authorId: ASKER,
    });
    await jobDone('by message');
    await fake.waitFor(
      () =>
        fake
          .messages(fake.channelId)
          .find((message) => message.author.id === fake.botUserId && message.attachments.length),
      { description: 'the result reply' },
    );
    const sent = expectOnlyTheRequesterPinged();
    expect(quoting(sent).length).toBeGreaterThanOrEqual(1);
  });

  it('points a mention asking for --usage, --history or --prefer to the private command, sending nothing', async () => {
    await start();
    const creates = api.creates().length;
    for (const [flag, command] of [
      ['--usage', '/usage'],
      ['--history', '/history'],
      ['--prefer', '/prefer'],
    ] as const) {
      const asked = fake.postUserMessage({
        content: `<@${fake.botUserId}> ${flag}`,
        authorId: ASKER,
      });
      const answer = await fake.waitFor(
        () =>
          fake
            .messages(fake.channelId)
            .find(
              (message) =>
                message.author.id === fake.botUserId &&
                message.message_reference?.message_id === asked.id,
            ),
        { description: `the answer to ${flag}` },
      );
      expect(answer.content).toBe(discordText('en', 'mention.use_command', { command }));
    }
    expect(api.creates()).toHaveLength(creates);
  });

  it('answers a mention’s --help with the whole help, as /help does', async () => {
    await start();
    const asked = fake.postUserMessage({ content: `<@${fake.botUserId}> --help`, authorId: ASKER });
    const answer = await fake.waitFor(
      () =>
        fake
          .messages(fake.channelId)
          .find(
            (message) =>
              message.author.id === fake.botUserId &&
              message.message_reference?.message_id === asked.id,
          ),
      { description: 'the help' },
    );
    for (const key of ['help.blend', 'help.prefer', 'help.settings', 'help.commands'] as const) {
      expect(answer.content).toContain(discordText('en', key));
    }
  });
});
