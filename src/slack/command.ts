import type { App } from '@slack/bolt';
import { commandBlendText } from './blend.js';
import { commandSchema, type SlashCommand } from './payloads.js';
import { readPrompt } from './prompt.js';
import { replyPrivately } from './replies.js';
import type { SlackRuntime } from './runtime.js';
import { asksForSettings, openServerSettings } from './server-settings.js';
import { startJob } from './start-job.js';

/**
 * `/imagine a white cat --ar 16:9`: acknowledged at once (Slack allows 3 s), then answered
 * privately (help, usage, a refusal) or posted as a status message whose thread gets the images.
 */
export function registerCommand(app: App, runtime: SlackRuntime): void {
  app.command(runtime.settings.command, async ({ ack, body }) => {
    // An empty ack promises nothing and shows nothing; every answer follows it.
    await ack();
    const parsed = commandSchema.safeParse(body);
    if (!parsed.success) {
      runtime.logger.warn('A slash command came without the fields it needs');
      return;
    }
    try {
      await handleCommand(runtime, parsed.data);
    } catch (error) {
      runtime.logger.error({ err: error }, 'A slash command failed');
    }
  });
}

async function handleCommand(runtime: SlackRuntime, command: SlashCommand): Promise<void> {
  // Before anything else: the form's trigger lasts 3 s.
  if (asksForSettings(runtime, command.text)) return openServerSettings(runtime, command);
  const userId = command.user_id;
  const channel = command.channel_id;
  const locale = await runtime.users.locale(userId);
  const reading = await readPrompt(runtime, command.text, {
    userId,
    serverId: command.team_id,
    locale,
  });
  if (reading.kind === 'answer' || reading.blend === true) {
    await replyPrivately(
      runtime,
      { channel, userId, responseUrl: command.response_url },
      reading.kind === 'answer' ? reading.text : commandBlendText(locale),
    );
    return;
  }
  await startJob(runtime, {
    fields: {
      dedupKey: `slack:cmd:${command.trigger_id}`,
      requesterId: userId,
      serverId: command.team_id,
      channelId: channel,
      locale,
      action: 'generate',
      prompt: reading.prompt,
      options: reading.options,
      style: reading.style,
      inputs: [],
    },
    channel,
    responseUrl: command.response_url,
    prompts: reading.prompts,
  });
}
