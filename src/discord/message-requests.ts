import {
  type AnyThreadChannel,
  type APIMessage,
  ChannelType,
  type Message,
  PermissionFlagsBits,
  Routes,
} from 'discord.js';
import {
  batchRequests,
  blendPrompt,
  expandBatch,
  type Locale,
  MAX_INPUT_IMAGES,
  type NewJob,
  parsePromptFlags,
  resolveLocale,
  type Submitted,
} from '../core/index.js';
import { submitMessageBatch } from './batch-requests.js';
import { checkMessageBlend } from './blend.js';
import { describeFailure } from './describe.js';
import { readDestination } from './destination.js';
import { discordCode } from './discord-errors.js';
import { type ImageReference, imagesOfMessage, toInputReference } from './images.js';
import { channelKind, DEFAULT_UPLOAD_LIMIT } from './interactions.js';
import type { DiscordRuntime } from './runtime.js';
import { discordHelp, discordText } from './texts.js';
import { queuedBody } from './views.js';

/**
 * Requests made by plain messages: a reply that mentions the bot edits the replied-to images; in a
 * bot's result thread a mention edits the latest image there; in a DM any message is a request.
 * Elsewhere a message is a request only when its text mentions the bot: a reply pings the author
 * of the message it answers by default, and a "thanks!" to a result must not be a paid edit.
 * `NANO_BANANA_THREAD_REPLIES=any` makes the reply ping (and, with the Message Content intent, any
 * message in a result thread) a request again.
 */
export async function handleMessage(runtime: DiscordRuntime, message: Message): Promise<void> {
  // A webhook's post (an integration, a relay) is not a member asking, whatever its author says.
  if (message.author.bot || message.system || message.webhookId !== null) return;
  const botUserId = runtime.botUserId();
  const channel = message.channel;
  const conversational = runtime.config.threadReplies === 'any';
  const mentioned = conversational
    ? message.mentions.users.has(botUserId)
    : mentionsInText(message.content, botUserId);
  const inBotThread = channel.isThread() && channel.ownerId === botUserId;
  const inDm = channel.type === ChannelType.DM;
  const threadChatter = inBotThread && runtime.settings.messageContent && conversational;
  if (!mentioned && !inDm && !threadChatter) return;

  // Messages carry no user locale: the guild's preferred one.
  const locale = resolveLocale(message.guild?.preferredLocale);
  const reply = (content: string) =>
    message
      .reply({ content: content.slice(0, 2000), allowedMentions: { repliedUser: false } })
      .then(() => undefined);
  const missing = missingPermission(message);
  if (missing !== undefined) {
    // Told now, before anything is spent: the result would have nowhere to go but a DM.
    const text = discordText(locale, 'permission.missing_in', {
      channel: message.channelId,
      permission: missing,
    });
    await (missing === 'Attach Files' ? reply(text) : message.author.send(text.slice(0, 2000)))
      .then(() => undefined)
      .catch((error: unknown) => {
        runtime.logger.warn(
          { messageId: message.id, code: discordCode(error), permission: missing },
          'Could not tell a member about a missing permission',
        );
      });
    return;
  }
  try {
    const text = message.content.replace(new RegExp(`<@!?${botUserId}>`, 'g'), ' ').trim();
    const parsed = parsePromptFlags(text, runtime.config.catalog);
    if (parsed.help) {
      await reply(
        discordHelp(
          locale,
          runtime.config.catalog.models.map((model) => model.id),
        ),
      );
      return;
    }
    if (parsed.settings) {
      await reply(discordText(locale, 'settings.use_command'));
      return;
    }
    // What the slash commands answer privately: a mention would show it to the whole channel.
    const command = parsed.usage
      ? '/usage'
      : parsed.history
        ? '/history'
        : parsed.prefer === true
          ? '/prefer'
          : undefined;
    if (command !== undefined) {
      await reply(discordText(locale, 'mention.use_command', { command }));
      return;
    }
    const own = imagesOfMessage(message);
    let images: ImageReference[] = own;
    let referenced: Message | undefined;
    if (message.reference?.messageId !== undefined) {
      referenced = await message.fetchReference().catch(() => undefined);
      const theirs = referenced === undefined ? [] : imagesOfMessage(referenced);
      if (
        theirs.length === 0 &&
        // A blend counts on the replied-to images even when the reply brings some of its own.
        (own.length === 0 || parsed.blend === true) &&
        referenced !== undefined &&
        referenced.author.id !== botUserId &&
        !runtime.settings.messageContent
      ) {
        // Without the intent another user's message comes with its images hidden: say how instead.
        await reply(discordText(locale, 'reply.no_image_other_user'));
        return;
      }
      images = [...theirs, ...own];
    } else if (inBotThread && own.length === 0 && !parsed.blend) {
      const latest = await latestThreadImage(runtime, channel, message.author.id);
      if (latest === undefined) {
        await reply(discordText(locale, 'reply.no_image_in_thread'));
        return;
      }
      images = [latest];
    }

    // `--blend`: the images of this message and the one it replies to, all of them, 2 to 5.
    if (parsed.blend) checkMessageBlend([message, referenced], images.length);

    const draft: Omit<NewJob, 'destination'> = {
      platform: 'discord',
      dedupKey: `discord:message:${message.id}`,
      requesterId: message.author.id,
      serverId: message.guildId ?? undefined,
      channelId: message.channelId,
      parentChannelId: channel.isThread() ? (channel.parentId ?? undefined) : undefined,
      locale,
      action: images.length > 0 ? 'edit' : 'generate',
      prompt: parsed.blend ? blendPrompt(parsed.prompt) : parsed.prompt,
      options: {
        // Left out, it is resolved at admission: preferences, server settings, operator default.
        model: parsed.model,
        aspectRatio: parsed.aspectRatio,
        resolution: parsed.resolution,
        count: parsed.count,
      },
      style: parsed.style,
      inputs: images.slice(0, MAX_INPUT_IMAGES).map(toInputReference),
    };
    const destination = {
      kind: 'message',
      channelId: message.channelId,
      ...(message.guildId ? { guildId: message.guildId } : {}),
      channelKind: channelKind(channel.type),
      sourceMessageId: message.id,
      uploadLimit: DEFAULT_UPLOAD_LIMIT,
    };
    // `{red, blue} bird` and `--repeat 2`: several jobs, all accepted or none.
    const prompts = expandBatch(draft.prompt, parsed.repeat ?? 1);
    if (prompts.length > 1) {
      const requests = batchRequests({ ...draft, destination }, prompts);
      await submitMessageBatch(runtime, message, requests, locale, (submitted) =>
        showQueued(runtime, message, submitted, locale),
      );
      return;
    }
    const single = { ...draft, prompt: prompts[0] ?? draft.prompt };
    await runtime.jobs.check({ ...single, destination: undefined });
    // The engine may start the job before `submit` has answered here: its progress waits until
    // the progress reply is scheduled, and so comes after it.
    await runtime.acceptances.hold(single.dedupKey, async () => {
      const submitted = await runtime.jobs.submit({ ...single, destination });
      if (submitted.created) showQueued(runtime, message, submitted, locale);
    });
  } catch (error) {
    await reply(describeFailure(error, locale)).catch((failure: unknown) => {
      runtime.logger.warn({ err: failure, messageId: message.id }, 'Could not answer a message');
    });
  }
}

