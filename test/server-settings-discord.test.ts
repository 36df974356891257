import { REST, Routes } from 'discord.js';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createModelCatalog } from '../src/core/models.js';
import { commandDefinitions, syncCommands } from '../src/discord/commands.js';
import { discordText } from '../src/discord/texts.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';

/**
 * Issue 13, server settings on Discord, end to end through the real discord.js against the fake
 * Discord: `/settings` for members with Manage Server only, saved and shown back across a restart,
 * and enforced: the server's channels, its daily limit under the operator's, private results by
 * default, result threads off.
 */

/** Owns the server: Discord gives an owner every permission, Manage Server included. */
const OWNER = '771000000000000001';
/** Manage Messages (a moderator for Delete) but not Manage Server. */
const MODERATOR = '771000000000000002';
const MEMBER = '771000000000000003';
const MODERATOR_ROLE = '771000000000000010';
const GENERAL = '771000000000000100';
const ART = '771000000000000101';
const MOD_LOG = '771000000000000102';
/** The operator's per-server ceiling in every test here. */
const OPERATOR_LIMIT = 5;

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

const env = {
  NANO_BANANA_SHUTDOWN_GRACE: '1s',
  NANO_BANANA_DAILY_IMAGES_PER_SERVER: String(OPERATOR_LIMIT),
};

async function start(more: Record<string, string> = {}): Promise<void> {
  fake = await FakeDiscord.start({
    guilds: [
      {
        ownerId: OWNER,
        channels: [
          { id: GENERAL, name: 'general' },
          { id: ART, name: 'art' },
          { id: MOD_LOG, name: 'mod-log' },
        ],
        roles: [{ id: MODERATOR_ROLE, name: 'Moderators', permissions: ['MANAGE_MESSAGES'] }],
        members: [
          { id: OWNER, username: 'owner' },
          { id: MODERATOR, username: 'moderator', roleIds: [MODERATOR_ROLE] },
          { id: MEMBER, username: 'member' },
        ],
      },
    ],
  });
  bot = await startDiscordBot(fake, api, { env: { ...env, ...more } });
  await fake.ready();
}

/** Stops the bot and starts another over the same store. */
async function restart(): Promise<void> {
  const dataDir = bot?.dataDir;
  await bot?.stop();
  bot = await startDiscordBot(fake, api, { env, ...(dataDir ? { dataDir } : {}) });
  await fake.ready();
}

/** `/settings` with options, as `userId` in `channelId`; resolves to its private answer. */
async function settings(
  options: Record<string, string | number | boolean>,
  who: { userId?: string; channelId?: string; locale?: string } = {},
): Promise<string> {
  const interaction = fake.sendSlashCommand({
    name: 'settings',
    userId: who.userId ?? OWNER,
    channelId: who.channelId ?? GENERAL,
    ...(who.locale ? { locale: who.locale } : {}),
    options,
  });
  return privateAnswer(interaction.id);
}

/** The private answer an interaction got at once (a refusal, the settings). */
async function privateAnswer(interactionId: string): Promise<string> {
  const callback = await fake.waitFor(() => fake.interactionResponses(interactionId).callbacks[0], {
    description: 'a private answer',
  });
  expect(callback.type).toBe(4);
  const data = callback.data as { content: string; flags: number };
  expect(data.flags & 64).toBe(64);
  return data.content;
}

function imagine(prompt: string, where: { channelId?: string; userId?: string } = {}) {
  return fake.sendSlashCommand({
    name: 'imagine',
    userId: where.userId ?? MEMBER,
    channelId: where.channelId ?? GENERAL,
    options: { prompt },
  });
}

/** The interaction's reply once it holds images. */
function resultOf(interactionId: string): Promise<FakeMessage> {
  return fake.waitFor(
    () => {
      const original = fake.interactionResponses(interactionId).original;
      return original !== undefined && original.attachments.length > 0 ? original : undefined;
    },
    { timeoutMs: 15_000, description: 'the result' },
  );
}

/** The custom id of a message's button with that label. */
function buttonId(message: FakeMessage, label: string): string | undefined {
  return message.components
    .flatMap((row) => (row.components ?? []) as { label?: string; custom_id?: string }[])
    .find((component) => component.label === label)?.custom_id;
}

