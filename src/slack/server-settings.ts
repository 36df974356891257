import type { App, types } from '@slack/bolt';
import { z } from 'zod';
import {
  ASPECT_RATIOS,
  type AspectRatio,
  checkServerLimitCeiling,
  parsePromptFlags,
  RESOLUTIONS,
  type Resolution,
  resolveLocale,
  type ServerSettings,
  serverSettingsLines,
  translate,
} from '../core/index.js';
import { VIEW_IDS } from './blocks.js';
import { describeFailure, describeFailureText } from './describe.js';
import type { SlashCommand } from './payloads.js';
import { replyPrivately } from './replies.js';
import type { SlackRuntime } from './runtime.js';
import { slackText } from './texts.js';

/**
 * `/imagine --settings`: a workspace admin's (or owner's) form for the bot's settings in the
 * workspace (`team_id`): default model, ratio and resolution, the channels it answers in, a daily
 * image limit under the operator's, and the moderation log's channel. Anyone else is refused. The
 * form opens at once (a `trigger_id` lasts 3 s), prefilled; a submission is checked again (admin,
 * the operator's ceiling) and saved before it is acknowledged, with what was saved shown back.
 */

/** The form's blocks and actions; the values come back under these ids. */
const FIELDS = {
  model: 'nb_settings_model',
  ratio: 'nb_settings_ratio',
  resolution: 'nb_settings_resolution',
  channels: 'nb_settings_channels',
  limit: 'nb_settings_limit',
  audit: 'nb_settings_audit',
} as const;
/** The select option that leaves a default to the bot. */
const BOT_DEFAULT = 'default';
/** Slack's static selects hold 100 options. */
const MAX_OPTIONS = 100;
/** A modal's title holds 24 characters, a section 3,000. */
const MAX_SECTION = 2_900;

const metadataSchema = z.object({ teamId: z.string() });

const valueSchema = z.object({
  value: z.string().nullish(),
  selected_option: z.object({ value: z.string() }).nullish(),
  selected_conversations: z.array(z.string()).nullish(),
  selected_conversation: z.string().nullish(),
});

const submissionSchema = z.object({
  type: z.literal('view_submission'),
  user: z.object({ id: z.string() }),
  team: z.object({ id: z.string() }).nullish(),
  view: z.object({
    private_metadata: z.string().default(''),
    state: z.object({ values: z.record(z.string(), z.record(z.string(), valueSchema)) }),
  }),
});
type Submission = z.infer<typeof submissionSchema>;

/** Whether a command's text asks for the settings (`--settings`); a bad flag is not this. */
export function asksForSettings(runtime: SlackRuntime, text: string): boolean {
  try {
    return parsePromptFlags(text, runtime.config.catalog).settings === true;
  } catch {
    return false;
  }
}

/** Opens the settings form for a workspace admin; anyone else is told privately why not. */
export async function openServerSettings(
  runtime: SlackRuntime,
  command: SlashCommand,
): Promise<void> {
  const userId = command.user_id;
  const privately = { channel: command.channel_id, userId, responseUrl: command.response_url };
  const user = await runtime.users.lookup(userId);
  const { locale } = user;
  const teamId = command.team_id;
  if (teamId === undefined) {
    await replyPrivately(runtime, privately, slackText(locale, 'server_settings.no_workspace'));
    return;
  }
  if (!user.workspaceAdmin) {
    await replyPrivately(runtime, privately, slackText(locale, 'server_settings.refused'));
    return;
  }
  const settings = await runtime.settingsPort.server('slack', teamId);
  try {
    await runtime.quickClient.views.open({
      trigger_id: command.trigger_id,
      view: settingsModal(runtime, locale, teamId, settings),
    });
  } catch (error) {
    runtime.logger.warn({ err: error }, 'Could not open the settings form');
    await replyPrivately(runtime, privately, slackText(locale, 'modal.failed'));
  }
}

