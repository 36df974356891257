import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';
import { seededRandom } from './helpers/seeded-random.js';

/**
 * Hostile and random input through the real discord.js client: never a crash, always an answer,
 * nothing sent to the API for invalid input, and nobody deletes someone else's result.
 */

let api: MockApi;
let fake: FakeDiscord;
let bot: DiscordBot;

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 20 });
  fake = await FakeDiscord.start();
  // One member sends every random request at once: the per-user cap is not what is tested here.
  bot = await startDiscordBot(fake, api, { env: { NANO_BANANA_MAX_QUEUED_PER_USER: '1000' } });
  await fake.ready();
});
afterAll(async () => {
  await bot.stop();
  await fake.close();
  await api.close();
});

const PIECES = [
  '--ar',
  '--ar=',
  '—ar',
  '--model',
  '--res',
  '--count',
  '--n',
  '--help',
  '--usage',
  '--',
  '—',
  '-',
  '16:9',
  '5:4',
  '4K',
  '0',
  '99',
  '-1',
  'pro',
  'dall-e',
  '\u200B',
  '\u202E',
  '\u0000',
  '\u0007',
  '\n',
  '<@1>',
  '@everyone',
  '`',
  '*',
  '🍌',
  'é',
  'ﬁ',
  '\uFFFF',
  '\uD800',
  'http://x--y',
  'mock:fail',
  ' ',
];

function hostilePrompt(next: () => number): string {
  const parts: string[] = [];
  const length = Math.floor(next() * 12);
  for (let index = 0; index < length; index++) {
    parts.push(
      next() < 0.6
        ? (PIECES[Math.floor(next() * PIECES.length)] ?? '')
        : String.fromCharCode(Math.floor(next() * 0x3000)),
    );
  }
  return parts.join(next() < 0.5 ? ' ' : '');
}

async function answerOf(interactionId: string) {
  return fake.waitFor(() => fake.interactionResponses(interactionId).callbacks[0], {
    timeoutMs: 10_000,
    description: `an answer to ${interactionId}`,
  });
}

describe('hostile input through Discord', () => {
  it('answers every random /imagine, and sends nothing to the API for the invalid ones', async () => {
    const next = seededRandom(20261124);
    const interactions = [];
    for (let index = 0; index < 40; index++) {
      const prompt = hostilePrompt(next);
      interactions.push({
        prompt,
        interaction: fake.sendSlashCommand({ name: 'imagine', options: { prompt } }),
      });
    }
    for (const { prompt, interaction } of interactions) {
      const callback = await answerOf(interaction.id);
      expect([4, 5], JSON.stringify(prompt)).toContain(callback.type);
      const content = (callback.data as { content?: string }).content ?? '';
      expect(content).not.toMatch(/\[object Object\]|undefined|Error:|\n\s+at /);
    }
    // Every create the API saw came from a deferred (accepted) interaction.
    const accepted = interactions.filter(
      ({ interaction }) => fake.interactionResponses(interaction.id).callbacks[0]?.type === 5,
    ).length;
    // The seed gives both kinds: some refused at once, some accepted.
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(interactions.length);
    await fake.waitFor(() => (api.creates().length >= accepted ? true : undefined), {
      timeoutMs: 15_000,
    });
    expect(api.creates().length).toBe(accepted);
    // Still alive and well.
    const check = fake.sendSlashCommand({ name: 'help' });
    expect((await answerOf(check.id)).type).toBe(4);
  });

  it('survives a huge prompt, wrong option types and missing options', async () => {
    const before = api.creates().length;
    const cases = [
      { prompt: 'x'.repeat(6000) },
      { prompt: 'a cat', count: 'many' as unknown as number },
      { prompt: 'a cat', model: 42 as unknown as string },
      {},
    ];
    for (const options of cases) {
      const interaction = fake.sendSlashCommand({ name: 'imagine', options });
      const callback = await answerOf(interaction.id);
      expect(callback.type).toBe(4);
    }
    expect(api.creates().length).toBe(before);
  });

  it('ignores forged and stale button and modal ids with a short private answer', async () => {
    const forged = [
      'nb:delete:../../etc',
      'nb:reroll:',
      `nb:cancel:${'a'.repeat(200)}`,
      'random',
      'nb:unknown:abc',
      'nb:reroll:doesnotexist',
    ];
    // Buttons need a message carrying them: post one as the bot would, with forged ids.
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'a target for forged clicks' },
    });
    const result = await fake.waitFor(
      () => {
        const original = fake.interactionResponses(interaction.id).original;
        return original?.attachments.length ? original : undefined;
      },
      { timeoutMs: 15_000 },
    );
    const before = api.creates().length;
    for (const customId of forged) {
      const modal = fake.sendModalSubmit({ customId, fields: { change: 'x' } });
      const answer = await answerOf(modal.id);
      expect(answer.type).toBe(4);
      expect(((answer.data as { flags?: number }).flags ?? 0) & 64).toBe(64);
    }
    expect(api.creates().length).toBe(before);

    // Someone else presses Delete on the result, many times: it stays.
    const remove =
      result.components
        .flatMap((row) =>
          (row.components as { custom_id: string }[]).map((component) => component.custom_id),
        )
        .find((id) => id.startsWith('nb:delete:')) ?? '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const click = fake.sendButton({
        customId: remove,
        messageId: result.id,
        userId: `intruder-${attempt}`,
      });
      await answerOf(click.id);
    }
    expect(fake.messages(fake.channelId).some((message) => message.id === result.id)).toBe(true);
  });

  it('answers hostile replies that mention the bot without crashing', async () => {
    const next = seededRandom(42);
    const posted = [];
    for (let index = 0; index < 10; index++) {
      posted.push(
        fake.postUserMessage({ content: `<@${fake.botUserId}> ${hostilePrompt(next)} --ar 5:4` }),
      );
    }
    // Each gets its own answer (the bad ratio, help, or a bad flag), and the bot stays responsive.
    for (const message of posted) {
      const answer = await fake.waitFor(
        () =>
          fake
            .messages(fake.channelId)
            .find(
              (candidate) =>
                candidate.author.id === fake.botUserId &&
                candidate.message_reference?.message_id === message.id,
            ),
        { timeoutMs: 10_000, description: `an answer to ${JSON.stringify(message.content)}` },
      );
      expect(answer.content).not.toMatch(/\[object Object\]|undefined|\n\s+at /);
    }
    const check = fake.sendSlashCommand({ name: 'usage' });
    expect((await answerOf(check.id)).type).toBe(4);
  });
});