const createsWith = (text: string) =>
  api.creates().filter((call) => String((call.body as { prompt?: string }).prompt).includes(text));

describe('Discord /settings', () => {
  it('refuses a member without Manage Server, a moderator included, and changes nothing', async () => {
    await start();
    for (const userId of [MEMBER, MODERATOR]) {
      const answer = await settings({ daily_limit: 1, private: true }, { userId });
      expect(answer).toBe(discordText('en', 'settings.refused'));
    }
    const french = await settings({ daily_limit: 1 }, { userId: MEMBER, locale: 'fr' });
    expect(french).toBe(discordText('fr', 'settings.refused'));
    const shown = await settings({});
    expect(shown).toContain(`Daily image limit: the bot’s, ${OPERATOR_LIMIT} images`);
    expect(shown).toContain('Results private by default: no');
    // Nothing was saved: a member's request is still public and unlimited by the server.
    const request = imagine('still public');
    await resultOf(request.id);
    const deferred = fake.interactionResponses(request.id).callbacks[0];
    expect(((deferred?.data as { flags?: number } | undefined)?.flags ?? 0) & 64).toBe(0);
  });

  it('saves the settings, shows them back, and keeps them across a restart', async () => {
    await start();
    const model = createModelCatalog().models[1]?.id ?? 'nano-banana-pro';
    const saved = await settings({
      model,
      aspect_ratio: '16:9',
      resolution: '2K',
      add_channel: ART,
      daily_limit: 3,
      audit_channel: MOD_LOG,
      private: true,
      threads: false,
    });
    const expected = [
      `Default model: ${model}`,
      'Default aspect ratio: 16:9',
      'Default resolution: 2K',
      `Channels I answer in: <#${ART}>`,
      `Daily image limit: 3 images (the bot allows at most ${OPERATOR_LIMIT})`,
      `Moderation log: <#${MOD_LOG}>`,
      'Results private by default: yes',
      'Results open a thread: no',
    ];
    expect(saved.startsWith('Saved.')).toBe(true);
    for (const line of expected) expect(saved).toContain(line);

    await restart();
    // Shown to a moderator anywhere, the allow-listed channel or not.
    const shown = await settings({}, { channelId: GENERAL });
    expect(shown).not.toContain('Saved.');
    for (const line of expected) expect(shown).toContain(line);

    // In French too.
    const french = await settings({}, { locale: 'fr' });
    expect(french).toContain(`Salons où je réponds\u202F: <#${ART}>`);
    expect(french).toContain('Résultats privés par défaut\u202F: oui');

    // `reset` clears one setting; the others stay.
    const reset = await settings({ reset: 'channels', remove_channel: ART });
    expect(reset).toContain('Channels I answer in: all');
    expect(reset).toContain('Default aspect ratio: 16:9');
  });

  it('refuses a request in a channel the server did not list, naming where it answers', async () => {
    await start();
    await settings({ add_channel: ART });
    const elsewhere = imagine('a lighthouse in general', { channelId: GENERAL });
    expect(await privateAnswer(elsewhere.id)).toBe(`I only answer in <#${ART}> on this server.`);
    // The moderator's /settings itself still works there.
    expect(await settings({}, { channelId: GENERAL })).toContain(`<#${ART}>`);
    const listed = imagine('a lighthouse in art', { channelId: ART });
    const result = await resultOf(listed.id);
    expect(createsWith('a lighthouse in general')).toEqual([]);
    expect(createsWith('a lighthouse in art')).toHaveLength(1);

    // The result's thread belongs to the listed channel: a follow-up there is a request too.
    const thread = await fake.waitFor(() => fake.thread(result.id), {
      description: 'the result thread',
    });
    fake.postUserMessage({
      channelId: thread.id,
      content: `<@${fake.botUserId}> make it night`,
      authorId: MEMBER,
    });
    await fake.waitFor(() => createsWith('make it night').length === 1, {
      timeoutMs: 15_000,
      description: 'the follow-up sent',
    });
    // And a per-image button pressed on a result inside that thread.
    fake.postUserMessage({
      channelId: thread.id,
      content: `<@${fake.botUserId}> two owls --count 2`,
      authorId: MEMBER,
    });
    const owls = await fake.waitFor(
      () =>
        fake
          .messages(thread.id)
          .find(
            (message) =>
              message.author.id === fake.botUserId &&
              message.attachments.length === 2 &&
              buttonId(message, 'Vary #1') !== undefined,
          ),
      { timeoutMs: 15_000, description: 'the owls in the thread' },
    );
    const vary = fake.sendButton({ customId: buttonId(owls, 'Vary #1') ?? '', messageId: owls.id });
    await fake.waitFor(() => fake.interactionResponses(vary.id).callbacks[0], {
      description: 'the press answered',
    });
    expect(fake.interactionResponses(vary.id).callbacks[0]?.type).toBe(5);
    await fake.waitFor(() => createsWith('variation').length === 1, {
      timeoutMs: 15_000,
      description: 'the variation sent',
    });
  });

  it('counts the server’s daily limit as its quota, and refuses one above the operator’s', async () => {
    await start();
    const above = await settings({ daily_limit: OPERATOR_LIMIT + 1 });
    expect(above).toBe(
      `The daily limit can be at most ${OPERATOR_LIMIT} images: the bot’s operator set that ceiling.`,
    );
    expect(await settings({})).toContain(`Daily image limit: the bot’s, ${OPERATOR_LIMIT} images`);

    // A limit stored before the operator lowered theirs blocks no other change (theirs applies).
    await bot?.service.engine.settings.saveServer('discord', fake.guildId, { dailyImages: 50 });
    expect(await settings({ aspect_ratio: '4:3' })).toContain(
      `Daily image limit: 50 images (the bot allows at most ${OPERATOR_LIMIT})`,
    );

    expect(await settings({ daily_limit: 1 })).toContain('Daily image limit: 1 images');
    await resultOf(imagine('the first of the day').id);
    const second = imagine('one too many', { userId: OWNER });
    expect(await privateAnswer(second.id)).toBe(
      'This server has reached its daily limit of 1 images. It resets at midnight UTC.',
    );
    expect(createsWith('one too many')).toEqual([]);
    // `/usage` counts the server's own limit too.
    const usage = fake.sendSlashCommand({ name: 'usage', userId: OWNER, channelId: GENERAL });
    expect(await privateAnswer(usage.id)).toMatch(/^You have no images left\./);
    // `--settings` typed into /imagine points to the command, and makes nothing.
    const typed = imagine('a cat --settings', { userId: OWNER });
    expect(await privateAnswer(typed.id)).toBe(discordText('en', 'settings.use_command'));
  });

  it('makes results private by default, unless the request says otherwise', async () => {
    await start();
    await settings({ private: true });
    const byDefault = imagine('private by default');
    await resultOf(byDefault.id);
    const deferred = fake.interactionResponses(byDefault.id).callbacks[0];
    expect(deferred?.type).toBe(5);
    expect(((deferred?.data as { flags?: number } | undefined)?.flags ?? 0) & 64).toBe(64);

    // `/blend` without its own `private` option follows the server too.
    const pngs = await Promise.all(
      ['#aa3355', '#33aa55'].map((color) =>
        sharp({ create: { width: 32, height: 32, channels: 3, background: color } })
          .png()
          .toBuffer(),
      ),
    );
    const blend = fake.sendSlashCommand({
      name: 'blend',
      userId: MEMBER,
      channelId: GENERAL,
      options: {
        image1: { filename: 'one.png', bytes: pngs[0] ?? Buffer.alloc(0) },
        image2: { filename: 'two.png', bytes: pngs[1] ?? Buffer.alloc(0) },
      },
    });
    await resultOf(blend.id);
    const blendDefer = fake.interactionResponses(blend.id).callbacks[0];
    expect(blendDefer?.type).toBe(5);
    expect(((blendDefer?.data as { flags?: number } | undefined)?.flags ?? 0) & 64).toBe(64);

    const asked = fake.sendSlashCommand({
      name: 'imagine',
      userId: MEMBER,
      channelId: GENERAL,
      options: { prompt: 'public on purpose', private: false },
    });
    await resultOf(asked.id);
    const publicDefer = fake.interactionResponses(asked.id).callbacks[0];
    expect(publicDefer?.type).toBe(5);
    expect(((publicDefer?.data as { flags?: number } | undefined)?.flags ?? 0) & 64).toBe(0);
  });

  it('opens no result thread when the server turned threads off', async () => {
    await start();
    await resultOf(imagine('with a thread').id);
    await fake.waitFor(() => fake.threads().length === 1, { description: 'the first thread' });

    await settings({ threads: false });
    const finished: (string | undefined)[] = [];
    bot?.service.engine.on('finished', (job) => finished.push(job.dedupKey));
    const without = imagine('without a thread');
    const result = await resultOf(without.id);
    // Finished once delivered: after the moment its thread would have been opened.
    await fake.waitFor(() => finished.includes(`discord:interaction:${without.id}`), {
      description: 'the job finished',
    });
    expect(result.attachments.length).toBeGreaterThan(0);
    expect(fake.threads()).toHaveLength(1);
  });
});

