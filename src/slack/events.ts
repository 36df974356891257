import type { App } from '@slack/bolt';
import { type InputReference, invalidInput } from '../core/index.js';
import { messageBlend } from './blend.js';
import { describeFailure } from './describe.js';
import { fileName, otherFiles } from './files.js';
import { completeFiles, imageInputs, latestThreadImage, unreadableThreadText } from './inputs.js';
import { type MessageEvent, messageEventSchema } from './payloads.js';
import { plainText, readPrompt } from './prompt.js';
import { replyPrivately } from './replies.js';
import { type SlackRuntime, threadKey } from './runtime.js';
import { slackConnectRefusal } from './slack-connect.js';
import { startJob } from './start-job.js';

/**
 * Messages that ask for images without a command: a reply in a bot's result thread that mentions
 * the bot or carries image files (an edit of the thread's latest image), a message mentioning the bot
 * (an edit of its images, or a new image), and any message in a DM with the bot (like the
 * command). Other replies in a result thread are chatter ("thanks!", 👍) and cost nothing, unless
 * `NANO_BANANA_THREAD_REPLIES=any` makes every reply there an edit.
 */
type Route =
  /** A reply in a thread the bot works in: edits the latest image there. */
  | { readonly kind: 'follow_up'; readonly threadTs: string }
  /** A top-level message mentioning the bot: its result goes into that message's thread. */
  | { readonly kind: 'mention' }
  /** A top-level message in a DM with the bot: like the command. */
  | { readonly kind: 'direct' };

/** Subtypes that are someone writing; edits, deletions, joins and bots' posts are not. */
const WRITTEN_SUBTYPES = new Set([undefined, 'file_share', 'thread_broadcast']);

/** Slackbot (reminders, auto-responses) posts as this user, without a `bot_id`. */
const SLACKBOT_USER_ID = 'USLACKBOT';

export function registerEvents(app: App, runtime: SlackRuntime): void {
  // A message that mentions the bot arrives twice, as `app_mention` and as `message`: both go
  // the same way, and whichever comes first takes it.
  app.event('app_mention', async ({ event, context, body }) => {
    await onMessage(runtime, event, context.teamId, isExternallyShared(body));
  });
  app.event('message', async ({ event, context, body }) => {
    await onMessage(runtime, event, context.teamId, isExternallyShared(body));
  });
}

function isExternallyShared(envelope: unknown): boolean {
  return (envelope as { is_ext_shared_channel?: unknown }).is_ext_shared_channel === true;
}

async function onMessage(
  runtime: SlackRuntime,
  raw: unknown,
  teamId: string | undefined,
  externallyShared: boolean,
): Promise<void> {
  const parsed = messageEventSchema.safeParse(raw);
  if (!parsed.success) return;
  const message = parsed.data;
  const userId = message.user;
  if (userId === undefined || !isWritten(runtime, message)) return;
  const route = routeOf(runtime, message);
  if (route === undefined) return;
  if (!(await runtime.events.claim(dedupKey(message)))) return;
  try {
    const refusal = slackConnectRefusal(runtime, {
      hostTeamId: teamId,
      userTeamId: message.user_team,
      externallyShared,
    });
    if (refusal !== undefined) {
      const locale = await runtime.users.locale(userId);
      const threadTs = route.kind === 'follow_up' ? route.threadTs : undefined;
      await replyPrivately(
        runtime,
        { channel: message.channel, userId, threadTs },
        describeFailure(refusal, locale),
      );
      return;
    }
    await handle(runtime, message, userId, route, teamId);
  } catch (error) {
    runtime.logger.error({ err: error, channel: message.channel }, 'A Slack message failed');
  }
}

function isWritten(runtime: SlackRuntime, message: MessageEvent): boolean {
  return (
    message.bot_id === undefined &&
    message.user !== runtime.bot.userId &&
    message.user !== SLACKBOT_USER_ID &&
    WRITTEN_SUBTYPES.has(message.subtype)
  );
}

function routeOf(runtime: SlackRuntime, message: MessageEvent): Route | undefined {
  const { userId } = runtime.bot;
  const mentionsBot =
    message.type === 'app_mention' || new RegExp(`<@${userId}(?:\\|[^>]*)?>`).test(message.text);
  const isDirect =
    message.channel_type === 'im' ||
    (message.channel_type === undefined && message.channel.startsWith('D'));
  const threadTs = message.thread_ts;
  if (threadTs !== undefined && threadTs !== message.ts) {
    const botThread =
      message.parent_user_id === userId ||
      runtime.threads.has(threadKey(message.channel, threadTs));
    const asksInBotThread =
      botThread && (runtime.config.threadReplies === 'any' || carriesFiles(message));
    return asksInBotThread || mentionsBot || isDirect ? { kind: 'follow_up', threadTs } : undefined;
  }
  if (isDirect) return { kind: 'direct' };
  return mentionsBot ? { kind: 'mention' } : undefined;
}

/**
 * A reply with files in a result thread is an edit: images are what it edits with, and any other
 * file is refused at once, privately, with nothing sent (the user meant an edit, and hears why not).
 */
function carriesFiles(message: MessageEvent): boolean {
  return message.files.length > 0;
}

function dedupKey(message: MessageEvent): string {
  return `slack:${message.channel}:${message.ts}`;
}

async function handle(
  runtime: SlackRuntime,
  message: MessageEvent,
  userId: string,
  route: Route,
  teamId: string | undefined,
): Promise<void> {
  const { channel } = message;
  const locale = await runtime.users.locale(userId);
  const replyThread = route.kind === 'follow_up' ? route.threadTs : undefined;
  const privately = { channel, userId, threadTs: replyThread };

  const files = await completeFiles(runtime, message.files);
  const notImage = otherFiles(files)[0];
  if (notImage !== undefined) {
    const refusal = invalidInput('unsupported_image', 'A shared file is not an image', {
      name: fileName(notImage),
    });
    await replyPrivately(runtime, privately, describeFailure(refusal, locale));
    return;
  }
  const reading = await readPrompt(runtime, plainText(message.text, runtime.bot.userId), {
    userId,
    serverId: teamId,
    locale,
  });
  if (reading.kind === 'answer') {
    await replyPrivately(runtime, privately, reading.text);
    return;
  }

  let inputs: InputReference[] = imageInputs(files);
  let prompt = reading.prompt;
  if (reading.blend === true) {
    try {
      ({ inputs, prompt } = messageBlend(files, reading.prompt));
    } catch (error) {
      await replyPrivately(runtime, privately, describeFailure(error, locale));
      return;
    }
  } else if (route.kind === 'follow_up') {
    const latest = await latestThreadImage(
      runtime,
      channel,
      route.threadTs,
      message.ts,
      inputs.length,
    );
    if (latest.kind === 'unreadable') {
      // Without the thread's image this would quietly become another (paid) request.
      await replyPrivately(runtime, privately, unreadableThreadText(runtime, locale, latest));
      return;
    }
    if (latest.input !== undefined) inputs.unshift(latest.input);
  }
  await startJob(runtime, {
    fields: {
      dedupKey: dedupKey(message),
      requesterId: userId,
      serverId: teamId,
      channelId: channel,
      locale,
      action: inputs.length > 0 ? 'edit' : 'generate',
      prompt,
      options: reading.options,
      style: reading.style,
      inputs,
    },
    channel,
    // A mention's result goes into its thread; a DM works like the command, in a thread of its own.
    threadTs: route.kind === 'mention' ? message.ts : replyThread,
    prompts: reading.prompts,
  });
}
