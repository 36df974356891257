import {
  ApplicationCommandType,
  ChannelType,
  ContextMenuCommandBuilder,
  InteractionContextType,
  OAuth2Scopes,
  PermissionFlagsBits,
  PermissionsBitField,
  type REST,
  type RESTPostAPIApplicationCommandsJSONBody,
  Routes,
  SlashCommandBuilder,
  type SlashCommandStringOption,
} from 'discord.js';
import {
  ASPECT_RATIOS,
  type ClearablePreference,
  MAX_COUNT,
  MAX_REPEAT,
  MAX_STYLE_TEXT_LENGTH,
  MAX_SUFFIX_LENGTH,
  MIN_COUNT,
  MIN_REPEAT,
  type ModelCatalog,
  RESOLUTIONS,
} from '../core/index.js';
import { BLEND, BLEND_IMAGE_OPTIONS } from './blend.js';
import { discordText, frenchText } from './texts.js';

export const IMAGINE = 'imagine';
export const USAGE = 'usage';
export const HELP = 'help';
export const HISTORY = 'history';
export const SETTINGS = 'settings';
export const EDIT_IMAGE = 'Edit image';
/** Discord allows at most 25 choices per option. */
const MAX_CHOICES = 25;

/** What `/settings reset` may clear, one setting or all. */
export const SETTINGS_RESETS = [
  'model',
  'aspect_ratio',
  'resolution',
  'channels',
  'daily_limit',
  'audit_channel',
  'private',
  'threads',
  'all',
] as const;
/** The channels `/settings` may name: where members can ask, and where a log can go. */
const SETTINGS_CHANNEL_TYPES = [ChannelType.GuildText, ChannelType.GuildAnnouncement] as const;

/** What the bot needs in a channel, and nothing more. */
export const REQUIRED_PERMISSIONS = new PermissionsBitField([
  PermissionFlagsBits.ViewChannel,
  PermissionFlagsBits.SendMessages,
  PermissionFlagsBits.SendMessagesInThreads,
  PermissionFlagsBits.CreatePublicThreads,
  PermissionFlagsBits.AttachFiles,
  PermissionFlagsBits.EmbedLinks,
  PermissionFlagsBits.ReadMessageHistory,
  // Delete removes the result's thread; without it the bot can only archive and lock its own.
  PermissionFlagsBits.ManageThreads,
]);

/** The commands, with their choices from the core's table. */
export function commandDefinitions(
  catalog: ModelCatalog,
): RESTPostAPIApplicationCommandsJSONBody[] {
  const describe = (
    builder: {
      setDescription(text: string): unknown;
      setDescriptionLocalizations(map: Record<string, string>): unknown;
    },
    key: Parameters<typeof discordText>[1],
  ) => {
    builder.setDescription(discordText('en', key));
    builder.setDescriptionLocalizations({ fr: frenchText(key) });
  };
  const imagine = new SlashCommandBuilder()
    .setName(IMAGINE)
    .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM);
  describe(imagine, 'command.imagine');
  imagine.addStringOption((option) => {
    describe(option, 'command.prompt');
    return option.setName('prompt').setRequired(true).setMaxLength(4000);
  });
  addImageSettingOptions(imagine, catalog, IMAGE_OPTION_TEXTS);
  imagine.addIntegerOption((option) => {
    describe(option, 'command.count');
    return option.setName('count').setMinValue(MIN_COUNT).setMaxValue(MAX_COUNT);
  });
  imagine.addIntegerOption((option) => {
    describe(option, 'command.repeat');
    return option.setName('repeat').setMinValue(MIN_REPEAT).setMaxValue(MAX_REPEAT);
  });
  for (const name of ['image', 'image2', 'image3']) {
    imagine.addAttachmentOption((option) => {
      describe(option, 'command.image');
      return option.setName(name);
    });
  }
  imagine.addBooleanOption((option) => {
    describe(option, 'command.private');
    return option.setName('private');
  });

  const usage = new SlashCommandBuilder()
    .setName(USAGE)
    .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM);
  describe(usage, 'command.usage');
  const help = new SlashCommandBuilder()
    .setName(HELP)
    .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM);
  describe(help, 'command.help');
  // A message command shows nothing but its name, so the name is what French users must read.
  const editImage = new ContextMenuCommandBuilder()
    .setName(EDIT_IMAGE)
    .setNameLocalizations({ fr: 'Modifier l’image' })
    .setType(ApplicationCommandType.Message)
    .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM);

  return [
    imagine.toJSON(),
    blendCommand(catalog, describe).toJSON(),
    usage.toJSON(),
    help.toJSON(),
    preferCommand(catalog).toJSON(),
    settingsCommand(catalog, describe).toJSON(),
    historyCommand(describe).toJSON(),
    editImage.toJSON(),
  ];
}

