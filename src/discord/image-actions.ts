import {
  ActionRowBuilder,
  type ButtonInteraction,
  escapeMarkdown,
  ModalBuilder,
  type ModalSubmitInteraction,
  type RepliableInteraction,
  TextInputBuilder,
  TextInputStyle,
} from 'discord.js';
import {
  displayPrompt,
  type ImageActionTarget,
  imageActionId,
  imageActionRequest,
  type Job,
  type Locale,
  type NewJob,
  type Presser,
  parsePromptFlags,
  type ResultImageFile,
  resolveLocale,
  resultImageUrl,
  translate,
  upscaleChoices,
} from '../core/index.js';
import { describeFailure } from './describe.js';
import { type Destination, readDelivery, wasPrivate } from './destination.js';
import type { DiscordRuntime } from './runtime.js';
import { discordText } from './texts.js';
import type { ImageControls } from './views.js';

/**
 * The per-image buttons of a result (⬆️ Upscale 2K/4K, 🔀 Vary, ✏️ Edit) and what a press does:
 * a new job on the presser's quota, made from that image of the result (its URL in the job's
 * result), linked to the result it came from. The ids carry the job id and the image: a button
 * works after a restart, the rest is read from the store.
 */

type Draft = Omit<NewJob, 'destination'>;

/** The request flow of the interaction handler: refusals, defer, store, "in line". */
export interface RequestFlow {
  accept(interaction: RepliableInteraction, draft: Draft, ephemeral: boolean): Promise<void>;
  sayPrivately(interaction: RepliableInteraction, content: string): Promise<void>;
}

export class ImageActionHandler {
  readonly #runtime: DiscordRuntime;
  readonly #flow: RequestFlow;

  constructor(runtime: DiscordRuntime, flow: RequestFlow) {
    this.#runtime = runtime;
    this.#flow = flow;
  }

  /** A press of a per-image button. */
  async button(interaction: ButtonInteraction, target: ImageActionTarget): Promise<void> {
    const locale = resolveLocale(interaction.locale);
    const parent = await this.#parent(interaction, target, locale);
    if (parent === undefined) return;
    if (target.kind === 'edit') {
      // The form is all a press shows; the submit (below) names the image again by its id.
      await interaction.showModal(editImageModal(imageActionId(target), locale, target.index));
      return;
    }
    const { config } = this.#runtime;
    const request = imageActionRequest(parent, target, this.#presser(interaction), {
      catalog: config.catalog,
      upscaleModel: config.upscaleModel,
      maxPromptLength: config.maxPromptLength,
    });
    await this.#flow.accept(interaction, { ...request, platform: 'discord' }, wasPrivate(parent));
  }

  /**
   * The Edit form of one image, submitted. Its id says which image of which result, nothing the
   * submitter could not have pressed themselves: the edit is theirs, on their quota.
   */
  async modal(interaction: ModalSubmitInteraction, target: ImageActionTarget): Promise<void> {
    const locale = resolveLocale(interaction.locale);
    const parent = await this.#parent(interaction, target, locale);
    if (parent === undefined || target.kind !== 'edit') return;
    let flags: ReturnType<typeof parsePromptFlags>;
    try {
      flags = parsePromptFlags(
        interaction.fields.getTextInputValue('change'),
        this.#runtime.config.catalog,
      );
    } catch (error) {
      await this.#flow.sayPrivately(interaction, describeFailure(error, locale));
      return;
    }
    const draft: Draft = {
      ...this.#presser(interaction),
      platform: 'discord',
      action: 'edit',
      prompt: flags.prompt,
      options: {
        model: flags.model ?? parent.options.model,
        aspectRatio: flags.aspectRatio as NewJob['options']['aspectRatio'],
        resolution: (flags.resolution ??
          parent.options.resolution) as NewJob['options']['resolution'],
        count: flags.count,
      },
      inputs: [{ kind: 'url', url: resultImageUrl(parent, target.index) }],
      parentJobId: parent.id,
    };
    await this.#flow.accept(interaction, draft, wasPrivate(parent));
  }

  /** The result a control works on, or undefined once the presser was told why there is none. */
  async #parent(
    interaction: ButtonInteraction | ModalSubmitInteraction,
    target: ImageActionTarget,
    locale: Locale,
  ): Promise<Job | undefined> {
    const parent = await this.#runtime.jobs.getJob(target.jobId);
    if (parent === undefined || parent.platform !== 'discord') {
      await this.#flow.sayPrivately(interaction, discordText(locale, 'gone'));
      return undefined;
    }
    try {
      resultImageUrl(parent, target.index);
    } catch (error) {
      await this.#flow.sayPrivately(interaction, describeFailure(error, locale));
      return undefined;
    }
    return parent;
  }

  #presser(interaction: ButtonInteraction | ModalSubmitInteraction): Presser {
    return {
      dedupKey: `discord:interaction:${interaction.id}`,
      requesterId: interaction.user.id,
      serverId: interaction.guildId ?? undefined,
      channelId: interaction.channelId ?? '',
      parentChannelId: interaction.channel?.isThread()
        ? (interaction.channel.parentId ?? undefined)
        : undefined,
      locale: interaction.locale,
    };
  }
}

