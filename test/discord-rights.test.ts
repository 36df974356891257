import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';
import { eventually } from './helpers/eventually.js';

/**
 * Who may do what on Discord (issue 9): only the operator admins (`NANO_BANANA_ADMIN_IDS`) skip
 * the daily quotas; moderators (Manage Messages, Administrator) keep what spends nothing; and
 * what users type cannot dress itself up as the bot's own formatting. Real discord.js against the
 * fake Discord, the real engine against the mock API.
 */

const OWNER = '300000000000000001';
const SERVER_ADMIN = '300000000000000002';
const MODERATOR = '300000000000000003';
const MEMBER = '300000000000000004';
const OTHER_MEMBER = '300000000000000005';
const OPERATOR = '300000000000000006';
const ADMIN_ROLE = '300000000000000101';
const MODERATOR_ROLE = '300000000000000102';

let api: MockApi;
let fake: FakeDiscord;
let bot: DiscordBot | undefined;

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  await bot?.stop();
  bot = undefined;
  await fake?.close();
});

/**
 * One server owned by someone who takes no part (an owner has every permission), with a member
 * holding Administrator through a role, a moderator holding Manage Messages, two plain members
 * and the operator admin.
 */
async function start(
  env: Record<string, string> = {},
  options: { ackDeadlineMs?: number } = {},
): Promise<void> {
  fake = await FakeDiscord.start({
    ...options,
    guilds: [
      {
        ownerId: OWNER,
        roles: [
          { id: ADMIN_ROLE, name: 'Admins', permissions: ['ADMINISTRATOR'] },
          { id: MODERATOR_ROLE, name: 'Moderators', permissions: ['MANAGE_MESSAGES'] },
        ],
        members: [
          { id: OWNER, username: 'owner' },
          { id: SERVER_ADMIN, username: 'server-admin', roleIds: [ADMIN_ROLE] },
          { id: MODERATOR, username: 'moderator', roleIds: [MODERATOR_ROLE] },
          { id: MEMBER, username: 'member' },
          { id: OTHER_MEMBER, username: 'other-member' },
          { id: OPERATOR, username: 'operator' },
        ],
      },
    ],
  });
  bot = await startDiscordBot(fake, api, { env: { NANO_BANANA_ADMIN_IDS: OPERATOR, ...env } });
  await fake.ready();
}

const createsWith = (text: string) =>
  api.creates().filter((call) => String((call.body as { prompt?: string }).prompt).includes(text));

/** The interaction's reply once it holds images. */
async function resultOf(interactionId: string): Promise<FakeMessage> {
  return fake.waitFor(
    () => {
      const original = fake.interactionResponses(interactionId).original;
      return original !== undefined && original.attachments.length > 0 ? original : undefined;
    },
    { timeoutMs: 15_000, description: 'the result' },
  );
}

/** The first callback of an interaction: an immediate answer (4) or a defer (5). */
async function firstCallback(interactionId: string) {
  const callback = await fake.waitFor(() => fake.interactionResponses(interactionId).callbacks[0], {
    description: 'an answer to the interaction',
  });
  return { type: callback.type, ...(callback.data as { content?: string; flags?: number }) };
}

/** `/imagine <prompt>` by a user, waited until its images are posted. */
async function imagine(prompt: string, userId: string): Promise<FakeMessage> {
  const interaction = fake.sendSlashCommand({ name: 'imagine', options: { prompt }, userId });
  return resultOf(interaction.id);
}

/** `/imagine <prompt>` by a user that must be refused: the private answer's text. */
async function refusedImagine(prompt: string, userId: string): Promise<string> {
  const interaction = fake.sendSlashCommand({ name: 'imagine', options: { prompt }, userId });
  const answer = await firstCallback(interaction.id);
  expect(answer.type).toBe(4);
  expect((answer.flags ?? 0) & 64).toBe(64);
  return answer.content ?? '';
}

function buttonIds(message: FakeMessage): string[] {
  return message.components.flatMap((row) =>
    ((row.components ?? []) as { custom_id?: string }[]).map(
      (component) => component.custom_id ?? '',
    ),
  );
}

describe('Discord daily quotas', () => {
  it('bind a server Administrator who is not an operator admin, by command and by message; an operator admin skips them', async () => {
    await start({ NANO_BANANA_DAILY_IMAGES_PER_USER: '2' });
    await imagine('admin one', SERVER_ADMIN);
    await imagine('admin two', SERVER_ADMIN);

    const refusal = await refusedImagine('admin three', SERVER_ADMIN);
    expect(refusal).toBe(
      'You have reached your daily limit of 2 images. It resets at midnight UTC.',
    );

    // A request by message (a mention) is held to the same quota.
    const message = fake.postUserMessage({
      authorId: SERVER_ADMIN,
      content: `<@${fake.botUserId}> admin by message`,
    });
    const reply = await fake.waitFor(
      () =>
        fake
          .messages(fake.channelId)
          .find((candidate) => candidate.message_reference?.message_id === message.id),
      { description: 'the reply to the message' },
    );
    expect(reply.content).toBe(
      'You have reached your daily limit of 2 images. It resets at midnight UTC.',
    );

    // The operator admin is past the same limit and still served.
    for (const prompt of ['operator one', 'operator two', 'operator three'])
      await imagine(prompt, OPERATOR);

    expect(createsWith('admin one')).toHaveLength(1);
    expect(createsWith('admin two')).toHaveLength(1);
    expect(createsWith('admin three')).toHaveLength(0);
    expect(createsWith('admin by message')).toHaveLength(0);
    expect(createsWith('operator')).toHaveLength(3);
  });

  it('hold a server Administrator to the bot-wide cap', async () => {
    await start({ NANO_BANANA_DAILY_IMAGES_TOTAL: '2' });
    await imagine('member spends', MEMBER);
    await imagine('admin spends', SERVER_ADMIN);

    const refusal = await refusedImagine('admin spends again', SERVER_ADMIN);
    expect(refusal).toBe('The bot has reached its daily image limit. It resets at midnight UTC.');
    expect(createsWith('admin spends again')).toHaveLength(0);

    await imagine('operator spends', OPERATOR);
    expect(createsWith('operator spends')).toHaveLength(1);
  });
});