describe('Discord /settings defaults', () => {
  it('applies the server’s default ratio and resolution to a request that does not say', async () => {
    await start();
    await settings({ model: 'nano-banana-pro', aspect_ratio: '16:9', resolution: '2K' });
    await resultOf(imagine('a wide sea').id);
    expect(createsWith('a wide sea')[0]?.body).toMatchObject({
      model: 'nano-banana-pro',
      aspect_ratio: '16:9',
      resolution: '2K',
    });
  });
});

describe('Discord /settings and the moderation log', () => {
  it('sends the server’s log lines to the audit channel /settings named', async () => {
    await start();
    await settings({ audit_channel: MOD_LOG });
    await resultOf(imagine('a logged heron').id);
    await fake.waitFor(
      () =>
        fake
          .messages(MOD_LOG)
          .find(
            (message) =>
              message.author.id === fake.botUserId && message.content.includes('a logged heron'),
          ),
      { timeoutMs: 15_000, description: 'the line in the audit channel' },
    );
  });
});

describe('Discord /settings under the operator’s settings', () => {
  it('shows result threads off when the operator turned them off, whatever the server says', async () => {
    await start({ DISCORD_RESULT_THREADS: 'false' });
    expect(await settings({ threads: true })).toContain('Results open a thread: no');
    await resultOf(imagine('no thread anyway').id);
    expect(fake.threads()).toEqual([]);
  });
});

