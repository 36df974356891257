import {
  ActionRowBuilder,
  type APIMessage,
  type ButtonInteraction,
  ChannelType,
  type ChatInputCommandInteraction,
  escapeMarkdown,
  type Interaction,
  type MessageContextMenuCommandInteraction,
  MessageFlags,
  ModalBuilder,
  type ModalSubmitInteraction,
  PermissionFlagsBits,
  type RepliableInteraction,
  Routes,
  TextInputBuilder,
  TextInputStyle,
} from 'discord.js';
import {
  batchRequests,
  blendPrompt,
  checkBlendImages,
  expandBatch,
  type Job,
  type Locale,
  MAX_INPUT_IMAGES,
  type NewJob,
  parseImageActionId,
  parsePromptFlags,
  resolveLocale,
  type Submitted,
  translate,
} from '../core/index.js';
import { acceptInteractionBatch } from './batch-requests.js';
import { BLEND, BLEND_IMAGE_OPTIONS, readBlendCommand } from './blend.js';
import { EDIT_IMAGE, HELP, HISTORY, IMAGINE, PREFER, SETTINGS, USAGE } from './commands.js';
import { customId, parseCustomId } from './custom-ids.js';
import { describeFailure } from './describe.js';
import {
  type ChannelKind,
  type InteractionDestination,
  readDelivery,
  readDestination,
  TOKEN_LIFETIME_MS,
} from './destination.js';
import { discordCode } from './discord-errors.js';
import { showHistory } from './history.js';
import { ImageActionHandler } from './image-actions.js';
import {
  attachmentReference,
  type ImageReference,
  imagesOfMessage,
  isImageAttachment,
  MAX_ATTACHMENT_BYTES,
  toInputReference,
} from './images.js';
import { handlePrefer } from './prefer.js';
import { removeResultThread } from './result-thread.js';
import type { DiscordRuntime } from './runtime.js';
import { handleSettingsCommand, privateByDefault } from './server-settings.js';
import { discordHelp, discordText } from './texts.js';
import { queuedBody } from './views.js';

/** Discord's default per-file upload limit since January 2025. */
export const DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024;
/** Images picked with the context menu wait this long for their modal. */
const PENDING_EDIT_TTL_MS = 15 * 60_000;

type Draft = Omit<NewJob, 'destination'>;

interface PendingEdit {
  /** The images a context-menu edit picked. */
  readonly images?: ImageReference[];
  /** The result an Edit button edits; its images are read from the store at submit time. */
  readonly parentJobId?: string;
  /** Who opened the modal, and where: only they, there, may submit it. */
  readonly userId: string;
  readonly channelId: string;
  readonly expiresAt: number;
}

/** Every interaction the bot answers: commands, buttons, modals, the context menu. */
export class InteractionHandler {
  readonly #runtime: DiscordRuntime;
  /**
   * Edit modals shown and not yet submitted, by the id in their custom id: what they edit (a modal
   * submit does not carry the message) and who may submit them, from where. A submit names its
   * modal by custom id alone, so this is what keeps one member from submitting another's.
   */
  readonly #pendingEdits = new Map<string, PendingEdit>();
  /** The per-image buttons (`nb2:` ids): Upscale, Vary, Edit. */
  readonly #imageActions: ImageActionHandler;

