import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';

/**
 * `/prefer` end to end: the real discord.js against the fake Discord, the whole service over its
 * SQLite store, the mock API receiving what the precedence resolved.
 */

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

async function start(env: Record<string, string> = {}) {
  fake = await FakeDiscord.start();
  bot = await startDiscordBot(fake, api, { env });
  await fake.ready();
}

type Body = { prompt?: string; model?: string; aspect_ratio?: string; resolution?: string };
const createsWith = (text: string) =>
  api
    .creates()
    .map((call) => call.body as Body)
    .filter((body) => String(body.prompt).includes(text));

/** `/prefer …` and its private answer. */
async function prefer(
  subcommand: string,
  options: Record<string, string> = {},
  extra: { group?: string; locale?: string } = {},
): Promise<{ content: string; ephemeral: boolean }> {
  const interaction = fake.sendSlashCommand({
    name: 'prefer',
    subcommand,
    ...(extra.group === undefined ? {} : { subcommandGroup: extra.group }),
    ...(extra.locale === undefined ? {} : { locale: extra.locale }),
    options,
  });
  const callback = await fake.waitFor(
    () => fake.interactionResponses(interaction.id).callbacks[0],
    {
      description: `the answer to /prefer ${subcommand}`,
    },
  );
  const data = (callback.data ?? {}) as { content?: string; flags?: number };
  return { content: data.content ?? '', ephemeral: ((data.flags ?? 0) & 64) === 64 };
}

/** `/imagine` and its result once it holds images. */
async function imagine(options: Record<string, string>): Promise<FakeMessage> {
  const interaction = fake.sendSlashCommand({ name: 'imagine', options });
  return fake.waitFor(
    () => {
      const original = fake.interactionResponses(interaction.id).original;
      return original !== undefined && original.attachments.length > 0 ? original : undefined;
    },
    { timeoutMs: 15_000, description: 'the result' },
  );
}

/** A refusal answered privately to `/imagine`. */
async function refusedImagine(options: Record<string, string>): Promise<string> {
  const interaction = fake.sendSlashCommand({ name: 'imagine', options });
  const callback = await fake.waitFor(
    () => fake.interactionResponses(interaction.id).callbacks[0],
    {
      description: 'the refusal',
    },
  );
  expect(callback.type).toBe(4);
  return String((callback.data as { content?: string }).content);
}