export const PREFER = 'prefer';

/** What `/prefer clear` offers, with the French names Discord shows French members. */
const PREFER_CLEAR_CHOICES: readonly {
  readonly value: ClearablePreference;
  readonly en: string;
  readonly fr: string;
}[] = [
  {
    value: 'defaults',
    en: 'model, ratio, resolution and suffix',
    fr: 'modèle, format, résolution et suffixe',
  },
  { value: 'model', en: 'model', fr: 'modèle' },
  { value: 'aspectRatio', en: 'aspect ratio', fr: 'format' },
  { value: 'resolution', en: 'resolution', fr: 'résolution' },
  { value: 'suffix', en: 'suffix', fr: 'suffixe' },
  { value: 'styles', en: 'every style', fr: 'tous les styles' },
];

/**
 * `/prefer`: a member's own defaults (Midjourney's `/prefer`). `show`, `set` (model, ratio,
 * resolution, suffix), `clear`, and the `style` group (`add`, `remove`, `list`); every answer is
 * private. Descriptions in English with their French localisation, like the other commands.
 */
function preferCommand(catalog: ModelCatalog): SlashCommandBuilder {
  type Key = Parameters<typeof discordText>[1];
  const describe = <
    T extends {
      setDescription(text: string): T;
      setDescriptionLocalizations(map: Record<string, string>): T;
    },
  >(
    builder: T,
    key: Key,
  ): T =>
    builder
      .setDescription(discordText('en', key))
      .setDescriptionLocalizations({ fr: frenchText(key) });
  const prefer = describe(
    new SlashCommandBuilder()
      .setName(PREFER)
      .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM),
    'command.prefer',
  );
  prefer.addSubcommand((show) => describe(show.setName('show'), 'command.prefer_show'));
  prefer.addSubcommand((set) =>
    addImageSettingOptions(describe(set.setName('set'), 'command.prefer_set'), catalog, {
      model: 'command.prefer_model',
      aspectRatio: 'command.prefer_aspect_ratio',
      resolution: 'command.prefer_resolution',
    }).addStringOption((option) =>
      describe(option.setName('suffix'), 'command.prefer_suffix').setMaxLength(MAX_SUFFIX_LENGTH),
    ),
  );
  prefer.addSubcommand((clear) =>
    describe(clear.setName('clear'), 'command.prefer_clear').addStringOption((option) =>
      describe(option.setName('what'), 'command.prefer_clear_what').addChoices(
        ...PREFER_CLEAR_CHOICES.map((choice) => ({
          name: choice.en,
          name_localizations: { fr: choice.fr },
          value: choice.value,
        })),
      ),
    ),
  );
  prefer.addSubcommandGroup((group) =>
    describe(group.setName('style'), 'command.prefer_style')
      .addSubcommand((add) =>
        describe(add.setName('add'), 'command.prefer_style_add')
          .addStringOption((option) =>
            describe(option.setName('name'), 'command.prefer_style_name')
              .setRequired(true)
              .setMaxLength(32),
          )
          .addStringOption((option) =>
            describe(option.setName('text'), 'command.prefer_style_text')
              .setRequired(true)
              .setMaxLength(MAX_STYLE_TEXT_LENGTH),
          ),
      )
      .addSubcommand((remove) =>
        describe(remove.setName('remove'), 'command.prefer_style_remove').addStringOption(
          (option) =>
            describe(option.setName('name'), 'command.prefer_style_name')
              .setRequired(true)
              .setMaxLength(32),
        ),
      )
      .addSubcommand((list) => describe(list.setName('list'), 'command.prefer_style_list')),
  );
  return prefer;
}

/** Sets a command's or option's description, in English and French (`commandDefinitions`'s). */
type TextKey = Parameters<typeof discordText>[1];

const IMAGE_OPTION_TEXTS = {
  model: 'command.model',
  aspectRatio: 'command.aspect_ratio',
  resolution: 'command.resolution',
} as const satisfies Record<string, TextKey>;

/**
 * The model, aspect ratio and resolution options, with their choices from the core's tables: the
 * same three on /imagine, /blend, /prefer set and /settings, each with its own descriptions.
 */
