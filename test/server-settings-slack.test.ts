import { afterEach, describe, expect, it } from 'vitest';
import { slackText } from '../src/slack/texts.js';
import type { FakeSlackView } from './fakes/slack/index.js';
import { type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

/**
 * Issue 13, workspace settings on Slack, end to end through the real Bolt against the fake Slack:
 * `/imagine --settings` opens a form for workspace admins and owners only; what they save is shown
 * back, kept across a restart, checked against the operator's ceiling, and enforced (channels,
 * the workspace's daily limit).
 */

const ADMIN = 'U0ADMIN001';
const OWNER = 'U0OWNER001';
const MEMBER = 'U0MEMBER01';
const GENERAL = 'C0GENERAL1';
const ART = 'C0ART00001';
const MOD_LOG = 'C0MODLOG01';
const OPERATOR_LIMIT = 5;
const FORM = 'nb_server_settings';

let harness: SlackHarness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(): Promise<SlackHarness> {
  harness = await startSlackHarness({
    mode: 'socket',
    env: { NANO_BANANA_DAILY_IMAGES_PER_SERVER: String(OPERATOR_LIMIT) },
    fake: {
      users: [
        { id: ADMIN, name: 'admin', locale: 'en-US', isAdmin: true },
        { id: OWNER, name: 'owner', locale: 'fr-FR', isOwner: true },
        { id: MEMBER, name: 'member', locale: 'en-US' },
      ],
      channels: [
        { id: GENERAL, name: 'general' },
        { id: ART, name: 'art' },
        { id: MOD_LOG, name: 'mod-log' },
      ],
    },
  });
  return harness;
}

function viewText(view: unknown): string {
  return JSON.stringify(view);
}

/** `/imagine <text>` as `userId` in `channel`. */
async function command(
  running: SlackHarness,
  text: string,
  userId: string,
  channel = GENERAL,
): Promise<void> {
  await running.fake.deliverSlashCommand({ command: '/imagine', text, userId, channelId: channel });
}

/** Opens the form as `userId` and returns it (the newest settings form). */
async function openForm(running: SlackHarness, userId: string): Promise<FakeSlackView> {
  const before = running.fake.views().filter((view) => view.callback_id === FORM).length;
  await command(running, '--settings', userId);
  return running.fake.waitFor(() => {
    const forms = running.fake.views().filter((view) => view.callback_id === FORM);
    return forms.length > before ? forms.at(-1) : undefined;
  });
}

/** What the form's fields hold when submitted, as Slack sends them. */
function values(fields: {
  model?: string;
  ratio?: string;
  channels?: string[];
  limit?: string;
  audit?: string;
}): Record<string, Record<string, unknown>> {
  const select = (value: string | undefined) =>
    value === undefined ? { selected_option: null } : { selected_option: { value } };
  return {
    nb_settings_model: { nb_settings_model: { type: 'static_select', ...select(fields.model) } },
    nb_settings_ratio: { nb_settings_ratio: { type: 'static_select', ...select(fields.ratio) } },
    nb_settings_resolution: {
      nb_settings_resolution: { type: 'static_select', selected_option: null },
    },
    nb_settings_channels: {
      nb_settings_channels: {
        type: 'multi_conversations_select',
        selected_conversations: fields.channels ?? [],
      },
    },
    nb_settings_limit: { nb_settings_limit: { type: 'number_input', value: fields.limit ?? null } },
    nb_settings_audit: {
      nb_settings_audit: {
        type: 'conversations_select',
        selected_conversation: fields.audit ?? null,
      },
    },
  };
}

async function submit(
  running: SlackHarness,
  userId: string,
  view: FakeSlackView,
  fields: Parameters<typeof values>[0],
): Promise<{ response_action?: string; view?: unknown; errors?: Record<string, string> }> {
  const delivery = await running.fake.deliverInteraction(
    running.fake.viewSubmissionPayload({ userId, view, values: values(fields) }),
  );
  expect(delivery.status).toBe(200);
  return (delivery.body ?? {}) as {
    response_action?: string;
    view?: unknown;
    errors?: Record<string, string>;
  };
}

/** The private answers (response_url posts) a user got whose text includes `part`. */
function answerTo(running: SlackHarness, userId: string, part: string) {
  return running.fake.waitFor(() =>
    running.fake.responses.find(
      (response) =>
        response.user === userId &&
        String((response.body as { text?: string }).text).includes(part),
    ),
  );
}

const createsWith = (running: SlackHarness, text: string) =>
  running.api
    .creates()
    .filter((call) => String((call.body as { prompt?: string }).prompt).includes(text));

describe('Slack /imagine --settings', () => {
  it('refuses a member who is not a workspace admin, and opens no form', async () => {
    const running = await start();
    await command(running, '--settings', MEMBER);
    await answerTo(running, MEMBER, slackText('en', 'server_settings.refused'));
    expect(running.fake.views().filter((view) => view.callback_id === FORM)).toEqual([]);
    expect(running.fake.callsTo('views.open')).toEqual([]);
  });

  it('lets an admin save the settings, shows them back, and keeps them across a restart', async () => {
    const running = await start();
    const form = await openForm(running, ADMIN);
    expect(viewText(form)).toContain('Channels I answer in: all');
    const ack = await submit(running, ADMIN, form, {
      model: 'nano-banana-pro',
      ratio: '16:9',
      channels: [ART],
      limit: '2',
      audit: MOD_LOG,
    });
    expect(ack.response_action).toBe('update');
    const shown = viewText(ack.view);
    for (const line of [
      'Saved.',
      'Default model: nano-banana-pro',
      'Default aspect ratio: 16:9',
      'Default resolution: the bot’s default',
      `Channels I answer in: <#${ART}>`,
      `Daily image limit: 2 images (the bot allows at most ${OPERATOR_LIMIT})`,
      `Moderation log: <#${MOD_LOG}>`,
    ]) {
      expect(shown).toContain(line);
    }
    // Slack has no private results nor threads to switch: those are Discord's.
    expect(shown).not.toContain('Results private by default');

    await running.restart();
    // The owner (French) sees the saved settings in the form, prefilled.
    const again = await openForm(running, OWNER);
    const text = viewText(again);
    expect(text).toContain(`Salons où je réponds\u202F: <#${ART}>`);
    expect(text).toContain(`"initial_conversations":["${ART}"]`);
    expect(text).toContain('"initial_value":"2"');
    expect(text).toContain(`"initial_conversation":"${MOD_LOG}"`);
  });

  it('refuses a limit above the operator’s in the form, and saves nothing', async () => {
    const running = await start();
    const form = await openForm(running, ADMIN);
    const ack = await submit(running, ADMIN, form, { limit: String(OPERATOR_LIMIT + 1) });
    expect(ack).toEqual({
      response_action: 'errors',
      errors: {
        nb_settings_limit: `The daily limit can be at most ${OPERATOR_LIMIT} images: the bot’s operator set that ceiling.`,
      },
    });
    expect(viewText(await openForm(running, ADMIN))).toContain(
      `Daily image limit: the bot’s, ${OPERATOR_LIMIT} images`,
    );

    // A limit stored before the operator lowered theirs blocks no other change (theirs applies).
    await running.service.engine.settings.saveServer('slack', 'T0FAKETEAM', { dailyImages: 50 });
    const stale = await openForm(running, ADMIN);
    const saved = await submit(running, ADMIN, stale, { ratio: '4:3', limit: '50' });
    expect(saved.response_action).toBe('update');
    expect(viewText(saved.view)).toContain('Default aspect ratio: 4:3');
  });

  it('refuses a form submitted by a member who is not an admin', async () => {
    const running = await start();
    const form = await openForm(running, ADMIN);
    const ack = await submit(running, MEMBER, form, { channels: [ART] });
    expect(ack.response_action).toBe('update');
    expect(viewText(ack.view)).toContain(slackText('en', 'server_settings.refused'));
    await command(running, 'a member’s fox', MEMBER, GENERAL);
    await running.waitForJob((job) => job.prompt === 'a member’s fox');
  });

  it('enforces the workspace’s channels and daily limit', async () => {
    const running = await start();
    const form = await openForm(running, ADMIN);
    await submit(running, ADMIN, form, { channels: [ART], limit: '1' });

    await command(running, 'a fox in general', MEMBER, GENERAL);
    await answerTo(running, MEMBER, `I only answer in <#${ART}> on this server.`);
    expect(createsWith(running, 'a fox in general')).toEqual([]);

    await command(running, 'a fox in art', MEMBER, ART);
    await running.waitForJob((job) => job.prompt === 'a fox in art');
    await command(running, 'a second fox', ADMIN, ART);
    await answerTo(running, ADMIN, 'This server has reached its daily limit of 1 images');
    expect(createsWith(running, 'a second fox')).toEqual([]);
  });

  it('lists the settings command in --help, and points a mention’s --settings to the command', async () => {
    const running = await start();
    await command(running, '--help', MEMBER);
    await answerTo(running, MEMBER, '/imagine --settings');

    const { fake } = running;
    const mention = fake.userMessage({
      channel: GENERAL,
      user: ADMIN,
      text: `<@${fake.botUserId}> --settings`,
    });
    await fake.deliverEvent(fake.appMentionEvent(GENERAL, mention));
    const pointer = slackText('en', 'server_settings.command_only', { command: '/imagine' });
    await fake.waitFor(() =>
      fake
        .messages(GENERAL)
        .find((message) => message.ephemeralTo === ADMIN && message.text === pointer),
    );
    expect(fake.callsTo('views.open')).toEqual([]);
    expect(running.api.creates()).toEqual([]);
  });
});