  constructor(runtime: DiscordRuntime) {
    this.#runtime = runtime;
    this.#imageActions = new ImageActionHandler(runtime, {
      accept: (interaction, draft, ephemeral) => this.#accept(interaction, draft, ephemeral),
      sayPrivately: (interaction, content) => this.#sayPrivately(interaction, content),
    });
  }

  async handle(interaction: Interaction): Promise<void> {
    try {
      if (interaction.isChatInputCommand() && interaction.commandName === IMAGINE) {
        await this.#imagine(interaction);
      } else if (interaction.isChatInputCommand() && interaction.commandName === BLEND) {
        await this.#blend(interaction, BLEND_IMAGE_OPTIONS);
      } else if (interaction.isChatInputCommand() && interaction.commandName === USAGE) {
        await this.#usage(interaction);
      } else if (interaction.isChatInputCommand() && interaction.commandName === HELP) {
        await this.#help(interaction);
      } else if (interaction.isChatInputCommand() && interaction.commandName === PREFER) {
        await handlePrefer(this.#runtime, interaction);
      } else if (interaction.isChatInputCommand() && interaction.commandName === HISTORY) {
        await showHistory(this.#runtime, interaction);
      } else if (interaction.isChatInputCommand() && interaction.commandName === SETTINGS) {
        await handleSettingsCommand(this.#runtime, interaction);
      } else if (
        interaction.isMessageContextMenuCommand() &&
        interaction.commandName === EDIT_IMAGE
      ) {
        await this.#editFromContextMenu(interaction);
      } else if (interaction.isCommand()) {
        await this.#unavailable(interaction, interaction.commandName);
      } else if (interaction.isButton()) {
        await this.#button(interaction);
      } else if (interaction.isModalSubmit()) {
        await this.#modal(interaction);
      }
    } catch (error) {
      this.#runtime.logger.error(
        { err: error, interactionId: interaction.id },
        'Interaction failed',
      );
      if (interaction.isRepliable())
        await this.#sayPrivately(interaction, describeFailure(error, interaction.locale)).catch(
          () => {},
        );
    }
  }

  async #imagine(interaction: ChatInputCommandInteraction): Promise<void> {
    const locale = resolveLocale(interaction.locale);
    const { catalog } = this.#runtime.config;
    let parsed: ReturnType<typeof parsePromptFlags>;
    try {
      parsed = parsePromptFlags(interaction.options.getString('prompt', true), catalog);
    } catch (error) {
      await this.#sayPrivately(interaction, describeFailure(error, locale));
      return;
    }
    if (parsed.help) return this.#help(interaction);
    if (parsed.usage) return this.#usage(interaction);
    if (parsed.history) return showHistory(this.#runtime, interaction);
    if (parsed.blend) return this.#blend(interaction, ['image', 'image2', 'image3']);
    if (parsed.settings) {
      await this.#sayPrivately(interaction, discordText(locale, 'settings.use_command'));
      return;
    }
    const images: ImageReference[] = [];
    for (const name of ['image', 'image2', 'image3']) {
      const option = interaction.options.get(name);
      if (option === null) continue;
      // An option naming an attachment Discord did not resolve is a broken request, not a text
      // prompt: going on without the image would make a paid generate nobody asked for.
      const attachment = option.attachment;
      if (attachment === undefined) {
        await this.#sayPrivately(interaction, discordText(locale, 'attachment.missing'));
        return;
      }
      if (!isImageAttachment(attachment)) {
        await this.#sayPrivately(
          interaction,
          discordText(locale, 'attachment.not_image', { name: escapeMarkdown(attachment.name) }),
        );
        return;
      }
      if (attachment.size > MAX_ATTACHMENT_BYTES) {
        await this.#sayPrivately(
          interaction,
          discordText(locale, 'attachment.too_large', {
            name: escapeMarkdown(attachment.name),
            size: megabytes(attachment.size),
            max: megabytes(MAX_ATTACHMENT_BYTES),
          }),
        );
        return;
      }
      images.push(attachmentReference(attachment));
    }
    // An explicit option wins over a flag typed in the prompt.
    const draft = this.#draft(interaction, {
      prompt: parsed.prompt,
      model: interaction.options.getString('model') ?? parsed.model,
      aspectRatio: interaction.options.getString('aspect_ratio') ?? parsed.aspectRatio,
      resolution: interaction.options.getString('resolution') ?? parsed.resolution,
      count: interaction.options.getInteger('count') ?? parsed.count,
      style: parsed.style,
      images,
    });
    const ephemeral = interaction.options.getBoolean('private') ?? undefined;
    // `{red, blue} bird` and `--repeat 2`: several jobs, all accepted or none.
    let prompts: string[];
    try {
      prompts = expandBatch(
        draft.prompt,
        interaction.options.getInteger('repeat') ?? parsed.repeat ?? 1,
      );
    } catch (error) {
      await this.#sayPrivately(interaction, describeFailure(error, locale));
      return;
    }
    if (prompts.length > 1) {
      await this.#acceptBatch(interaction, batchRequests(draft, prompts), ephemeral);
      return;
    }
    await this.#accept(interaction, { ...draft, prompt: prompts[0] ?? draft.prompt }, ephemeral);
  }

  /** `/blend`, or `/imagine --blend` over its own image options: read in `blend.ts`. */
  async #blend(
    interaction: ChatInputCommandInteraction,
    imageOptions: readonly string[],
  ): Promise<void> {
    const reading = readBlendCommand(interaction, this.#runtime.config.catalog, imageOptions);
    if (reading.kind === 'refused') return this.#sayPrivately(interaction, reading.text);
    await this.#accept(
      interaction,
      this.#draft(interaction, reading.fields),
      // Unsaid: the server's default (`/settings private`).
      reading.private ?? undefined,
    );
  }

  async #usage(interaction: RepliableInteraction): Promise<void> {
    const locale = resolveLocale(interaction.locale);
    const usage = await this.#runtime.jobs.usage(
      interaction.user.id,
      interaction.guildId ?? undefined,
      'discord',
    );
    const left = [usage.user, usage.server, usage.total].filter(
      (value): value is number => value !== undefined,
    );
    const lines = [
      left.length === 0
        ? translate(locale, 'usage.unlimited')
        : translate(locale, 'usage.remaining', { images: Math.min(...left) }),
    ];
    if (this.#seesTopUsers(interaction) && usage.topUsers.length > 0) {
      lines.push(
        discordText(locale, 'usage.top', {
          list: usage.topUsers.map((entry) => `<@${entry.requesterId}> ${entry.images}`).join(', '),
        }),
      );
    }
    lines.splice(1, 0, translate(locale, 'usage.week', { images: usage.week }));
    await this.#sayPrivately(interaction, lines.join('\n'));
  }

  async #help(interaction: RepliableInteraction): Promise<void> {
    const locale = resolveLocale(interaction.locale);
    const models = this.#runtime.config.catalog.models.map((model) => model.id);
    await this.#sayPrivately(interaction, discordHelp(locale, models));
  }

  /**
   * A command this process does not know: left registered after `DISCORD_GUILD_IDS` changed, or
   * sent to an older process during a rollout. Answered, so that the member does not see "The
   * application did not respond".
   */
  async #unavailable(interaction: RepliableInteraction, commandName: string): Promise<void> {
    this.#runtime.logger.info(
      { interactionId: interaction.id, command: commandName },
      'An unknown command was used',
    );
    await this.#sayPrivately(
      interaction,
      discordText(resolveLocale(interaction.locale), 'command.unavailable'),
    );
  }

  async #editFromContextMenu(interaction: MessageContextMenuCommandInteraction): Promise<void> {
    const locale = resolveLocale(interaction.locale);
    // A context-menu command carries the target message whole, without the Message Content intent.
    const images = imagesOfMessage(interaction.targetMessage).slice(0, MAX_INPUT_IMAGES);
    if (images.length === 0) {
      await this.#sayPrivately(interaction, discordText(locale, 'reply.no_image'));
      return;
    }
    const pendingId = this.#rememberEdit(interaction, { images });
    await interaction.showModal(editModal(customId('ctxedit', pendingId), locale, 1));
  }

  async #button(interaction: ButtonInteraction): Promise<void> {
    const imageAction = parseImageActionId(interaction.customId);
    if (imageAction !== undefined) return this.#imageActions.button(interaction, imageAction);
    const locale = resolveLocale(interaction.locale);
    const parsed = parseCustomId(interaction.customId);
    const job = parsed === undefined ? undefined : await this.#runtime.jobs.getJob(parsed.id);
    if (parsed === undefined || job === undefined || job.platform !== 'discord') {
      await this.#sayPrivately(interaction, discordText(locale, 'gone'));
      return;
    }
    switch (parsed.action) {
      case 'cancel':
        return this.#cancel(interaction, job, locale);
      case 'reroll':
        return this.#accept(interaction, this.#rerollDraft(interaction, job), wasPrivate(job));
      case 'edit': {
        // The buttons show as soon as the result is posted, a moment before its delivery is
        // stored: until then, the images are those of the message the button is on.
        const count =
          readDelivery(job.delivery)?.images.length ??
          (job.state === 'delivering' ? interaction.message.attachments.size : 0);
        if (count === 0) {
          await this.#sayPrivately(interaction, discordText(locale, 'gone'));
          return;
        }
        const pendingId = this.#rememberEdit(interaction, { parentJobId: job.id });
        await interaction.showModal(editModal(customId('editmodal', pendingId), locale, count));
        return;
      }
      case 'delete':
        return this.#delete(interaction, job, locale);
      default:
        await this.#sayPrivately(interaction, discordText(locale, 'gone'));
    }
  }

  async #modal(interaction: ModalSubmitInteraction): Promise<void> {
    const imageAction = parseImageActionId(interaction.customId);
    if (imageAction !== undefined) return this.#imageActions.modal(interaction, imageAction);
    const locale = resolveLocale(interaction.locale);
    const parsed = parseCustomId(interaction.customId);
    const change = interaction.fields.getTextInputValue('change');
    let images: ImageReference[] | undefined;
    let parent: Job | undefined;
    this.#forgetExpiredEdits();
    const pending = parsed === undefined ? undefined : this.#pendingEdits.get(parsed.id);
    if (
      pending !== undefined &&
      (pending.userId !== interaction.user.id || pending.channelId !== interaction.channelId)
    ) {
      await this.#sayPrivately(interaction, discordText(locale, 'modal.not_yours'));
      return;
    }
    if (parsed !== undefined) this.#pendingEdits.delete(parsed.id);
    if (parsed?.action === 'ctxedit') {
      images = pending?.images;
    } else if (parsed?.action === 'editmodal' && pending?.parentJobId !== undefined) {
      parent = await this.#runtime.jobs.getJob(pending.parentJobId);
      const delivered =
        parent?.platform === 'discord' ? readDelivery(parent.delivery)?.images : undefined;
      if (delivered !== undefined && delivered.length > 0) {
        const wanted = Number.parseInt(fieldOrEmpty(interaction, 'image'), 10);
        const picked =
          Number.isInteger(wanted) && wanted >= 1 && wanted <= delivered.length ? wanted : 1;
        const image = delivered[picked - 1];
        images = image ? [image] : undefined;
      }
    }
    if (images === undefined) {
      await this.#sayPrivately(
        interaction,
        discordText(locale, pending === undefined ? 'modal.expired' : 'gone'),
      );
      return;
    }
    let flags: ReturnType<typeof parsePromptFlags>;
    try {
      flags = parsePromptFlags(change, this.#runtime.config.catalog);
      // `--blend` in the form: the picked message's images, 2 to 5, blended.
      if (flags.blend === true) checkBlendImages(images.length);
    } catch (error) {
      await this.#sayPrivately(interaction, describeFailure(error, locale));
      return;
    }
    const draft = this.#draft(interaction, {
      prompt: flags.blend === true ? blendPrompt(flags.prompt) : flags.prompt,
      model: flags.model ?? parent?.options.model,
      aspectRatio: flags.aspectRatio,
      resolution: flags.resolution ?? parent?.options.resolution,
      count: flags.count,
      style: flags.style,
      images,
      parentJobId: parent?.id,
    });
    // An edit of a result is as private as the result; an edit of another message, as the server says.
    await this.#accept(interaction, draft, parent === undefined ? undefined : wasPrivate(parent));
  }

  async #cancel(interaction: ButtonInteraction, job: Job, locale: Locale): Promise<void> {
    const outcome = await this.#runtime.jobs.cancel(job.id, interaction.user.id);
    if (outcome === 'cancelled') {
      // The engine tells the job's message itself; the click needs only an acknowledgement.
      await interaction.deferUpdate();
      return;
    }
    await this.#sayPrivately(
      interaction,
      discordText(
        locale,
        outcome === 'not_yours'
          ? 'cancel.not_yours'
          : outcome === 'too_late'
            ? 'cancel.too_late'
            : 'gone',
      ),
    );
  }

  async #delete(interaction: ButtonInteraction, job: Job, locale: Locale): Promise<void> {
    // Moderators: Manage Messages in this server (Administrator implies it).
    const moderator =
      interaction.memberPermissions?.has(PermissionFlagsBits.ManageMessages) ?? false;
    if (!this.#runtime.jobs.mayDelete(job, interaction.user.id, moderator)) {
      await this.#sayPrivately(interaction, discordText(locale, 'delete.refused'));
      return;
    }
    if (job.state === 'delivering') {
      // The result is on screen but its messages are not recorded yet (its thread is being
      // opened, say): "Deleted." now would delete nothing.
      await this.#sayPrivately(interaction, discordText(locale, 'delete.not_yet'));
      return;
    }
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const delivery = readDelivery(job.delivery);
    for (const message of delivery?.messages ?? []) {
      await this.#runtime.rest
        .delete(Routes.channelMessage(message.channelId, message.messageId))
        .catch((error: unknown) => {
          this.#runtime.logger.warn(
            { jobId: job.id, code: discordCode(error) },
            'Could not delete a result message',
          );
        });
    }
    if (delivery?.threadId !== undefined)
      await removeResultThread(this.#runtime, job.id, delivery.threadId);
    await this.#runtime.jobs.forgetResult(job.id);
    await interaction.editReply({ content: discordText(locale, 'delete.done') });
  }

  /**
   * The request flow: refusals answered privately before anything else (they cost nothing), then
   * the defer, then the job stored, then the user told it is in line.
   */
  async #accept(
    interaction: RepliableInteraction,
    draft: Draft,
    /** Whether the result is private; undefined when the request does not say (the server's default). */
    asked: boolean | undefined,
  ): Promise<void> {
    const { jobs } = this.#runtime;
    const locale = resolveLocale(interaction.locale);
    const ephemeral = asked ?? (await privateByDefault(this.#runtime, interaction.guildId));
    try {
      await jobs.check({ ...draft, destination: undefined });
    } catch (error) {
      await this.#sayPrivately(interaction, describeFailure(error, locale));
      return;
    }
    const missing = await missingPermission(interaction, ephemeral, () => this.#mayOutlastToken());
    if (missing !== undefined) {
      await this.#sayPrivately(
        interaction,
        discordText(locale, 'permission.missing', { permission: missing }),
      );
      return;
    }
    await interaction.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {});
    const destination = this.#destination(interaction, ephemeral);
    try {
      // The engine may start the job before `submit` has answered here: its progress waits until
      // the "in line" edit is scheduled, and so comes after it.
      await this.#runtime.acceptances.hold(draft.dedupKey, async () => {
        const submitted = await jobs.submit({ ...draft, destination });
        if (submitted.created) this.#showQueued(submitted, destination, locale);
      });
    } catch (error) {
      // The sentence may quote what the member typed: it pings no one.
      await interaction.editReply({
        content: describeFailure(error, locale),
        allowedMentions: { parse: [] },
      });
    }
  }

  /** `#accept` for a batch: the same refusals first, then each job in a message of its own. */
  async #acceptBatch(
    interaction: ChatInputCommandInteraction,
    drafts: Draft[],
    /** Whether the results are private; undefined when the request does not say (the server's default). */
    asked: boolean | undefined,
  ): Promise<void> {
    const locale = resolveLocale(interaction.locale);
    const ephemeral = asked ?? (await privateByDefault(this.#runtime, interaction.guildId));
    try {
      await this.#runtime.jobs.checkBatch(
        drafts.map((draft) => ({ ...draft, destination: undefined })),
      );
    } catch (error) {
      await this.#sayPrivately(interaction, describeFailure(error, locale));
      return;
    }
    const missing = await missingPermission(interaction, ephemeral, () => this.#mayOutlastToken());
    if (missing !== undefined) {
      await this.#sayPrivately(
        interaction,
        discordText(locale, 'permission.missing', { permission: missing }),
      );
      return;
    }
    await interaction.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {});
    await acceptInteractionBatch(
      this.#runtime,
      interaction,
      drafts,
      this.#destination(interaction, ephemeral),
    );
  }

  /** The deferred reply becomes the job's message: its place in line, and a Cancel button. */
  #showQueued(submitted: Submitted, destination: InteractionDestination, locale: Locale): void {
    const { jobs } = this.#runtime;
    const { job } = submitted;
    const position = submitted.position ?? 1;
    // Through the throttle, so the engine's own progress edits come after this one.
    this.#runtime.throttle.schedule(job.id, async () => {
      const message = (await this.#runtime.webhooks.patch(
        Routes.webhookMessage(destination.applicationId, destination.token),
        {
          body: queuedBody(job, locale, position),
          auth: false,
        },
      )) as APIMessage;
      const current = await jobs.getJob(job.id);
      if (current !== undefined)
        await jobs.updateDestination(job.id, {
          ...readDestination(current.destination),
          messageId: message.id,
        });
    });
  }

  /**
   * A job that must wait for a slot may outlast the interaction token (15 minutes), and is then
   * delivered with the bot's own token, which needs Send Messages in the channel. The port knows
   * whether the fleet is likely to make it wait (paused, a line, every slot taken).
   */
  #mayOutlastToken(): Promise<boolean> {
    return this.#runtime.jobs.likelyToWait();
  }

  #draft(
    interaction: RepliableInteraction,
    fields: {
      prompt: string;
      model: string | undefined;
      aspectRatio: string | undefined;
      resolution: string | undefined;
      count: number | undefined;
      style?: string | undefined;
      images: readonly ImageReference[];
      parentJobId?: string | undefined;
    },
  ): Draft {
    return {
      platform: 'discord',
      dedupKey: `discord:interaction:${interaction.id}`,
      requesterId: interaction.user.id,
      serverId: interaction.guildId ?? undefined,
      channelId: interaction.channelId ?? '',
      parentChannelId: parentChannelId(interaction),
      locale: interaction.locale,
      action: fields.images.length > 0 ? 'edit' : 'generate',
      prompt: fields.prompt,
      options: {
        // Left out, it is resolved at admission: preferences, server settings, operator default.
        model: fields.model,
        aspectRatio: fields.aspectRatio as NewJob['options']['aspectRatio'],
        resolution: fields.resolution as NewJob['options']['resolution'],
        count: fields.count,
      },
      style: fields.style,
      inputs: fields.images.map(toInputReference),
      parentJobId: fields.parentJobId,
    };
  }

  #rerollDraft(interaction: ButtonInteraction, parent: Job): Draft {
    return {
      platform: 'discord',
      dedupKey: `discord:interaction:${interaction.id}`,
      requesterId: interaction.user.id,
      serverId: interaction.guildId ?? undefined,
      channelId: interaction.channelId,
      parentChannelId: parentChannelId(interaction),
      locale: interaction.locale,
      action: parent.action,
      prompt: parent.prompt,
      // The same request: its prompt already holds its style and suffix.
      promptIsFinal: true,
      options: parent.options,
      inputs: parent.inputs,
      parentJobId: parent.id,
    };
  }

  #destination(interaction: RepliableInteraction, ephemeral: boolean): InteractionDestination {
    return {
      kind: 'interaction',
      applicationId: interaction.applicationId,
      token: interaction.token,
      expiresAt: interaction.createdTimestamp + TOKEN_LIFETIME_MS,
      channelId: interaction.channelId ?? '',
      ...(interaction.guildId ? { guildId: interaction.guildId } : {}),
      channelKind: channelKind(interaction.channel?.type),
      ephemeral,
      uploadLimit: interaction.attachmentSizeLimit || DEFAULT_UPLOAD_LIMIT,
    };
  }

  /**
   * The top users of the day are shown to operator admins and to the server's Administrators: it
   * is who spends in their server, and seeing it spends nothing.
   */
  #seesTopUsers(interaction: RepliableInteraction): boolean {
    return (
      this.#runtime.jobs.isAdmin(interaction.user.id) ||
      (interaction.memberPermissions?.has(PermissionFlagsBits.Administrator) ?? false)
    );
  }

  async #sayPrivately(interaction: RepliableInteraction, content: string): Promise<void> {
    const body = { content: content.slice(0, 2000), flags: MessageFlags.Ephemeral } as const;
    if (interaction.deferred || interaction.replied) await interaction.followUp(body);
    else await interaction.reply(body);
  }

  /** Keeps what a modal about to be shown edits, and who opened it where; returns its id. */
  #rememberEdit(
    interaction: MessageContextMenuCommandInteraction | ButtonInteraction,
    what: { images?: ImageReference[]; parentJobId?: string },
  ): string {
    this.#forgetExpiredEdits();
    this.#pendingEdits.set(interaction.id, {
      ...what,
      userId: interaction.user.id,
      channelId: interaction.channelId,
      expiresAt: this.#runtime.now() + PENDING_EDIT_TTL_MS,
    });
    return interaction.id;
  }

  #forgetExpiredEdits(): void {
    const now = this.#runtime.now();
    for (const [id, pending] of this.#pendingEdits)
      if (pending.expiresAt < now) this.#pendingEdits.delete(id);
  }
}