function editImageModal(id: string, locale: Locale, index: number): ModalBuilder {
  const change = new TextInputBuilder()
    .setCustomId('change')
    .setLabel(discordText(locale, 'modal.change_label'))
    .setPlaceholder(discordText(locale, 'modal.change_placeholder'))
    .setStyle(TextInputStyle.Paragraph)
    .setRequired(true)
    .setMaxLength(4000);
  return new ModalBuilder()
    .setCustomId(id)
    .setTitle(discordText(locale, 'modal.edit_image_title', { number: index + 1 }).slice(0, 45))
    .addComponents(new ActionRowBuilder<TextInputBuilder>().addComponents(change));
}

/** What a result's message shows of its per-image actions and of where it came from. */
export interface ResultExtras {
  readonly controls: ImageControls;
  readonly fromParent?: string | undefined;
  readonly upscaleNote?: string | undefined;
}

export async function resultExtras(
  runtime: DiscordRuntime,
  job: Job,
  images: readonly ResultImageFile[],
  destination: Destination,
): Promise<ResultExtras> {
  const locale = resolveLocale(job.locale);
  const upscales = upscaleChoices(job, runtime.config.catalog, runtime.config.upscaleModel);
  const models = [...new Set(upscales.map((choice) => choice.model))];
  const offersFourK = upscales.some((choice) => choice.resolution === '4K');
  return {
    controls: { indexes: images.map((image) => image.index), upscales },
    fromParent: await parentText(runtime, job),
    upscaleNote:
      images.length === 0 || upscales.length === 0
        ? undefined
        : `⬆️ ${translate(locale, 'result.upscale_note', {
            models,
            ...(offersFourK ? { limit: destination.uploadLimit } : {}),
          })}`,
  };
}

/**
 * The result a job was made from: a link to its message when it was posted for everyone to see,
 * else its prompt and id. Nothing (rather than a failed delivery) when it cannot be read.
 */
async function parentText(runtime: DiscordRuntime, job: Job): Promise<string | undefined> {
  if (job.parentJobId === undefined) return undefined;
  const parent = await runtime.jobs.getJob(job.parentJobId).catch(() => undefined);
  if (parent === undefined) return `\`${job.parentJobId.slice(0, 8)}\``;
  const [message] = readDelivery(parent.delivery)?.messages ?? [];
  if (message !== undefined && !wasPrivate(parent)) {
    const guildId = guildOf(parent) ?? '@me';
    return `https://discord.com/channels/${guildId}/${message.channelId}/${message.messageId}`;
  }
  const prompt = [...displayPrompt(parent).replace(/\s+/g, ' ').trim()];
  const shown = prompt.length > 80 ? `${prompt.slice(0, 79).join('')}…` : prompt.join('');
  return `“${escapeMarkdown(shown)}” (\`${parent.id.slice(0, 8)}\`)`;
}

function guildOf(job: Job): string | undefined {
  const destination = job.destination as { guildId?: unknown } | undefined;
  return typeof destination?.guildId === 'string' ? destination.guildId : undefined;
}