export function registerServerSettings(app: App, runtime: SlackRuntime): void {
  app.view(VIEW_IDS.serverSettings, async ({ ack, body }) => {
    const parsed = submissionSchema.safeParse(body);
    const metadata = parsed.success ? readMetadata(parsed.data.view.private_metadata) : undefined;
    if (!parsed.success || metadata === undefined) {
      await ack();
      return;
    }
    const submission = parsed.data;
    const user = await runtime.users.lookup(submission.user.id);
    const { locale } = user;
    // The form was opened by an admin; whoever submits it must be one still, of that workspace.
    const teamId = submission.team?.id ?? metadata.teamId;
    if (!user.workspaceAdmin || teamId !== metadata.teamId) {
      await ack({
        response_action: 'update',
        view: notice(locale, slackText(locale, 'server_settings.refused')),
      });
      return;
    }
    try {
      const current = await runtime.settingsPort.server('slack', teamId);
      const read = readForm(submission, current);
      if ('field' in read) {
        await ack({ response_action: 'errors', errors: { [read.field]: read.message(locale) } });
        return;
      }
      try {
        // A limit changed now: one stored before the operator lowered theirs applies as theirs
        // (the tighter wins), and must not block every other change.
        if (read.settings.dailyImages !== current.dailyImages) {
          checkServerLimitCeiling(runtime.config.quotas, read.settings.dailyImages);
        }
      } catch (error) {
        // A field's error shows as plain text: no mrkdwn escaping.
        await ack({
          response_action: 'errors',
          errors: { [FIELDS.limit]: describeFailureText(error, locale) },
        });
        return;
      }
      const saved = await runtime.settingsPort.saveServer('slack', teamId, read.settings);
      runtime.logger.info({ teamId, userId: submission.user.id }, 'Workspace settings changed');
      await ack({
        response_action: 'update',
        view: notice(
          locale,
          [translate(locale, 'settings.saved'), ...settingsLines(runtime, locale, saved)].join(
            '\n',
          ),
        ),
      });
    } catch (error) {
      runtime.logger.error({ err: error }, 'The settings form failed');
      await ack({
        response_action: 'update',
        view: notice(locale, describeFailure(error, locale)),
      });
    }
  });
}

function readMetadata(text: string): z.infer<typeof metadataSchema> | undefined {
  try {
    const parsed = metadataSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

type FormReading =
  | { readonly settings: ServerSettings }
  | { readonly field: string; readonly message: (locale: string) => string };

/** The settings the form says, over the current ones (Discord-only fields are kept as they are). */
function readForm(submission: Submission, current: ServerSettings): FormReading {
  const values = submission.view.state.values;
  const field = (block: string) => values[block]?.[block];
  const selected = (block: string) => {
    const value = field(block)?.selected_option?.value;
    return value === undefined || value === BOT_DEFAULT ? undefined : value;
  };
  const next: { -readonly [Key in keyof ServerSettings]: ServerSettings[Key] } = { ...current };
  const assign = <K extends keyof ServerSettings>(key: K, value: ServerSettings[K] | undefined) => {
    if (value === undefined) delete next[key];
    else next[key] = value;
  };
  assign('model', selected(FIELDS.model));
  assign('aspectRatio', selected(FIELDS.ratio) as AspectRatio | undefined);
  assign('resolution', selected(FIELDS.resolution) as Resolution | undefined);
  const channels = field(FIELDS.channels)?.selected_conversations ?? [];
  assign('channels', channels.length === 0 ? undefined : [...new Set(channels)]);
  const limitText = (field(FIELDS.limit)?.value ?? '').trim();
  if (limitText !== '' && !/^\d{1,7}$/.test(limitText)) {
    return {
      field: FIELDS.limit,
      message: (locale) => slackText(locale, 'server_settings.limit_invalid'),
    };
  }
  const limit = limitText === '' ? 0 : Number(limitText);
  assign('dailyImages', limit === 0 ? undefined : limit);
  assign('auditChannelId', field(FIELDS.audit)?.selected_conversation ?? undefined);
  return { settings: next };
}

function settingsLines(runtime: SlackRuntime, locale: string, settings: ServerSettings): string[] {
  return serverSettingsLines(resolveLocale(locale), settings, {
    operatorLimit: runtime.config.quotas.perServer,
    discordOnly: false,
  }).map((line) => `• ${line}`);
}

function plain(text: string): types.PlainTextElement {
  return { type: 'plain_text', text, emoji: true };
}

function notice(locale: string, text: string): types.ModalView {
  return {
    type: 'modal',
    title: plain(slackText(locale, 'server_settings.title')),
    close: plain(slackText(locale, 'modal.done')),
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: text.slice(0, MAX_SECTION) } }],
  };
}