describe('Discord moderators', () => {
  it('delete anyone’s result with Manage Messages; a member without it may not', async () => {
    await start();
    const result = await imagine('a member’s lighthouse', MEMBER);
    const remove = buttonIds(result).find((id) => id.startsWith('nb:delete:')) ?? '';
    // The delete finds the result's messages in the job's delivery record, stored once the
    // delivery (thread included) is over.
    const jobId = remove.split(':')[2] ?? '';
    await eventually(async () => (await bot?.service.engine.getJob(jobId))?.delivery, {
      description: 'the delivery record',
    });

    const stranger = fake.sendButton({
      customId: remove,
      messageId: result.id,
      userId: OTHER_MEMBER,
    });
    expect((await firstCallback(stranger.id)).content).toBe(
      'Only the person who asked, or a moderator, can delete this result.',
    );
    expect(fake.messages(fake.channelId).some((message) => message.id === result.id)).toBe(true);

    const moderator = fake.sendButton({
      customId: remove,
      messageId: result.id,
      userId: MODERATOR,
    });
    await fake.waitFor(
      () =>
        fake.messages(fake.channelId).some((message) => message.id === result.id)
          ? undefined
          : true,
      { description: 'the deleted result' },
    );
    expect((await firstCallback(moderator.id)).type).toBe(5);
  });

  it('see the top users in /usage with Administrator, and have a quota like anyone', async () => {
    await start({ NANO_BANANA_DAILY_IMAGES_PER_USER: '3' });
    await imagine('counted once', MEMBER);

    const asAdmin = fake.sendSlashCommand({ name: 'usage', userId: SERVER_ADMIN });
    expect((await firstCallback(asAdmin.id)).content).toBe(
      `You have 3 images left.\nThis week (since Monday, UTC): 0 images.\nTop users today: <@${MEMBER}> 1`,
    );
    const asModerator = fake.sendSlashCommand({ name: 'usage', userId: MODERATOR });
    expect((await firstCallback(asModerator.id)).content).toBe(
      'You have 3 images left.\nThis week (since Monday, UTC): 0 images.',
    );
    const asMember = fake.sendSlashCommand({ name: 'usage', userId: MEMBER });
    expect((await firstCallback(asMember.id)).content).toBe(
      'You have 2 images left.\nThis week (since Monday, UTC): 1 image.',
    );
  });
});

describe('Discord answers', () => {
  it('shows a prompt in bold with its markdown escaped', async () => {
    await start();
    const prompt =
      '**loud** __under__ ||hidden|| ~~struck~~ `code` *tilt* [Re-authorise](https://evil.example)';
    const result = await imagine(prompt, MEMBER);
    const header = result.content.split('\n')[0];
    expect(header).toBe(
      '**\\*\\*loud\\*\\* \\_\\_under\\_\\_ \\|\\|hidden\\|\\| \\~\\~struck\\~\\~ \\`code\\` \\*tilt\\* \\[Re-authorise](https://evil.example)**',
    );
  });

  it('escapes what a user typed when a public reply quotes it', async () => {
    await start();
    const message = fake.postUserMessage({
      authorId: MEMBER,
      content: `<@${fake.botUserId}> a cat --model [Re-authorise](https://evil.example)`,
    });
    const reply = await fake.waitFor(
      () =>
        fake
          .messages(fake.channelId)
          .find((candidate) => candidate.message_reference?.message_id === message.id),
      { description: 'the reply to the message' },
    );
    expect(reply.content).toMatch(
      /^I don’t know the model “\\\[Re-authorise\]\(https:\/\/evil\.example\)”\. Available models: /,
    );
    expect(createsWith('a cat')).toHaveLength(0);
  });

  it('answers a command it does not know within 3 s, privately', async () => {
    await start({}, { ackDeadlineMs: 3_000 });
    const interaction = fake.sendSlashCommand({ name: 'retired-command', userId: MEMBER });
    const answer = await firstCallback(interaction.id);
    expect(answer.type).toBe(4);
    expect((answer.flags ?? 0) & 64).toBe(64);
    expect(answer.content).toBe('This command is not available. Type / to see the bot’s commands.');
  });

  it('refuses an /imagine whose image is missing from the resolved attachments, and makes nothing', async () => {
    await start();
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'a ghost of an image', image: '300000000000000999' },
      userId: MEMBER,
    });
    const answer = await firstCallback(interaction.id);
    expect(answer.type).toBe(4);
    expect((answer.flags ?? 0) & 64).toBe(64);
    expect(answer.content).toBe(
      'Discord didn’t send me the image you attached. Please attach it again; nothing was made.',
    );
    expect(createsWith('a ghost of an image')).toHaveLength(0);
    expect(fake.interactionResponses(interaction.id).callbacks).toHaveLength(1);
  });
});