function addImageSettingOptions<
  Builder extends {
    addStringOption(input: (option: SlashCommandStringOption) => SlashCommandStringOption): unknown;
  },
>(
  builder: Builder,
  catalog: ModelCatalog,
  texts: { readonly model: TextKey; readonly aspectRatio: TextKey; readonly resolution: TextKey },
): Builder {
  const described = (option: SlashCommandStringOption, name: string, key: TextKey) =>
    option
      .setName(name)
      .setDescription(discordText('en', key))
      .setDescriptionLocalizations({ fr: frenchText(key) });
  builder.addStringOption((option) =>
    described(option, 'model', texts.model).addChoices(
      ...catalog.models
        .slice(0, MAX_CHOICES)
        .map((model) => ({ name: model.label.slice(0, 100), value: model.id })),
    ),
  );
  builder.addStringOption((option) =>
    described(option, 'aspect_ratio', texts.aspectRatio).addChoices(
      ...ASPECT_RATIOS.map((ratio) => ({ name: ratio, value: ratio })),
    ),
  );
  builder.addStringOption((option) =>
    described(option, 'resolution', texts.resolution).addChoices(
      ...RESOLUTIONS.map((resolution) => ({ name: resolution, value: resolution })),
    ),
  );
  return builder;
}

type Describe = (
  builder: {
    setDescription(text: string): unknown;
    setDescriptionLocalizations(map: Record<string, string>): unknown;
  },
  key: Parameters<typeof discordText>[1],
) => void;

/**
 * `/blend`: its images first (what it is about; each optional, so that images of other sources
 * can count and the number is checked with a clear answer), then `/imagine`'s usual options.
 */
function blendCommand(catalog: ModelCatalog, describe: Describe): SlashCommandBuilder {
  const blend = new SlashCommandBuilder()
    .setName(BLEND)
    .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM);
  describe(blend, 'command.blend');
  for (const name of BLEND_IMAGE_OPTIONS) {
    blend.addAttachmentOption((option) => {
      describe(option, 'command.blend_image');
      return option.setName(name);
    });
  }
  blend.addStringOption((option) => {
    describe(option, 'command.blend_prompt');
    return option.setName('prompt').setMaxLength(4000);
  });
  addImageSettingOptions(blend, catalog, IMAGE_OPTION_TEXTS);
  blend.addBooleanOption((option) => {
    describe(option, 'command.private');
    return option.setName('private');
  });
  return blend;
}

/**
 * `/settings`: a moderator's (Manage Server) view and change of the server's settings. Without
 * options it shows them; each option given changes one; `reset` clears one or all first.
 */
function settingsCommand(catalog: ModelCatalog, describe: Describe): SlashCommandBuilder {
  const settings = new SlashCommandBuilder()
    .setName(SETTINGS)
    .setContexts(InteractionContextType.Guild)
    // A default Discord lets a server change; the handler checks Manage Server again on use.
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild);
  describe(settings, 'command.settings');
  addImageSettingOptions(settings, catalog, {
    model: 'command.settings_model',
    aspectRatio: 'command.settings_aspect_ratio',
    resolution: 'command.settings_resolution',
  });
  settings.addChannelOption((option) => {
    describe(option, 'command.settings_add_channel');
    return option.setName('add_channel').addChannelTypes(...SETTINGS_CHANNEL_TYPES);
  });
  settings.addChannelOption((option) => {
    describe(option, 'command.settings_remove_channel');
    return option.setName('remove_channel').addChannelTypes(...SETTINGS_CHANNEL_TYPES);
  });
  settings.addIntegerOption((option) => {
    describe(option, 'command.settings_daily_limit');
    return option.setName('daily_limit').setMinValue(0).setMaxValue(1_000_000);
  });
  settings.addChannelOption((option) => {
    describe(option, 'command.settings_audit_channel');
    return option.setName('audit_channel').addChannelTypes(...SETTINGS_CHANNEL_TYPES);
  });
  settings.addBooleanOption((option) => {
    describe(option, 'command.settings_private');
    return option.setName('private');
  });
  settings.addBooleanOption((option) => {
    describe(option, 'command.settings_threads');
    return option.setName('threads');
  });
  settings.addStringOption((option) => {
    describe(option, 'command.settings_reset');
    return option
      .setName('reset')
      .addChoices(...SETTINGS_RESETS.map((name) => ({ name, value: name })));
  });
  return settings;
}

