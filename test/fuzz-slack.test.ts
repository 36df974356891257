import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import { type SlackTextKey, slackText } from '../src/slack/texts.js';
import {
  type FakeSlack,
  type FakeSlackMessage,
  type FakeSlackView,
  formEncode,
  RESPONSE_URL_LIFETIME_MS,
  type SignedRequest,
  type SlashCommandPayload,
} from './fakes/slack/index.js';
import { eventually } from './helpers/eventually.js';
import { seededRandom } from './helpers/seeded-random.js';
import { type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

/**
 * Hostile and random input through the real Bolt app over HTTP (signed requests on the service's
 * server): never a crash, always an answer (an ack and a private or thread message; for payloads
 * too broken to answer, 400 or 404, never a 500), no error-level log line (hostile input is the
 * sender's fault), nothing sent to the API for invalid input, no one deletes someone else's
 * result, stale buttons (a deleted result's, a pruned job's) answer what happened, and a replayed
 * request runs once.
 */

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const GENERAL = 'C0GENERAL1';
const ALICE_DM = 'D0ALICE001';

let harness: SlackHarness;
let fake: FakeSlack;

beforeAll(async () => {
  harness = await startSlackHarness({
    mode: 'http',
    apiDelayMs: 20,
    // One user sends every random request at once: the per-user cap is not what is tested here.
    env: { NANO_BANANA_MAX_QUEUED_PER_USER: '1000' },
    fake: {
      users: [
        { id: ALICE, name: 'alice', locale: 'en-US' },
        { id: BOB, name: 'bob', locale: 'en-US' },
      ],
      channels: [
        { id: GENERAL, name: 'general' },
        { id: ALICE_DM, isIm: true, user: ALICE },
      ],
    },
  });
  fake = harness.fake;
});
afterAll(async () => {
  await harness?.close();
});
// Hostile input is the sender's fault, never the bot's: nothing in these tests is an error.
let errorsBefore = 0;
beforeEach(() => {
  errorsBefore = harness.errorLogs().length;
});
afterEach(() => {
  expect(harness.errorLogs().slice(errorsBefore)).toEqual([]);
});

const PIECES = [
  '--ar',
  '--ar=',
  '—ar',
  '--model',
  '--res',
  '--count',
  '--n',
  '--help',
  '--usage',
  '--',
  '—',
  '-',
  '16:9',
  '5:4',
  '4K',
  '0',
  '99',
  '-1',
  'pro',
  'dall-e',
  '\u200B',
  '\u200D',
  '\u2060',
  '\uFEFF',
  '\u202E',
  '\u0000',
  '\u0007',
  '\u001B[31m',
  '\r\n',
  '\t',
  '<@U0BOB00001>',
  '<!channel>',
  '<#C0GENERAL1>',
  '<https://example.com|x>',
  '&amp;',
  '`',
  '*',
  '🍌',
  'é',
  'ﬁ',
  '\uFFFF',
  '\uD800',
  'http://x--y',
  'mock:fail',
  ' ',
];

function hostilePrompt(next: () => number): string {
  const parts: string[] = [];
  const length = Math.floor(next() * 12);
  for (let index = 0; index < length; index++) {
    parts.push(
      next() < 0.6
        ? (PIECES[Math.floor(next() * PIECES.length)] ?? '')
        : String.fromCharCode(Math.floor(next() * 0x3000)),
    );
  }
  return parts.join(next() < 0.5 ? ' ' : '');
}

const eventsUrl = () => `${harness.service.http.url}/slack/events`;

/** Sends a signed request as it is (a replay sends the same one again); resolves with the status. */
async function send(request: SignedRequest): Promise<{ status: number; body: string }> {
  const response = await fetch(eventsUrl(), {
    method: 'POST',
    headers: request.headers,
    body: request.body,
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, body: await response.text() };
}

/** What Slack posts for `/imagine <text>`, signed, with the payload to find its answers by. */
function signedCommand(text: string, userId = ALICE, channelId = GENERAL) {
  const payload = fake.slashCommandPayload({ command: '/imagine', text, userId, channelId });
  return { payload, request: fake.signedRequest(formEncode(payload)) };
}

function signedInteraction(payload: object): SignedRequest {
  return fake.signedRequest(fake.interactionBody(payload));
}

function responseId(responseUrl: unknown): string {
  return String(responseUrl).split('/').at(-1) ?? '';
}

/** The texts answered privately through a response URL (and taken: a refused post is none). */
function privateAnswers(responseUrl: unknown): string[] {
  const id = responseId(responseUrl);
  return fake.responses
    .filter((response) => response.id === id && response.status === 200)
    .map((response) => {
      expect(response.body).toMatchObject({ response_type: 'ephemeral' });
      return String((response.body as { text?: unknown }).text);
    });
}

function jobOfCommand(payload: SlashCommandPayload): Job | undefined {
  return harness.finished.find((job) => job.dedupKey === `slack:cmd:${payload.trigger_id}`);
}

interface SlackDestination {
  readonly channel: string;
  readonly threadTs: string;
  readonly statusTs: string;
}

/** The bot's answer in a job's thread: its images, or its requester's failure notice. */
function threadAnswer(job: Job): FakeSlackMessage | undefined {
  const { channel, threadTs } = job.destination as SlackDestination;
  return fake
    .thread(channel, threadTs)
    .find(
      (message) =>
        message.user === fake.botUserId &&
        message.text.startsWith(`<@${job.requesterId}>`) &&
        message.ts !== threadTs,
    );
}

function expectSane(text: string): void {
  expect(text.trim()).not.toBe('');
  expect(text).not.toMatch(/\[object Object\]|undefined|Error:|\n\s+at /);
}

/** A press of one of the bot's buttons, from the message that carries them, signed. */
function press(
  buttons: FakeSlackMessage,
  userId: string,
  actionId: string,
  value: string,
  where = GENERAL,
) {
  const payload = fake.blockActionsPayload({
    userId,
    channel: where,
    message: buttons,
    actionId,
    value,
  });
  return { payload, request: signedInteraction(payload) };
}

/** Waits for the one private answer to a press, and checks it is the text `key` names. */
async function expectPrivately(payload: Record<string, unknown>, key: SlackTextKey) {
  const texts = await fake.waitFor(() => {
    const found = privateAnswers(payload.response_url);
    return found.length > 0 ? found : undefined;
  });
  expect(texts).toEqual([slackText('en', key)]);
}

/** The thread message with a job's buttons. */
function buttonsOf(job: Job): FakeSlackMessage {
  const { channel, threadTs } = job.destination as SlackDestination;
  const buttons = fake
    .thread(channel, threadTs)
    .find((message) => JSON.stringify(message.blocks ?? []).includes(job.id));
  if (buttons === undefined) throw new Error(`no result buttons for ${job.id}`);
  return buttons;
}

const creates = () => harness.api.creates().length;
const createsFor = (prompt: string) =>
  harness.api.creates().filter((call) => (call.body as { prompt?: string }).prompt === prompt);

/** Runs `/imagine <prompt>` for Alice and waits for the job to end. */
async function generate(prompt: string, userId = ALICE): Promise<Job> {
  const { payload, request } = signedCommand(prompt, userId);
  expect((await send(request)).status).toBe(200);
  return fake.waitFor(() => jobOfCommand(payload), { timeoutMs: 15_000 });
}

describe('hostile input through Slack', () => {
  it('answers every random command, and sends nothing to the API for the invalid ones', async () => {
    const next = seededRandom(20261124);
    const before = creates();
    const commands = [];
    for (let index = 0; index < 40; index++) commands.push(signedCommand(hostilePrompt(next)));
    // A few that no random draw makes: huge, only invisible characters, only controls.
    for (const text of [
      'x'.repeat(100_000),
      `${'🍌'.repeat(3000)} --ar 16:9`,
      '\u200B\u200D\u2060\uFEFF',
      '\u0000\u0001\u0002\u001F\u007F',
      '--ar 16:9 --count 2 --model',
    ]) {
      commands.push(signedCommand(text));
    }
    const acks = await Promise.all(commands.map(({ request }) => send(request)));
    for (const ack of acks) expect(ack).toEqual({ status: 200, body: '' });

    let accepted = 0;
    let refused = 0;
    for (const { payload } of commands) {
      const answer = await fake.waitFor(
        () => {
          const texts = privateAnswers(payload.response_url);
          if (texts.length > 0) return { kind: 'private' as const, texts };
          const job = jobOfCommand(payload);
          if (job === undefined) return undefined;
          const notice = threadAnswer(job);
          return notice === undefined ? undefined : { kind: 'job' as const, job, notice };
        },
        { timeoutMs: 15_000 },
      );
      if (answer.kind === 'private') {
        refused += 1;
        expect(answer.texts, JSON.stringify(payload.text)).toHaveLength(1);
        expectSane(answer.texts[0] ?? '');
        expect(jobOfCommand(payload)).toBeUndefined();
      } else {
        accepted += 1;
        expectSane(answer.notice.text);
        expect(['done', 'failed']).toContain(answer.job.state);
      }
    }
    // The seed gives both kinds, and only the accepted ones reached the API, once each.
    expect(accepted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    expect(creates() - before).toBe(accepted);
    // What users typed is quoted, never read as markup: no one pings the channel through the bot.
    for (const message of fake.messages(GENERAL)) {
      if (message.user !== fake.botUserId || message.ephemeralTo !== undefined) continue;
      expect(JSON.stringify([message.text, message.blocks ?? []])).not.toMatch(
        /<!channel>|<#C0GENERAL1>|<@U0BOB00001>|<https:/,
      );
    }
    // The huge prompt was refused for its length, in so many words.
    const huge = privateAnswers(commands[40]?.payload.response_url);
    expect(huge).toEqual(['Your prompt is too long: 100,000 characters, the limit is 4,000.']);
  });

  it('answers payloads with wrong types and missing fields, or at least does not fall over', async () => {
    const before = creates();
    const command = (fields: Record<string, string>) =>
      fake.signedRequest(formEncode({ command: '/imagine', ...fields }));
    const interaction = (payload: unknown) =>
      fake.signedRequest(formEncode({ payload: JSON.stringify(payload) }));
    const json = (body: string): SignedRequest => {
      const signed = fake.signedRequest(body);
      return { ...signed, headers: { ...signed.headers, 'content-type': 'application/json' } };
    };
    const event = (inner: unknown) =>
      fake.signedRequest(JSON.stringify(fake.eventCallback(inner as object)));
    const base = fake.slashCommandPayload({
      command: '/imagine',
      text: 'a cat',
      userId: ALICE,
      channelId: GENERAL,
    });
    const { user_id: _user, ...withoutUser } = base;
    const { response_url: _url, trigger_id: _trigger, ...withoutUrls } = base;
    // Each with the status it gets: Bolt's own answers for what it cannot route (404 once its
    // 3-second wait for an ack is over, 400 for a body it cannot parse), the adapter's 400 for a
    // body Bolt's routing would throw on (a 500 and an error log, were it let through), and an
    // ack for the rest. Never a 500: nothing here is the bot's fault.
    const interactionWith = (fields: Record<string, unknown>) =>
      interaction({ user: { id: BOB }, team: { id: fake.teamId }, ...fields });
    const cases: { name: string; request: SignedRequest; status: number }[] = [
      { name: 'empty body', request: fake.signedRequest(''), status: 404 },
      { name: 'not a form', request: fake.signedRequest('%%%&&&==='), status: 404 },
      { name: 'broken JSON', request: fake.signedRequest('{"type":'), status: 400 },
      { name: 'JSON null', request: json('null'), status: 400 },
      { name: 'JSON array', request: json('[1,2,3]'), status: 404 },
      { name: 'JSON string', request: json('"event_callback"'), status: 404 },
      { name: 'payload null', request: interaction(null), status: 400 },
      { name: 'payload number', request: interaction(42), status: 404 },
      { name: 'payload not JSON', request: fake.signedRequest('payload=%7Bnope'), status: 400 },
      { name: 'command without user', request: command(withoutUser), status: 200 },
      { name: 'command without URLs', request: command(withoutUrls), status: 200 },
      { name: 'another command', request: command({ ...base, command: '/other' }), status: 404 },
      {
        name: 'command text twice',
        request: fake.signedRequest(`${formEncode(base)}&text=again`),
        status: 200,
      },
      {
        name: 'block_actions without actions',
        request: interaction({ type: 'block_actions', user: { id: BOB } }),
        status: 404,
      },
      {
        name: 'block_actions with actions as an object',
        request: interaction({ type: 'block_actions', user: { id: BOB }, actions: {} }),
        status: 400,
      },
      {
        name: 'block_actions with a null action',
        request: interactionWith({ type: 'block_actions', actions: [null] }),
        status: 400,
      },
      {
        name: 'block_actions with a number for an action',
        request: interactionWith({ type: 'block_actions', actions: [7, 'nb_delete'] }),
        status: 400,
      },
      {
        name: 'block_actions with a null channel',
        request: interactionWith({
          type: 'block_actions',
          channel: null,
          actions: [{ action_id: 'nb_delete', value: 'x', action_ts: '1.2' }],
        }),
        status: 400,
      },
      {
        name: 'shortcut without user or team',
        request: interaction({ type: 'shortcut', callback_id: 'edit_image' }),
        status: 400,
      },
      {
        name: 'block_suggestion with a null channel',
        request: interactionWith({ type: 'block_suggestion', channel: null, value: 'x' }),
        status: 400,
      },
      {
        name: 'view_submission with a null view',
        request: interactionWith({ type: 'view_submission', view: null }),
        status: 400,
      },
      {
        name: 'view_closed with a string view',
        request: interactionWith({ type: 'view_closed', view: 'V0' }),
        status: 400,
      },
      {
        name: 'block_actions with wrong types',
        request: interaction({
          type: 'block_actions',
          user: 'U0BOB00001',
          container: 5,
          actions: [{ action_id: 'nb_delete', value: 42, action_ts: null }],
        }),
        // No team, and a user without one: Bolt would throw looking for the workspace.
        status: 400,
      },
      {
        name: 'view_submission without a view',
        request: interaction({ type: 'view_submission', user: { id: BOB } }),
        status: 400,
      },
      {
        name: 'shortcut without a message',
        request: interaction({ type: 'message_action', callback_id: 'edit_image', user: {} }),
        status: 200,
      },
      {
        name: 'event without an event',
        request: fake.signedRequest(JSON.stringify({ type: 'event_callback' })),
        status: 404,
      },
      {
        name: 'event null',
        request: fake.signedRequest(JSON.stringify({ ...fake.eventCallback({}), event: null })),
        status: 400,
      },
      {
        name: 'event a number',
        request: fake.signedRequest(JSON.stringify({ ...fake.eventCallback({}), event: 5 })),
        status: 400,
      },
      {
        name: 'reaction event with a string item',
        request: event({ type: 'reaction_added', user: BOB, item: 'C0GENERAL1' }),
        status: 400,
      },
      {
        name: 'event with a null channel',
        request: event({ type: 'message', channel: null, user: BOB, text: 'x', ts: '1.2' }),
        status: 400,
      },
      {
        name: 'message event with wrong types',
        // A channel that is neither an id nor an object: Bolt's `in` on it would throw.
        request: event({ type: 'message', channel: 5, user: { id: BOB }, text: 7, ts: null }),
        status: 400,
      },
      {
        name: 'message event with wrong types and a channel object',
        request: event({
          type: 'message',
          channel: { id: GENERAL },
          user: { id: BOB },
          text: 7,
          ts: null,
        }),
        status: 200,
      },
      {
        name: 'DM without text or ts',
        request: event({ type: 'message', channel: ALICE_DM, channel_type: 'im', user: ALICE }),
        status: 200,
      },
      {
        name: 'mention with files as a string',
        request: event({
          type: 'app_mention',
          channel: GENERAL,
          user: BOB,
          text: `<@${fake.botUserId}> a cat`,
          ts: '1700000000.000100',
          files: 'cat.png',
        }),
        status: 200,
      },
    ];
    const botMessages = () =>
      fake.messages(GENERAL).filter((message) => message.user === fake.botUserId).length;
    const botMessagesBefore = botMessages();
    // Concurrently: Bolt keeps an unrouted request for 3 seconds before it answers.
    const answers = await Promise.all(cases.map(({ request }) => send(request)));
    expect(cases.map(({ name }, index) => `${name}: ${answers[index]?.status}`)).toEqual(
      cases.map(({ name, status }) => `${name}: ${status}`),
    );
    expect(creates()).toBe(before);
    // Nothing got far enough to post: every one of these was refused or dropped at the edge.
    expect(botMessages()).toBe(botMessagesBefore);
    // Still up, and still working.
    expect((await fetch(`${harness.service.http.url}/healthz`)).status).toBe(200);
    const job = await generate('after the broken payloads');
    expect(job.state).toBe('done');
  });

  it('answers 200, 400 or 404 to Slack payloads with random fields of the wrong type', async () => {
    const next = seededRandom(20261206);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
    const WRONG = [null, 0, -1, '', 'x', true, [], {}, [null], [7], { id: null }] as const;
    const message = fake.userMessage({ channel: GENERAL, user: BOB, text: 'a random target' });
    const view: FakeSlackView = {
      id: 'V0RANDOM01',
      team_id: fake.teamId,
      app_id: fake.appId,
      bot_id: fake.botId,
      type: 'modal',
      callback_id: 'nb_edit_result',
      external_id: '',
      private_metadata: '{}',
      blocks: [],
      state: { values: {} },
      hash: 'random',
      root_view_id: 'V0RANDOM01',
      previous_view_id: null,
      clear_on_close: false,
      notify_on_close: false,
      userId: BOB,
    };
    const bases = (): Record<string, unknown>[] => [
      fake.blockActionsPayload({
        userId: BOB,
        channel: GENERAL,
        message,
        actionId: pick(['nb_delete', 'nb_reroll', 'nb_edit', 'nb_cancel']),
        value: 'no-such-job',
      }),
      fake.viewSubmissionPayload({ userId: BOB, view }),
      fake.messageShortcutPayload({
        userId: BOB,
        channel: GENERAL,
        message,
        callbackId: 'edit_image',
      }),
      fake.eventCallback(fake.appMentionEvent(GENERAL, message)),
      fake.eventCallback(fake.messageEvent(GENERAL, message)),
    ];
    /** Sets one field, at the top or one level down, to a value of another type. */
    const mutate = (payload: Record<string, unknown>): string => {
      const key = pick(Object.keys(payload));
      const inner = payload[key];
      const value = pick(WRONG);
      if (typeof inner === 'object' && inner !== null && next() < 0.6) {
        const target = Array.isArray(inner) ? (inner[0] ?? {}) : inner;
        if (typeof target === 'object' && target !== null) {
          const innerKey = pick(Object.keys(target as object).concat('id'));
          (target as Record<string, unknown>)[innerKey] = value;
          return `${key}.${innerKey} = ${JSON.stringify(value)}`;
        }
      }
      payload[key] = value;
      return `${key} = ${JSON.stringify(value)}`;
    };
    const sent: { what: string; request: SignedRequest }[] = [];
    for (let index = 0; index < 100; index++) {
      const payload = pick(bases());
      const what = [mutate(payload), mutate(payload)].join(', ');
      const body =
        payload.type === 'event_callback' ? JSON.stringify(payload) : fake.interactionBody(payload);
      sent.push({ what: `${String(payload.type)}: ${what}`, request: fake.signedRequest(body) });
    }
    const answers = await Promise.all(sent.map(({ request }) => send(request)));
    const unexpected = sent
      .map(({ what }, index) => `${answers[index]?.status} ${what}`)
      .filter((line) => !/^(200|400|404) /.test(line));
    expect(unexpected).toEqual([]);
    expect((await fetch(`${harness.service.http.url}/healthz`)).status).toBe(200);
  });

  it('ignores forged button values, and no one deletes another user’s result', async () => {
    const original = await generate('a target for forged clicks');
    expect(original.state).toBe('done');
    const { statusTs } = original.destination as SlackDestination;
    const buttons = buttonsOf(original);
    const resultFiles = () =>
      fake
        .files()
        .filter((file) => file.user === fake.botUserId && file.name.includes(original.id));
    expect(resultFiles()).toHaveLength(1);
    const before = creates();

    const visibleBotMessages = () =>
      [...fake.messages(GENERAL), ...fake.messages(ALICE_DM)].filter(
        (message) => message.user === fake.botUserId && message.ephemeralTo === undefined,
      ).length;
    const visibleBefore = visibleBotMessages();

    // Bob presses Delete (and Cancel) on Alice's result, from its thread and from elsewhere.
    const intrusions = [
      press(buttons, BOB, 'nb_delete', original.id),
      press(buttons, BOB, 'nb_delete', original.id),
      press(buttons, BOB, 'nb_delete', original.id, ALICE_DM),
      press(buttons, BOB, 'nb_cancel', original.id),
    ];
    for (const { request } of intrusions) expect((await send(request)).status).toBe(200);
    // Each told privately, to Bob alone (`privateAnswers` checks `ephemeral`), that only the
    // person who asked may: nothing anyone else can see.
    for (const { payload } of intrusions.slice(0, 3)) {
      await expectPrivately(payload, 'delete.not_allowed');
    }
    expect(slackText('en', 'delete.not_allowed')).toMatch(/^Only the person who asked/);
    await expectPrivately(intrusions[3]?.payload ?? {}, 'cancel.not_yours');
    expect(visibleBotMessages()).toBe(visibleBefore);
    expect(fake.callsTo('chat.postMessage').map((call) => call.args.text)).not.toContain(
      slackText('en', 'delete.not_allowed'),
    );

    // Garbage in place of a job id, on every button.
    const next = seededRandom(7);
    const garbage = [
      '',
      '../../etc/passwd',
      'a'.repeat(5000),
      '\u0000\u202E',
      JSON.stringify({ jobId: original.id }),
      `${original.id} `,
      original.id.toUpperCase(),
      hostilePrompt(next),
    ];
    const forged = garbage.flatMap((value) =>
      ['nb_delete', 'nb_reroll', 'nb_edit', 'nb_cancel'].map((actionId) =>
        press(buttons, BOB, actionId, value),
      ),
    );
    const acks = await Promise.all(forged.map(({ request }) => send(request)));
    for (const ack of acks) expect(ack.status).toBe(200);
    for (const { payload } of forged) await expectPrivately(payload, 'job.unknown');

    // An action the bot never made, naming Alice's job: Bolt has no listener, nothing happens.
    expect((await send(press(buttons, BOB, 'nb_nuke', original.id).request)).status).toBe(404);

    // A modal submission with forged metadata: refused in the modal, nothing started.
    // Slack only sends submissions of views the app opened; this one it never did.
    const view: FakeSlackView = {
      id: 'V0FORGED01',
      team_id: fake.teamId,
      app_id: fake.appId,
      bot_id: fake.botId,
      type: 'modal',
      callback_id: 'nb_edit_result',
      external_id: '',
      private_metadata: '{"jobId": 42',
      blocks: [],
      state: { values: {} },
      hash: 'forged',
      root_view_id: 'V0FORGED01',
      previous_view_id: null,
      clear_on_close: false,
      notify_on_close: false,
      userId: BOB,
    };
    const submitted = await send(
      signedInteraction(
        fake.viewSubmissionPayload({
          userId: BOB,
          view,
          values: { nb_prompt: { prompt: { type: 'plain_text_input', value: 'steal it' } } },
        }),
      ),
    );
    // Acknowledged at once with a "one moment" modal; the refusal then replaces it.
    expect(JSON.parse(submitted.body)).toMatchObject({
      response_action: 'update',
      view: { type: 'modal' },
    });
    const refusal = await fake.waitFor(() =>
      fake.callsTo('views.update').find((call) => call.args.view_id === view.id),
    );
    expect(JSON.stringify(refusal.args.view)).toContain(slackText('en', 'job.unknown'));

    expect(creates()).toBe(before);
    // Alice's result is whole: its file, its buttons, its status message.
    expect(resultFiles()).toHaveLength(1);
    expect(fake.messages(GENERAL).some((message) => message.ts === buttons.ts)).toBe(true);
    const status = fake.messages(GENERAL).find((message) => message.ts === statusTs);
    expect(status?.text).toContain('a target for forged clicks');
    expect((await harness.service.engine.getJob(original.id))?.delivery).toBeDefined();

    // Alice herself can delete it: the refusals above were about who asked, not a broken button.
    expect((await send(press(buttons, ALICE, 'nb_delete', original.id).request)).status).toBe(200);
    await fake.waitFor(() => resultFiles().length === 0);
  });

  it('posts a prompt at the length limit, full of characters escaping lengthens, within Slack’s block limits', async () => {
    // `&`, `<` and `>` become `&amp;`, `&lt;`, `&gt;`: 4,000 of them would be 16,000 characters in
    // a section that holds 3,000, which Slack refuses (invalid_blocks).
    const prompt = '&<>&'.repeat(1_000);
    const job = await generate(prompt);
    expect(job.state).toBe('done');
    const refused = fake.calls.filter(
      (call) => (call.response as { error?: unknown } | undefined)?.error === 'invalid_blocks',
    );
    expect(refused).toEqual([]);
    const { statusTs } = job.destination as SlackDestination;
    const status = fake.messages(GENERAL).find((message) => message.ts === statusTs);
    expect(JSON.stringify(status?.blocks ?? [])).toContain('&amp;&lt;&gt;&amp;');
    // The result and its buttons were posted (this throws without them).
    buttonsOf(job);
  });

  it('answers stale buttons: those of a deleted result, and of a job pruned from the store', async () => {
    const deleted = await generate('a result deleted before its buttons are pressed');
    const pruned = await generate('a job pruned before its buttons are pressed');
    expect([deleted.state, pruned.state]).toEqual(['done', 'done']);
    const deletedButtons = buttonsOf(deleted);
    const prunedButtons = buttonsOf(pruned);
    const filesOf = (job: Job) =>
      fake.files().filter((file) => file.user === fake.botUserId && file.name.includes(job.id));

    // Alice deletes her result; its buttons stay on screens that have not refreshed.
    expect((await send(press(deletedButtons, ALICE, 'nb_delete', deleted.id).request)).status).toBe(
      200,
    );
    await fake.waitFor(() => filesOf(deleted).length === 0);
    await eventually(
      async () => (await harness.service.engine.getJob(deleted.id))?.delivery === undefined,
    );

    // The other job grows old and is pruned, as the retention timer does.
    const store = new Database(path.join(harness.dataDir, 'jobs.db'));
    try {
      expect(
        store.prepare('UPDATE jobs SET updated_at = 0 WHERE id = ?').run(pruned.id).changes,
      ).toBe(1);
    } finally {
      store.close();
    }
    expect(await harness.service.engine.prune()).toBe(1);
    expect(await harness.service.engine.getJob(pruned.id)).toBeUndefined();

    const before = creates();
    const modalsBefore = fake.callsTo('views.open').length;
    const presses: { pressed: ReturnType<typeof press>; answer: SlackTextKey }[] = [
      // The pruned job: every button says it is gone, whoever presses it.
      ...['nb_delete', 'nb_reroll', 'nb_edit', 'nb_cancel'].map((actionId) => ({
        pressed: press(prunedButtons, ALICE, actionId, pruned.id),
        answer: 'job.unknown' as const,
      })),
      { pressed: press(prunedButtons, BOB, 'nb_delete', pruned.id), answer: 'job.unknown' },
      // The deleted result: nothing left to edit, still not Bob's to delete, too late to cancel.
      { pressed: press(deletedButtons, ALICE, 'nb_edit', deleted.id), answer: 'result.gone' },
      { pressed: press(deletedButtons, BOB, 'nb_edit', deleted.id), answer: 'result.gone' },
      {
        pressed: press(deletedButtons, BOB, 'nb_delete', deleted.id),
        answer: 'delete.not_allowed',
      },
      {
        pressed: press(deletedButtons, ALICE, 'nb_cancel', deleted.id),
        answer: 'cancel.too_late',
      },
    ];
    const acks = await Promise.all(presses.map(({ pressed }) => send(pressed.request)));
    expect(acks.map((ack) => ack.status)).toEqual(presses.map(() => 200));
    for (const { pressed, answer } of presses) await expectPrivately(pressed.payload, answer);
    // No modal for a result that is gone, and nothing sent to the API.
    expect(fake.callsTo('views.open')).toHaveLength(modalsBefore);
    expect(creates()).toBe(before);
    expect(await harness.service.engine.getJob(pruned.id)).toBeUndefined();
  });

  it('answers a press whose response URL expired (30 minutes) with an ephemeral message', async () => {
    const job = await generate('a result whose buttons are pressed half an hour later');
    const pressed = press(buttonsOf(job), BOB, 'nb_delete', job.id);
    fake.advanceClock(RESPONSE_URL_LIFETIME_MS + 60_000);
    const ephemeralsBefore = fake.callsTo('chat.postEphemeral').length;
    expect((await send(pressed.request)).status).toBe(200);
    const ephemeral = await fake.waitFor(() =>
      fake.callsTo('chat.postEphemeral').slice(ephemeralsBefore).at(0),
    );
    expect(ephemeral.args).toMatchObject({
      channel: GENERAL,
      user: BOB,
      text: slackText('en', 'delete.not_allowed'),
    });
    expect(ephemeral.response).toMatchObject({ ok: true });
    // Slack refused the expired URL; nothing went through it.
    const tried = fake.responses.filter(
      (response) => response.id === responseId(pressed.payload.response_url),
    );
    expect(tried.map((response) => response.status)).toEqual([404]);
    expect(privateAnswers(pressed.payload.response_url)).toEqual([]);
  });

  it('runs a replayed request once, and refuses an old or badly signed one', async () => {
    const before = creates();

    // The same signed command, again and again: once after the first, and three at once.
    const once = signedCommand('a replayed lighthouse');
    expect((await send(once.request)).status).toBe(200);
    await fake.waitFor(() => jobOfCommand(once.payload), { timeoutMs: 15_000 });
    expect((await send(once.request)).status).toBe(200);
    const together = signedCommand('a lighthouse replayed at once');
    const acks = await Promise.all([1, 2, 3].map(() => send(together.request)));
    expect(acks.map((ack) => ack.status)).toEqual([200, 200, 200]);
    // Slack's own redelivery of the same body, marked as a retry.
    const retried = signedCommand('a retried lighthouse');
    expect((await send(retried.request)).status).toBe(200);
    const retry = fake.signedRequest(retried.request.body, { retryNum: 1, retryReason: 'timeout' });
    expect((await send(retry)).status).toBe(200);

    const prompts = [
      'a replayed lighthouse',
      'a lighthouse replayed at once',
      'a retried lighthouse',
    ];
    for (const { payload } of [once, together, retried]) {
      await fake.waitFor(() => jobOfCommand(payload), { timeoutMs: 15_000 });
    }
    // Let any duplicate finish what it started (a second status message, removed again).
    await fake.waitFor(
      () =>
        prompts.every(
          (prompt) =>
            fake
              .messages(GENERAL)
              .filter((message) => message.user === fake.botUserId && message.text.includes(prompt))
              .length === 1,
        ),
      { timeoutMs: 10_000 },
    );
    for (const prompt of prompts) {
      expect(createsFor(prompt), prompt).toHaveLength(1);
      expect(
        harness.finished.filter((job) => job.prompt === prompt),
        prompt,
      ).toHaveLength(1);
    }

    // A replayed DM and a replayed button press.
    const dm = fake.userMessage({ channel: ALICE_DM, user: ALICE, text: 'a replayed fox' });
    const dmRequest = fake.signedRequest(fake.eventBody(fake.messageEvent(ALICE_DM, dm)));
    expect((await send(dmRequest)).status).toBe(200);
    expect((await send(dmRequest)).status).toBe(200);
    const fox = await fake.waitFor(
      () => harness.finished.find((job) => job.prompt === 'a replayed fox'),
      { timeoutMs: 15_000 },
    );
    const { threadTs } = fox.destination as SlackDestination;
    const buttons = fake
      .thread(ALICE_DM, threadTs)
      .find((message) => JSON.stringify(message.blocks ?? []).includes(fox.id));
    if (buttons === undefined) throw new Error('no result buttons');
    const reroll = signedInteraction(
      fake.blockActionsPayload({
        userId: ALICE,
        channel: ALICE_DM,
        message: buttons,
        actionId: 'nb_reroll',
        value: fox.id,
      }),
    );
    await Promise.all([send(reroll), send(reroll)]);
    expect((await send(reroll)).status).toBe(200);
    await fake.waitFor(() => harness.finished.find((job) => job.parentJobId === fox.id), {
      timeoutMs: 15_000,
    });
    expect(createsFor('a replayed fox')).toHaveLength(2);

    // Five minutes old, or signed with another secret: refused, nothing runs, nothing is said.
    const messagesBefore = fake.messages(GENERAL).length;
    const stale = signedCommand('a stale lighthouse');
    const old = fake.signedRequest(stale.request.body, {
      timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
    });
    const forged = fake.signedRequest(signedCommand('a forged lighthouse').request.body, {
      badSignature: true,
    });
    expect((await send(old)).status).toBe(401);
    expect((await send(forged)).status).toBe(401);
    expect(fake.messages(GENERAL)).toHaveLength(messagesBefore);
    expect(createsFor('a stale lighthouse')).toEqual([]);
    expect(createsFor('a forged lighthouse')).toEqual([]);
    expect(creates() - before).toBe(prompts.length + 2);
  });
});