describe('Discord /prefer', () => {
  it('registers /prefer with its subcommands and French descriptions', async () => {
    await start();
    const command = fake.commands(undefined).find((candidate) => candidate.name === 'prefer');
    expect(command?.description_localizations).toMatchObject({ fr: expect.any(String) });
    const options = (command?.options ?? []) as { name: string; options?: { name: string }[] }[];
    expect(options.map((option) => option.name).sort()).toEqual(['clear', 'set', 'show', 'style']);
    const style = options.find((option) => option.name === 'style');
    expect(style?.options?.map((option) => option.name).sort()).toEqual(['add', 'list', 'remove']);

    // /help names it, and --style.
    const help = fake.sendSlashCommand({ name: 'help' });
    const answer = await fake.waitFor(() => fake.interactionResponses(help.id).callbacks[0]);
    const text = String((answer.data as { content?: string }).content);
    expect(text).toContain('`/prefer`: your own default model');
    expect(text).toContain('`--style cinematic`: adds one of your saved styles to the prompt');
  });

  it('applies the preferred model, ratio and suffix to an /imagine that says nothing, and the result says so', async () => {
    await start();
    const saved = await prefer('set', {
      model: 'nano-banana-pro',
      aspect_ratio: '16:9',
      suffix: 'in soft morning light',
    });
    expect(saved.ephemeral).toBe(true);
    expect(saved.content).toContain('Saved.');
    expect(saved.content).toContain('`nano-banana-pro`');
    expect(saved.content).toContain('`in soft morning light`');

    const result = await imagine({ prompt: 'a lighthouse' });
    const [body] = createsWith('a lighthouse');
    expect(body).toMatchObject({
      model: 'nano-banana-pro',
      aspect_ratio: '16:9',
      prompt: 'a lighthouse, in soft morning light',
    });
    expect(result.content).toContain(
      'Defaults used: model from your preferences, ratio from your preferences, suffix from your preferences.',
    );
    // A re-roll is the same request: the suffix is not added a second time.
    const reroll = result.components
      .flatMap((row) => (row.components ?? []) as { custom_id?: string }[])
      .map((component) => component.custom_id ?? '')
      .find((id) => id.includes(':reroll:'));
    const rerolled = fake.sendButton({ customId: reroll ?? '', messageId: result.id });
    await fake.waitFor(
      () => fake.interactionResponses(rerolled.id).callbacks[0] && createsWith('a lighthouse')[1],
      { timeoutMs: 15_000, description: 'the re-roll' },
    );
    expect(createsWith('a lighthouse').map((body) => body.prompt)).toEqual([
      'a lighthouse, in soft morning light',
      'a lighthouse, in soft morning light',
    ]);

    // The request's own option beats the preference; what it leaves out still comes from it.
    const own = await imagine({ prompt: 'a harbour', model: 'nano-banana-2' });
    expect(createsWith('a harbour')[0]).toMatchObject({
      model: 'nano-banana-2',
      aspect_ratio: '16:9',
    });
    expect(own.content).toContain(
      'Defaults used: ratio from your preferences, suffix from your preferences.',
    );
    // The server's settings come after the member's preferences, before the bot's defaults.
    await bot?.service.engine.settings.saveServer('discord', fake.guildId, {
      aspectRatio: '3:2',
      resolution: '2K',
    });
    const serverDefaults = await imagine({ prompt: 'a jetty' });
    expect(createsWith('a jetty')[0]).toMatchObject({
      model: 'nano-banana-pro',
      aspect_ratio: '16:9',
      resolution: '2K',
    });
    expect(serverDefaults.content).toContain(
      'Defaults used: model from your preferences, ratio from your preferences, resolution from the server’s settings, suffix from your preferences.',
    );
    await bot?.service.engine.settings.saveServer('discord', fake.guildId, {});
    // A flag typed in the prompt beats it too.
    await imagine({ prompt: 'a pier --ar 1:1' });
    expect(createsWith('a pier')[0]).toMatchObject({
      model: 'nano-banana-pro',
      aspect_ratio: '1:1',
      prompt: 'a pier, in soft morning light',
    });
  });

  it('expands --style, refuses an unknown one listing the member’s styles, and a blocked word in a style', async () => {
    await start({ NANO_BANANA_BLOCKED_WORDS: 'gore' });
    const added = await prefer(
      'add',
      { name: 'Noir', text: 'black and white, hard shadows' },
      { group: 'style' },
    );
    expect(added.content).toContain('Style “noir” saved');
    expect(added.ephemeral).toBe(true);

    await imagine({ prompt: 'a detective --style noir' });
    expect(createsWith('a detective')[0]?.prompt).toBe(
      'a detective, black and white, hard shadows',
    );

    const before = api.creates().length;
    expect(await refusedImagine({ prompt: 'a detective --style pastel' })).toBe(
      'You have no style called “pastel”. Your styles: noir.',
    );
    // Saving a style with a blocked word is refused at once, and nothing changes.
    const blocked = await prefer(
      'add',
      { name: 'horror', text: 'lots of gore' },
      { group: 'style' },
    );
    expect(blocked.content).toBe(
      'Your style contains a word that isn’t allowed here. Change the style or leave it out.',
    );
    expect((await prefer('list', {}, { group: 'style' })).content).not.toContain('horror');

    // A word the operator blocks after the style was saved: the expanded prompt is checked like
    // any other, and the refusal says the word is in the style.
    const dataDir = bot?.dataDir ?? '';
    await bot?.stop();
    bot = await startDiscordBot(fake, api, {
      dataDir,
      env: { NANO_BANANA_BLOCKED_WORDS: 'gore,shadows' },
    });
    expect(await refusedImagine({ prompt: 'a detective again --style noir' })).toBe(
      'Your style contains a word that isn’t allowed here. Change the style or leave it out.',
    );
    expect(api.creates().length).toBe(before);
  });

  it('refuses the 21st style clearly, and a suffix holding an option', async () => {
    await start();
    for (let index = 1; index <= 20; index++) {
      const answer = await prefer(
        'add',
        { name: `style-${index}`, text: `look number ${index}` },
        { group: 'style' },
      );
      expect(answer.content).toContain(`Style “style-${index}” saved`);
    }
    const twentyFirst = await prefer(
      'add',
      { name: 'one-more', text: 'too many' },
      { group: 'style' },
    );
    expect(twentyFirst.content).toBe('You can keep at most 20 styles. Remove one first.');
    // Replacing one of the twenty is not a 21st.
    expect(
      (await prefer('add', { name: 'style-3', text: 'a new look' }, { group: 'style' })).content,
    ).toContain('Style “style-3” saved');
    const listed = await prefer('list', {}, { group: 'style' });
    expect(listed.content).toContain('Styles (20 of 20):');
    expect(listed.content).not.toContain('one-more');

    const suffix = await prefer('set', { suffix: 'moody --ar 16:9' });
    expect(suffix.content).toContain('A suffix is plain text');
  });

  it('answers in French, clears, and keeps preferences across a restart', async () => {
    await start();
    const saved = await prefer(
      'set',
      { aspect_ratio: '9:16', resolution: '2K', model: 'nano-banana-2' },
      { locale: 'fr' },
    );
    expect(saved.content).toContain('Enregistré.');
    expect(saved.content).toContain('Format\u202F: `9:16`');

    // The bot restarts over the same store: the preferences are there.
    const dataDir = bot?.dataDir ?? '';
    await bot?.stop();
    bot = await startDiscordBot(fake, api, { dataDir });
    await imagine({ prompt: 'a tall tower' });
    expect(createsWith('a tall tower')[0]).toMatchObject({
      model: 'nano-banana-2',
      aspect_ratio: '9:16',
      resolution: '2K',
    });
    const shown = await prefer('show', {}, { locale: 'fr' });
    expect(shown.content).toContain('**Vos préférences**');
    expect(shown.content).toContain('Résolution\u202F: `2K`');

    const cleared = await prefer('clear', { what: 'aspectRatio' });
    expect(cleared.content).toContain('Ratio: not set');
    await imagine({ prompt: 'a wide tower' });
    expect(createsWith('a wide tower')[0]?.aspect_ratio).toBeUndefined();
  });
});
