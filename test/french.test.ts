import { readFileSync } from 'node:fs';
import { REST, type RESTPostAPIApplicationCommandsJSONBody, Routes } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { translate } from '../src/core/messages.js';
import { createModelCatalog } from '../src/core/models.js';
import { commandDefinitions, syncCommands } from '../src/discord/commands.js';
import { discordText, discordTextKeys } from '../src/discord/texts.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { slackText, slackTextKeys } from '../src/slack/texts.js';
import { FakeDiscord, type FakeMessage } from './fakes/discord/index.js';
import {
  API_TOKEN as DISCORD_API_TOKEN,
  type DiscordBot,
  startDiscordBot,
} from './helpers/discord-harness.js';
import { type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

/**
 * Every text an adapter shows exists in French: modals, buttons, refusals, not-in-channel notices,
 * the Discord commands' localisations. The core's catalogue has its own test (messages.test.ts).
 */

/** Every parameter an adapter text takes, with a value a front end would pass. */
const PARAMETERS = {
  bot: 'nanobanana',
  channel: 'C123',
  code: 'not_in_channel',
  command: '/imagine',
  count: 4,
  elapsed: '2.5 s',
  error: 'Something failed.',
  from: 2,
  list: '<@1> 4',
  max: '10 MB',
  mention: '<@42>',
  model: 'nano-banana',
  name: 'cat.png',
  number: 2,
  permission: 'Attach Files',
  position: 3,
  prompt: 'a red fox',
  ratio: '16:9',
  resolution: '1K',
  scope: 'channels:history',
  seconds: '2.5',
  size: '12 MB',
  to: 4,
  total: 4,
  user: 'U42',
  value: '16:9',
} as const;

/** The same in both languages: made only of parameters and symbols, or a word French shares. */
const DISCORD_SAME_IN_BOTH = new Set(['result.header', 'result.details']);
const SLACK_SAME_IN_BOTH = new Set(['failed.text', 'modal.image_option', 'settings.count']);

type Render = (locale: string, key: string, parameters: Record<string, string | number>) => string;

const renderDiscord: Render = (locale, key, parameters) =>
  discordText(locale, key as Parameters<typeof discordText>[1], parameters);
const renderSlack: Render = (locale, key, parameters) =>
  slackText(locale, key as Parameters<typeof slackText>[1], parameters);

describe.each([
  ['Discord', discordTextKeys, renderDiscord, DISCORD_SAME_IN_BOTH],
  ['Slack', slackTextKeys, renderSlack, SLACK_SAME_IN_BOTH],
] as const)('the %s adapter’s texts', (_platform, keysOf, render, sameInBoth) => {
  it('have a French text for every English one, and no other', () => {
    const english = [...keysOf('en')].sort();
    expect(english.length).toBeGreaterThan(10);
    expect([...keysOf('fr')].sort()).toEqual(english);
  });

  it('say it in French, complete, not in English', () => {
    for (const key of keysOf('en')) {
      const english = render('en', key, PARAMETERS);
      const french = render('fr', key, PARAMETERS);
      expect(french.trim(), key).not.toBe('');
      expect(french, key).not.toMatch(/[{}]|undefined|NaN|null|\[object /);
      if (!sameInBoth.has(key)) expect(french, key).not.toBe(english);
      else expect(french, key).toBe(english);
    }
  });

  it('use the same parameters in both languages', () => {
    for (const key of keysOf('en')) {
      for (const name of Object.keys(PARAMETERS)) {
        const marked = { ...PARAMETERS, [name]: 'MARKER' };
        expect(render('fr', key, marked).includes('MARKER'), `${key} {${name}}`).toBe(
          render('en', key, marked).includes('MARKER'),
        );
      }
    }
  });

  it('follow French typography', () => {
    for (const key of keysOf('fr')) {
      const french = render('fr', key, PARAMETERS);
      // A narrow no-break space before : ; ! ? » and after «; a typographic apostrophe.
      expect(french, key).not.toMatch(/[^\u202F][;!?»]|[^\u202F\d]:(\s|$)|«[^\u202F]/);
      expect(french, key).not.toContain("'");
    }
  });
});

interface CommandPart {
  name: string;
  type?: number;
  description?: string;
  name_localizations?: Record<string, string> | null;
  description_localizations?: Record<string, string> | null;
  options?: CommandPart[];
}

describe('the Discord commands', () => {
  const commands = () => commandDefinitions(createModelCatalog()) as CommandPart[];

  /** Every command and option, with a path naming it for the failure message. */
  function parts(): [string, CommandPart][] {
    const found: [string, CommandPart][] = [];
    const visit = (part: CommandPart, path: string) => {
      found.push([path, part]);
      for (const option of part.options ?? []) visit(option, `${path} ${option.name}`);
    };
    for (const command of commands()) visit(command, command.name);
    return found;
  }

  it('describe every command and option in French too', () => {
    const described = parts().filter(([, part]) => (part.description ?? '') !== '');
    expect(described.length).toBeGreaterThan(5);
    for (const [path, part] of described) {
      const french = part.description_localizations?.fr ?? '';
      expect(french, path).not.toBe('');
      expect(french, path).not.toBe(part.description);
      expect(french.length, path).toBeLessThanOrEqual(100);
    }
  });

  it('name the message context menu in French, the only text it shows', () => {
    // Type 3 at the top is a message command (in an option it would be a string).
    const contextMenus = commands().filter((command) => command.type === 3);
    expect(contextMenus.map((command) => command.name)).toEqual(['Edit image']);
    for (const command of contextMenus) {
      const french = command.name_localizations?.fr ?? '';
      expect(french, command.name).not.toBe('');
      expect(french, command.name).not.toBe(command.name);
      // What the French help tells people to click must be the name they see.
      expect(discordText('fr', 'reply.no_image_other_user')).toContain(`**${french}**`);
      expect(discordText('en', 'reply.no_image_other_user')).toContain(`**${command.name}**`);
    }
  });
});

describe('Discord permission names', () => {
  it('are the ones French Discord shows, even several in one refusal', () => {
    const permission = 'Send Messages / Attach Files / Send Messages in Threads';
    expect(discordText('fr', 'permission.missing', { permission })).toContain(
      '**Envoyer des messages / Joindre des fichiers / Envoyer des messages dans les fils**',
    );
    expect(discordText('en', 'permission.missing', { permission })).toContain(`**${permission}**`);
    expect(
      discordText('fr', 'permission.missing_in', { channel: '1', permission: 'View Channel' }),
    ).toContain('**Voir les salons**');
  });
});

describe('the Slack shortcut', () => {
  it('is called by its own name in the French help: Slack does not translate it', () => {
    const manifest = readFileSync('slack/manifest.yml', 'utf8');
    const name = /shortcuts:\s*\n\s*- name: (.+)\n/.exec(manifest)?.[1]?.trim();
    expect(name).toBe('Edit image');
    expect(slackText('en', 'help.slack')).toContain(`*${name}*`);
    expect(slackText('fr', 'help.slack')).toContain(`*${name}*`);
  });
});

describe('a French-speaking Discord member, end to end', () => {
  const FRANCOISE = '300000000000000001';
  const ZOE = '300000000000000002';
  let api: MockApi;
  let fake: FakeDiscord;
  let bot: DiscordBot;

  beforeAll(async () => {
    api = await startMockApi({ token: DISCORD_API_TOKEN, delayMs: 50 });
    fake = await FakeDiscord.start({
      guilds: [
        {
          members: [
            { id: FRANCOISE, username: 'francoise', locale: 'fr' },
            { id: ZOE, username: 'zoe', locale: 'fr' },
          ],
        },
      ],
    });
    bot = await startDiscordBot(fake, api);
    await fake.ready();
  });
  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
    await api?.close();
  });

  /** The labels of a message's buttons. */
  const buttonLabels = (message: FakeMessage): string[] =>
    message.components.flatMap((row) =>
      ((row.components ?? []) as { label?: string }[]).map((component) => component.label ?? ''),
    );

  it('registers the Edit image command with its French name', () => {
    const editImage = fake.commands(undefined).find((command) => command.name === 'Edit image');
    expect(editImage?.name_localizations).toEqual({ fr: 'Modifier l’image' });
    const imagine = fake.commands(undefined).find((command) => command.name === 'imagine');
    expect(imagine?.description_localizations).toEqual({
      fr: discordText('fr', 'command.imagine'),
    });
  });

  it('brings the French texts to commands registered before they existed, then leaves them be', async () => {
    const rest = new REST({ api: fake.apiUrl, retries: 0 }).setToken(fake.botToken);
    const definitions = commandDefinitions(createModelCatalog());
    const route = Routes.applicationCommands(fake.applicationId);
    // What an older version registered: the same commands, without their French.
    const withoutFrench = JSON.parse(
      JSON.stringify(definitions, (key, value) =>
        key === 'name_localizations' || key === 'description_localizations' ? undefined : value,
      ),
    );
    await rest.put(route, { body: withoutFrench });
    expect(
      fake.commands(undefined).find((command) => command.name === 'Edit image')?.name_localizations,
    ).toBeNull();

    expect(await syncCommands(rest, fake.applicationId, [], definitions)).toEqual(['global']);
    const registered = fake.commands(undefined);
    expect(registered.find((command) => command.name === 'Edit image')?.name_localizations).toEqual(
      { fr: 'Modifier l’image' },
    );
    const imagineOptions = (registered.find((command) => command.name === 'imagine')?.options ??
      []) as CommandPart[];
    const prompt = imagineOptions.find((option) => option.name === 'prompt');
    expect(prompt?.description_localizations).toEqual({ fr: discordText('fr', 'command.prompt') });
    // Up to date now: nothing is written again.
    expect(await syncCommands(rest, fake.applicationId, [], definitions)).toEqual([]);
  });

  it('writes the commands again when a subcommand’s option or who may use a command changed', async () => {
    const rest = new REST({ api: fake.apiUrl, retries: 0 }).setToken(fake.botToken);
    const settings = (optionFrench: string, permissions: string | undefined) =>
      ({
        name: 'settings',
        description: 'Server settings',
        ...(permissions === undefined ? {} : { default_member_permissions: permissions }),
        options: [
          {
            type: 1,
            name: 'channels',
            description: 'Where the bot answers',
            options: [
              {
                type: 7,
                name: 'channel',
                description: 'A channel',
                description_localizations: { fr: optionFrench },
                channel_types: [0, 5],
              },
            ],
          },
        ],
      }) as RESTPostAPIApplicationCommandsJSONBody;
    const first = [settings('Un salon', '32')];
    expect(await syncCommands(rest, fake.applicationId, [], first)).toEqual(['global']);
    expect(await syncCommands(rest, fake.applicationId, [], first)).toEqual([]);
    // A French text two levels down changed: written again.
    expect(
      await syncCommands(rest, fake.applicationId, [], [settings('Un autre salon', '32')]),
    ).toEqual(['global']);
    // Who may use it changed (Manage Server dropped): written again.
    expect(
      await syncCommands(rest, fake.applicationId, [], [settings('Un autre salon', undefined)]),
    ).toEqual(['global']);
    expect(
      await syncCommands(rest, fake.applicationId, [], [settings('Un autre salon', undefined)]),
    ).toEqual([]);
  });

  it('shows the result’s buttons, the edit form and a refusal in French', async () => {
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      userId: FRANCOISE,
      locale: 'fr',
      options: { prompt: 'un phare au crépuscule' },
    });
    const result = await fake.waitFor(
      () => {
        const original = fake.interactionResponses(interaction.id).original;
        return original !== undefined && original.attachments.length > 0 ? original : undefined;
      },
      { timeoutMs: 15_000, description: 'the result' },
    );
    expect(buttonLabels(result)).toEqual([
      translate('fr', 'button.reroll'),
      translate('fr', 'button.edit'),
      translate('fr', 'button.delete'),
      translate('fr', 'button.upscale', { resolution: '2K', number: 1, model: 'nano-banana-2' }),
      translate('fr', 'button.upscale', { resolution: '4K', number: 1, model: 'nano-banana-2' }),
      translate('fr', 'button.vary', { number: 1 }),
    ]);
    const customIds = result.components.flatMap((row) =>
      ((row.components ?? []) as { custom_id?: string }[]).map((button) => button.custom_id ?? ''),
    );
    const [, edit, remove] = customIds;
    // Pressed at once, as a quick member would: the delivery may not be stored yet.

    const editClick = fake.sendButton({
      customId: edit ?? '',
      messageId: result.id,
      userId: FRANCOISE,
      locale: 'fr',
    });
    const opened = await fake.waitFor(() => fake.interactionResponses(editClick.id).callbacks[0], {
      description: 'the answer to Edit',
    });
    expect(opened.type, JSON.stringify(opened.data)).toBe(9);
    const modal = fake.interactionResponses(editClick.id).modal ?? {};
    expect(modal.title).toBe('Modifier l’image');
    const form = JSON.stringify(modal.components);
    expect(form).toContain(JSON.stringify(discordText('fr', 'modal.change_label')));
    expect(form).toContain(JSON.stringify(discordText('fr', 'modal.change_placeholder')));

    const stranger = fake.sendButton({
      customId: remove ?? '',
      messageId: result.id,
      userId: ZOE,
      locale: 'fr',
    });
    const refused = await fake.waitFor(() => fake.interactionResponses(stranger.id).callbacks[0], {
      description: 'the refusal',
    });
    expect(refused.data).toMatchObject({
      content: discordText('fr', 'delete.refused'),
      flags: 64,
    });
  });

  it('says in French why the images come as a channel message when the reply no longer works', async () => {
    api.setDelay(60_000);
    try {
      const interaction = fake.sendSlashCommand({
        name: 'imagine',
        userId: FRANCOISE,
        locale: 'fr',
        options: { prompt: 'une longue attente' },
      });
      const task = await fake.waitFor(
        () =>
          [...api.tasks.values()].find(
            (candidate) => candidate.request.prompt === 'une longue attente',
          ),
        { description: 'the create' },
      );
      fake.expireInteractionToken(interaction.id);
      api.finishTask(task.id);
      const message = await fake.waitFor(
        () =>
          fake
            .messages(fake.channelId)
            .find(
              (candidate) =>
                candidate.webhook_id === undefined &&
                candidate.attachments.length > 0 &&
                candidate.content.includes(`<@${FRANCOISE}>`),
            ),
        { timeoutMs: 15_000, description: 'the channel delivery' },
      );
      expect(message.content).toContain(
        discordText('fr', 'fallback.reply_unavailable', { mention: `<@${FRANCOISE}>` }),
      );
    } finally {
      api.setDelay(50);
    }
  });

  it('names the missing permission as French Discord does', async () => {
    fake.denyPermission(fake.channelId, 'VIEW_CHANNEL');
    try {
      const interaction = fake.sendSlashCommand({
        name: 'imagine',
        userId: FRANCOISE,
        locale: 'fr',
        options: { prompt: 'invisible' },
      });
      const callback = await fake.waitFor(
        () => fake.interactionResponses(interaction.id).callbacks[0],
        { description: 'the refusal' },
      );
      expect((callback.data as { content: string }).content).toBe(
        'Il me manque une permission dans ce salon\u202F: **Voir les salons**. ' +
          'Demandez à un administrateur du serveur de l’accorder, puis réessayez.',
      );
    } finally {
      fake.allowPermission(fake.channelId, 'VIEW_CHANNEL');
    }
  });
});