describe('Discord /settings registration', () => {
  it('registers /settings for Manage Server with its French texts, and syncs a changed permission', async () => {
    await start();
    const registered = fake.commands(undefined).find((command) => command.name === 'settings');
    expect(registered?.default_member_permissions).toBe('32');
    expect(registered?.description_localizations).toEqual({
      fr: discordText('fr', 'command.settings'),
    });
    const options = (registered?.options ?? []) as { name: string; channel_types?: number[] }[];
    expect(options.map((option) => option.name)).toEqual([
      'model',
      'aspect_ratio',
      'resolution',
      'add_channel',
      'remove_channel',
      'daily_limit',
      'audit_channel',
      'private',
      'threads',
      'reset',
    ]);
    expect(options.find((option) => option.name === 'audit_channel')?.channel_types).toEqual([
      0, 5,
    ]);

    // What an older version registered: /settings open to everyone. The sync must notice.
    const rest = new REST({ api: fake.apiUrl, retries: 0 }).setToken(fake.botToken);
    const definitions = commandDefinitions(createModelCatalog());
    const openToAll = definitions.map((command) =>
      command.name === 'settings' ? { ...command, default_member_permissions: null } : command,
    );
    await rest.put(Routes.applicationCommands(fake.applicationId), { body: openToAll });
    expect(await syncCommands(rest, fake.applicationId, [], definitions)).toEqual(['global']);
    expect(
      fake.commands(undefined).find((command) => command.name === 'settings')
        ?.default_member_permissions,
    ).toBe('32');
    expect(await syncCommands(rest, fake.applicationId, [], definitions)).toEqual([]);
  });
});