/** `/history`: the member's last requests, privately. */
function historyCommand(describe: Describe): SlashCommandBuilder {
  const history = new SlashCommandBuilder()
    .setName(HISTORY)
    .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM);
  describe(history, 'command.history');
  return history;
}

/** The URL an admin opens to add the bot, with exactly the permissions it needs. */
export function inviteUrl(applicationId: string): string {
  const url = new URL('https://discord.com/oauth2/authorize');
  url.searchParams.set('client_id', applicationId);
  url.searchParams.set('scope', [OAuth2Scopes.Bot, OAuth2Scopes.ApplicationsCommands].join(' '));
  url.searchParams.set('permissions', REQUIRED_PERMISSIONS.bitfield.toString());
  return url.toString();
}

/**
 * Registers the commands where they are missing or changed (to the given guilds, else globally).
 * Returns the scopes it wrote, empty when everything was already up to date.
 */
export async function syncCommands(
  rest: REST,
  applicationId: string,
  guildIds: readonly string[],
  definitions: readonly RESTPostAPIApplicationCommandsJSONBody[],
  options: { force?: boolean } = {},
): Promise<string[]> {
  const routes =
    guildIds.length > 0
      ? guildIds.map((guildId) => ({
          scope: `guild ${guildId}`,
          route: Routes.applicationGuildCommands(applicationId, guildId),
        }))
      : [{ scope: 'global', route: Routes.applicationCommands(applicationId) }];
  const written: string[] = [];
  for (const { scope, route } of routes) {
    if (!options.force) {
      // Without `with_localizations` Discord leaves the translations out, and a changed French
      // text would never be sent.
      const existing = (await rest.get(route, {
        query: new URLSearchParams({ with_localizations: 'true' }),
      })) as RESTPostAPIApplicationCommandsJSONBody[];
      if (sameCommands(existing, definitions)) continue;
    }
    await rest.put(route, { body: definitions });
    written.push(scope);
  }
  return written;
}

/** Compares what Discord holds with what we define, on the fields we set. */
function sameCommands(
  existing: readonly RESTPostAPIApplicationCommandsJSONBody[],
  wanted: readonly RESTPostAPIApplicationCommandsJSONBody[],
): boolean {
  const shape = (command: RESTPostAPIApplicationCommandsJSONBody) =>
    JSON.stringify({
      name: command.name,
      type: command.type ?? ApplicationCommandType.ChatInput,
      description: 'description' in command ? command.description : '',
      nameLocalizations: normalizeLocalizations(command.name_localizations),
      descriptionLocalizations: normalizeLocalizations(
        'description_localizations' in command ? command.description_localizations : undefined,
      ),
      // Who may see the command (moderator commands): Discord answers null when anyone may.
      defaultMemberPermissions: command.default_member_permissions ?? null,
      options: normalizeOptions('options' in command ? command.options : undefined),
    });
  const left = existing.map(shape).sort();
  const right = wanted.map(shape).sort();
  return left.length === right.length && left.every((value, index) => value === right[index]);
}

/**
 * The options as compared, subcommands and their options included (a change deep inside
 * `/settings channels add` must reach Discord too).
 */
function normalizeOptions(options: unknown): unknown {
  if (!Array.isArray(options)) return [];
  return options.map((option: Record<string, unknown>) => ({
    name: option.name,
    type: option.type,
    description: option.description ?? '',
    nameLocalizations: normalizeLocalizations(option.name_localizations),
    descriptionLocalizations: normalizeLocalizations(option.description_localizations),
    required: option.required ?? false,
    choices: Array.isArray(option.choices)
      ? option.choices.map((choice: Record<string, unknown>) => [
          choice.value,
          choice.name,
          normalizeLocalizations(choice.name_localizations),
        ])
      : [],
    min: option.min_value ?? null,
    max: option.max_value ?? null,
    minLength: option.min_length ?? null,
    maxLength: option.max_length ?? null,
    channelTypes: Array.isArray(option.channel_types)
      ? [...option.channel_types].sort((left, right) => Number(left) - Number(right))
      : [],
    options: normalizeOptions(option.options),
  }));
}

/** Absent, null and empty all mean "no translations"; keys sorted so that order never counts. */
function normalizeLocalizations(localizations: unknown): [string, unknown][] {
  if (localizations === null || typeof localizations !== 'object') return [];
  return Object.entries(localizations).sort(([left], [right]) => left.localeCompare(right));
}