/**
 * The reply that shows progress, then the result; through the throttle so that the engine's own
 * progress edits come after it.
 */
function showQueued(
  runtime: DiscordRuntime,
  message: Message,
  submitted: Submitted,
  locale: Locale,
): void {
  const { job } = submitted;
  const position = submitted.position ?? 1;
  runtime.throttle.schedule(job.id, async () => {
    const progress = (await runtime.rest.post(Routes.channelMessages(message.channelId), {
      body: {
        ...queuedBody(job, locale, position),
        message_reference: { message_id: message.id, fail_if_not_exists: false },
        allowed_mentions: { replied_user: false },
      },
    })) as APIMessage;
    const current = await runtime.jobs.getJob(job.id);
    if (current !== undefined) {
      await runtime.jobs.updateDestination(job.id, {
        ...readDestination(current.destination),
        progressMessageId: progress.id,
      });
    }
  });
}

/** Whether the text itself holds `<@bot>`: the reply ping alone does not count. */
function mentionsInText(content: string, botUserId: string): boolean {
  return new RegExp(`<@!?${botUserId}>`).test(content);
}

/**
 * A message request is answered, and its result posted, with the bot's own token: it needs Send
 * Messages (in Threads, inside one) and Attach Files where it was asked. Undefined when all is
 * there, or when the bot's member is not cached (then Discord's answer will tell).
 */
function missingPermission(message: Message): string | undefined {
  const channel = message.channel;
  const me = message.guild?.members.me;
  if (channel.isDMBased() || me === null || me === undefined) return undefined;
  const permissions = channel.permissionsFor(me);
  if (channel.isThread() && !permissions.has(PermissionFlagsBits.SendMessagesInThreads))
    return 'Send Messages in Threads';
  if (!channel.isThread() && !permissions.has(PermissionFlagsBits.SendMessages))
    return 'Send Messages';
  if (!permissions.has(PermissionFlagsBits.AttachFiles)) return 'Attach Files';
  return undefined;
}

/**
 * The image a follow-up in a result thread edits: the newest one there from the bot or from the
 * user, else the result the thread was opened on.
 */
async function latestThreadImage(
  runtime: DiscordRuntime,
  thread: AnyThreadChannel,
  userId: string,
): Promise<ImageReference | undefined> {
  const botUserId = runtime.botUserId();
  const recent = await thread.messages.fetch({ limit: 50 });
  for (const candidate of recent.values()) {
    if (candidate.author.id !== botUserId && candidate.author.id !== userId) continue;
    const images = imagesOfMessage(candidate);
    if (images.length > 0) return images.at(-1);
  }
  const starter = await thread.fetchStarterMessage().catch(() => null);
  return starter === null ? undefined : imagesOfMessage(starter).at(-1);
}