describe('a French-speaking Slack user (locale from users.info), end to end', () => {
  const FRANCOIS = 'U0FRANCOIS';
  const ZOE = 'U0ZOE00001';
  const GENERAL = 'C0GENERAL1';
  const OUTSIDE = 'C0OUTSIDE1';
  let harness: SlackHarness;

  beforeAll(async () => {
    harness = await startSlackHarness({
      mode: 'http',
      fake: {
        users: [
          { id: FRANCOIS, name: 'francois', locale: 'fr-FR' },
          { id: ZOE, name: 'zoe', locale: 'fr-CA' },
        ],
        channels: [
          { id: GENERAL, name: 'general' },
          { id: OUTSIDE, name: 'random', botIsMember: false },
        ],
      },
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('tells how to invite the bot, in French, where it cannot post', async () => {
    const { fake } = harness;
    const before = fake.responses.length;
    await fake.deliverSlashCommand({
      command: '/imagine',
      text: 'un chat dehors',
      userId: FRANCOIS,
      channelId: OUTSIDE,
    });
    const response = await fake.waitFor(() => fake.responses[before]);
    expect(response.body).toMatchObject({
      response_type: 'ephemeral',
      text: slackText('fr', 'post.not_in_channel', { bot: 'nano-banana' }),
    });
  });

  it('shows the status, the buttons, the edit form and a refusal in French', async () => {
    const { fake } = harness;
    // The status update after the buttons are posted is slow, so the press surely comes before
    // the delivery is stored.
    fake.setLatency('chat.update', 1500);
    await fake.deliverSlashCommand({
      command: '/imagine',
      text: 'un phare au crépuscule',
      userId: FRANCOIS,
      channelId: GENERAL,
    });
    // The message holding the buttons, as soon as it is posted.
    const buttons = await fake.waitFor(
      () =>
        fake
          .messages(GENERAL)
          .find((message) => JSON.stringify(message.blocks ?? []).includes('"nb_delete"')),
      { timeoutMs: 15_000 },
    );
    const elements = (buttons.blocks ?? [])
      .flatMap((block) => (block as { elements?: unknown[] }).elements ?? [])
      .filter((element): element is { text: { text: string }; value: string } =>
        JSON.stringify(element).includes('"button"'),
      );
    expect(elements.map((element) => element.text.text)).toEqual([
      expect.stringContaining(translate('fr', 'button.reroll')),
      expect.stringContaining(translate('fr', 'button.edit')),
      expect.stringContaining(translate('fr', 'button.delete')),
      expect.stringContaining(
        translate('fr', 'button.upscale', { resolution: '2K', number: 1, model: 'nano-banana-2' }),
      ),
      expect.stringContaining(
        translate('fr', 'button.upscale', { resolution: '4K', number: 1, model: 'nano-banana-2' }),
      ),
      expect.stringContaining(translate('fr', 'button.vary', { number: 1 })),
    ]);
    const jobId = elements[0]?.value ?? '';
    const press = (actionId: string, userId: string) =>
      fake.deliverInteraction(
        fake.blockActionsPayload({
          userId,
          channel: GENERAL,
          message: buttons,
          actionId,
          value: jobId,
        }),
      );

    // Pressed at once, as a quick user would: the delivery may not be stored yet.
    await press('nb_edit', FRANCOIS);
    const form = await fake.waitFor(
      () =>
        fake
          .views()
          .find(
            (view) =>
              view.callback_id === 'nb_edit_result' &&
              JSON.parse(view.private_metadata).jobId === jobId &&
              JSON.stringify(view.title).includes(slackText('fr', 'modal.title')),
          ) ?? fake.messages(GENERAL).find((message) => message.ephemeralTo === FRANCOIS),
      { timeoutMs: 15_000 },
    );
    if ('text' in form) throw new Error(`Edit was refused: ${form.text}`);
    fake.setLatency('chat.update', 0);
    expect(JSON.stringify(form.blocks)).toContain(slackText('fr', 'modal.prompt'));

    await press('nb_delete', ZOE);
    const refusal = await fake.waitFor(() =>
      fake.messages(GENERAL).find((message) => message.ephemeralTo === ZOE),
    );
    expect(refusal.text).toBe(slackText('fr', 'delete.not_allowed'));

    const job = await harness.waitForJob((candidate) => candidate.id === jobId);
    expect(job.locale).toBe('fr');
    const { channel, statusTs } = job.destination as { channel: string; statusTs: string };
    const status = fake.messages(channel).find((message) => message.ts === statusTs);
    expect(status?.text).toContain(slackText('fr', 'status.generate', { user: FRANCOIS }));
    expect(JSON.stringify(status?.blocks)).toContain('Modèle\u202F: `nano-banana`');
  });
});