export function channelKind(type: ChannelType | undefined): ChannelKind {
  switch (type) {
    case ChannelType.GuildText:
    case ChannelType.GuildAnnouncement:
      return 'text';
    case ChannelType.PublicThread:
    case ChannelType.PrivateThread:
    case ChannelType.AnnouncementThread:
      return 'thread';
    case ChannelType.DM:
      return 'dm';
    default:
      return 'other';
  }
}

/**
 * The channel permission a public request lacks, checked before the defer so that the member is
 * told at once and nothing is spent: View Channel and Attach Files always (threads, late posts and
 * the files themselves need them); Send Messages (in Threads, inside one) when the result may have
 * to be posted with the bot's token. A private result goes through the interaction or a DM only.
 * Whether the job may outlast the token is asked last, and only when Send Messages is missing: it
 * is a round trip to the store, before a defer due within 3 s.
 */
async function missingPermission(
  interaction: RepliableInteraction,
  ephemeral: boolean,
  mayOutlastToken: () => Promise<boolean>,
): Promise<string | undefined> {
  const permissions = interaction.appPermissions;
  if (ephemeral || !interaction.inGuild() || permissions === null) return undefined;
  if (!permissions.has(PermissionFlagsBits.ViewChannel)) return 'View Channel';
  if (!permissions.has(PermissionFlagsBits.AttachFiles)) return 'Attach Files';
  const inThread = interaction.channel?.isThread() ?? false;
  const [send, name] = inThread
    ? [PermissionFlagsBits.SendMessagesInThreads, 'Send Messages in Threads']
    : [PermissionFlagsBits.SendMessages, 'Send Messages'];
  if (permissions.has(send)) return undefined;
  return (await mayOutlastToken()) ? name : undefined;
}