/** The form, prefilled with the workspace's settings, and the settings as text above it. */
function settingsModal(
  runtime: SlackRuntime,
  locale: string,
  teamId: string,
  settings: ServerSettings,
): types.ModalView {
  const text = (key: Parameters<typeof slackText>[1]) => slackText(locale, key);
  const option = (label: string, value: string): types.PlainTextOption => ({
    text: plain(label.slice(0, 75)),
    value,
  });
  const select = (
    block: string,
    label: string,
    choices: readonly { label: string; value: string }[],
    initial: string | undefined,
  ): types.InputBlock => {
    const options = [
      option(text('server_settings.default_option'), BOT_DEFAULT),
      ...choices.slice(0, MAX_OPTIONS - 1).map((choice) => option(choice.label, choice.value)),
    ];
    const chosen = options.find((candidate) => candidate.value === (initial ?? BOT_DEFAULT));
    return {
      type: 'input',
      block_id: block,
      optional: true,
      label: plain(label),
      element: {
        type: 'static_select',
        action_id: block,
        options,
        ...(chosen === undefined ? {} : { initial_option: chosen }),
      },
    };
  };
  const blocks: types.KnownBlock[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: [text('server_settings.intro'), ...settingsLines(runtime, locale, settings)]
          .join('\n')
          .slice(0, MAX_SECTION),
      },
    },
    select(
      FIELDS.model,
      text('server_settings.model'),
      runtime.config.catalog.models.map((model) => ({ label: model.label, value: model.id })),
      settings.model,
    ),
    select(
      FIELDS.ratio,
      text('server_settings.ratio'),
      ASPECT_RATIOS.map((ratio) => ({ label: ratio, value: ratio })),
      settings.aspectRatio,
    ),
    select(
      FIELDS.resolution,
      text('server_settings.resolution'),
      RESOLUTIONS.map((resolution) => ({ label: resolution, value: resolution })),
      settings.resolution,
    ),
    {
      type: 'input',
      block_id: FIELDS.channels,
      optional: true,
      label: plain(text('server_settings.channels')),
      element: {
        type: 'multi_conversations_select',
        action_id: FIELDS.channels,
        filter: { include: ['public', 'private'], exclude_bot_users: true },
        ...(settings.channels === undefined
          ? {}
          : { initial_conversations: [...settings.channels] }),
      },
    },
    {
      type: 'input',
      block_id: FIELDS.limit,
      optional: true,
      label: plain(text('server_settings.limit')),
      element: {
        type: 'number_input',
        action_id: FIELDS.limit,
        is_decimal_allowed: false,
        min_value: '0',
        ...(settings.dailyImages === undefined
          ? {}
          : { initial_value: String(settings.dailyImages) }),
      },
    },
    {
      type: 'input',
      block_id: FIELDS.audit,
      optional: true,
      label: plain(text('server_settings.audit')),
      element: {
        type: 'conversations_select',
        action_id: FIELDS.audit,
        filter: { include: ['public', 'private'], exclude_bot_users: true },
        ...(settings.auditChannelId === undefined
          ? {}
          : { initial_conversation: settings.auditChannelId }),
      },
    },
  ];
  return {
    type: 'modal',
    callback_id: VIEW_IDS.serverSettings,
    private_metadata: JSON.stringify({ teamId }),
    title: plain(text('server_settings.title')),
    submit: plain(text('server_settings.submit')),
    close: plain(text('modal.close')),
    blocks,
  };
}