/** The channel of the thread a request came from (a server's channel list admits its threads). */
function parentChannelId(interaction: RepliableInteraction): string | undefined {
  const channel = interaction.channel;
  return channel?.isThread() ? (channel.parentId ?? undefined) : undefined;
}

function wasPrivate(job: Job): boolean {
  try {
    const destination = readDestination(job.destination);
    return destination.kind === 'interaction' && destination.ephemeral;
  } catch {
    return false;
  }
}

function editModal(id: string, locale: Locale, imageCount: number): ModalBuilder {
  const modal = new ModalBuilder()
    .setCustomId(id)
    .setTitle(discordText(locale, 'modal.edit_title'));
  const change = new TextInputBuilder()
    .setCustomId('change')
    .setLabel(discordText(locale, 'modal.change_label'))
    .setPlaceholder(discordText(locale, 'modal.change_placeholder'))
    .setStyle(TextInputStyle.Paragraph)
    .setRequired(true)
    .setMaxLength(4000);
  modal.addComponents(new ActionRowBuilder<TextInputBuilder>().addComponents(change));
  if (imageCount > 1) {
    const which = new TextInputBuilder()
      .setCustomId('image')
      .setLabel(discordText(locale, 'modal.image_label', { count: imageCount }).slice(0, 45))
      .setStyle(TextInputStyle.Short)
      .setRequired(false)
      .setValue('1')
      .setMaxLength(2);
    modal.addComponents(new ActionRowBuilder<TextInputBuilder>().addComponents(which));
  }
  return modal;
}

function fieldOrEmpty(interaction: ModalSubmitInteraction, id: string): string {
  try {
    return interaction.fields.getTextInputValue(id);
  } catch {
    return '';
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
