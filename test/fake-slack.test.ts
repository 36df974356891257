import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, type Logger, LogLevel, SocketModeReceiver, webApi } from '@slack/bolt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  ACK_DEADLINE_MS,
  FAKE_SLACK_DEFAULTS,
  type FakeSlack,
  RESPONSE_URL_LIFETIME_MS,
  RESPONSE_URL_USES,
  startFakeSlack,
  TRIGGER_LIFETIME_MS,
} from './fakes/slack/index.js';

const USER = FAKE_SLACK_DEFAULTS.userId;
const CHANNEL = FAKE_SLACK_DEFAULTS.channelId;
const OUTSIDE_CHANNEL = 'C0OUTSIDE1';
const PRIVATE_CHANNEL = 'G0PRIVATE1';
/** Not a real PNG: the fake and Bolt only move bytes. */
const IMAGE = Buffer.from('\x89PNG\r\n\x1a\nfake-image-bytes', 'latin1');

/** Keeps Bolt quiet in the test output but lets a failing test show what it logged. */
function recordingLogger(lines: string[]): Logger {
  let level = LogLevel.DEBUG;
  const record =
    (name: string) =>
    (...message: unknown[]) => {
      lines.push(`${name}: ${message.map(String).join(' ')}`);
    };
  return {
    debug: () => {},
    info: () => {},
    warn: record('warn'),
    error: record('error'),
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

function clientOptions(fake: FakeSlack) {
  return { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } };
}

/** The error code of a rejected Web API call (`WebAPIPlatformError.data.error`). */
async function apiError(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    return (error as { data?: { error?: string } }).data?.error ?? String(error);
  }
  return 'no error';
}

describe('fake Slack with the real Bolt over HTTP', () => {
  let fake: FakeSlack;
  let app: App;
  let appUrl: string;
  const logged: string[] = [];
  const commandTexts: string[] = [];
  const downloaded: Buffer[] = [];
  const submittedPrompts: string[] = [];

  beforeAll(async () => {
    fake = await startFakeSlack({
      users: [{ id: USER, name: 'alice', locale: 'de-DE', isAdmin: true }],
      channels: [
        { id: CHANNEL, name: 'general' },
        { id: OUTSIDE_CHANNEL, name: 'random', botIsMember: false },
        { id: PRIVATE_CHANNEL, name: 'secret', isPrivate: true, botIsMember: false },
      ],
    });
    app = new App({
      token: fake.botToken,
      signingSecret: fake.signingSecret,
      clientOptions: clientOptions(fake),
      logger: recordingLogger(logged),
    });
    app.command('/imagine', async ({ command, ack, client, respond }) => {
      commandTexts.push(command.text);
      await ack();
      const posted = await client.chat.postMessage({
        channel: command.channel_id,
        text: `Drawing: ${command.text}`,
      });
      if (posted.ts === undefined) throw new Error('chat.postMessage gave no ts');
      await client.files.uploadV2({
        channel_id: command.channel_id,
        thread_ts: posted.ts,
        file: IMAGE,
        filename: 'banana.png',
        title: 'A banana',
        alt_text: 'a yellow banana',
      });
      await respond({ text: 'Done.' });
    });
    app.event('app_mention', async ({ event, context }) => {
      const url = event.files?.[0]?.url_private;
      if (url === undefined) return;
      const response = await fetch(url, {
        headers: { Authorization: `Bearer ${context.botToken ?? ''}` },
      });
      downloaded.push(Buffer.from(await response.arrayBuffer()));
    });
    app.shortcut('edit_image', async ({ shortcut, ack, client }) => {
      await ack();
      if (shortcut.type !== 'message_action') return;
      await client.views.open({
        trigger_id: shortcut.trigger_id,
        view: {
          type: 'modal',
          callback_id: 'edit_modal',
          private_metadata: shortcut.message.files?.[0]?.id ?? '',
          title: { type: 'plain_text', text: 'Edit image' },
          submit: { type: 'plain_text', text: 'Edit' },
          blocks: [
            {
              type: 'input',
              block_id: 'prompt',
              label: { type: 'plain_text', text: 'Prompt' },
              element: { type: 'plain_text_input', action_id: 'text' },
            },
          ],
        },
      });
    });
    app.view('edit_modal', async ({ view, ack }) => {
      await ack();
      submittedPrompts.push(`${view.private_metadata}: ${view.state.values.prompt?.text?.value}`);
    });
    const server = await app.start(0);
    appUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
    fake.deliverTo({ url: appUrl });
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  it('acks a signed slash command, then shows the post, the upload and the file in the thread', async () => {
    const signed = fake.signedRequest(
      fake.slashCommandBody({
        command: '/imagine',
        text: 'a banana',
        userId: USER,
        channelId: CHANNEL,
      }),
    );
    const response = await fetch(appUrl, {
      method: 'POST',
      headers: signed.headers,
      body: signed.body,
    });
    expect(response.status).toBe(200);

    await fake.waitFor(() => fake.responses.length === 1);
    const file = fake.files().find((candidate) => candidate.state === 'shared');
    expect(file).toMatchObject({
      name: 'banana.png',
      title: 'A banana',
      alt_txt: 'a yellow banana',
      channel: CHANNEL,
      size: IMAGE.length,
      user: fake.botUserId,
    });
    expect(file?.bytes.equals(IMAGE)).toBe(true);

    const [parent, fileShare, ephemeral] = fake.messages(CHANNEL);
    expect(parent).toMatchObject({
      text: 'Drawing: a banana',
      user: fake.botUserId,
      bot_id: fake.botId,
      reply_count: 1,
    });
    expect(file?.threadTs).toBe(parent?.ts);
    expect(fileShare).toMatchObject({
      subtype: 'file_share',
      thread_ts: parent?.ts,
      files: [{ id: file?.id, title: 'A banana' }],
    });
    expect(fake.thread(CHANNEL, parent?.ts ?? '')).toHaveLength(2);
    // respond() posts to the response_url: an ephemeral message for the user who ran it.
    expect(ephemeral).toMatchObject({ text: 'Done.', ephemeralTo: USER });
    expect(fake.responses[0]).toMatchObject({ body: { text: 'Done.' }, status: 200 });

    const [upload] = fake.uploads;
    expect(upload?.fileId).toBe(file?.id);
    expect(upload?.bytes.equals(IMAGE)).toBe(true);
    expect(fake.callsTo('files.getUploadURLExternal')[0]?.args).toMatchObject({
      filename: 'banana.png',
      length: String(IMAGE.length),
    });
    expect(fake.callsTo('files.completeUploadExternal')[0]?.args).toMatchObject({
      files: [{ id: file?.id, title: 'A banana' }],
      channel_id: CHANNEL,
      thread_ts: parent?.ts,
    });
    for (const call of fake.calls) {
      expect(call.headers.authorization).toBe(`Bearer ${fake.botToken}`);
    }
    expect(logged.filter((line) => line.startsWith('error'))).toEqual([]);
  });

  it('refuses a bad signature and a stale timestamp with 401, without running the handler', async () => {
    const handledBefore = commandTexts.length;
    const body = fake.slashCommandBody({
      command: '/imagine',
      text: 'forged',
      userId: USER,
      channelId: CHANNEL,
    });
    const forged = fake.signedRequest(body, { badSignature: true });
    const forgedResponse = await fetch(appUrl, { method: 'POST', ...forged });
    const stale = fake.signedRequest(body, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    const staleResponse = await fetch(appUrl, { method: 'POST', ...stale });

    expect(forgedResponse.status).toBe(401);
    expect(staleResponse.status).toBe(401);
    expect(commandTexts).toHaveLength(handledBefore);
  });

  it('delivers an app_mention with a shared file, which the app downloads with the bot token', async () => {
    const shared = fake.addFile({ name: 'cat.png', mimetype: 'image/png', bytes: IMAGE });
    const message = fake.userMessage({
      channel: CHANNEL,
      user: USER,
      text: `<@${fake.botUserId}> make it blue`,
      files: [shared],
    });

    const delivery = await fake.deliverEvent(fake.appMentionEvent(CHANNEL, message));
    expect(delivery.status).toBe(200);
    await fake.waitFor(() => downloaded.length === 1);

    expect(downloaded[0]?.equals(IMAGE)).toBe(true);
    expect(fake.downloads.at(-1)).toMatchObject({
      fileId: shared.id,
      authorization: `Bearer ${fake.botToken}`,
      served: 'file',
    });
    expect(fake.messageEvent(CHANNEL, message)).toMatchObject({
      type: 'message',
      subtype: 'file_share',
      channel: CHANNEL,
      channel_type: 'channel',
      user: USER,
      files: [{ id: shared.id, url_private: shared.url_private }],
    });
  });

  it('answers private file downloads without the bot token with the HTML sign-in page', async () => {
    const shared = fake.addFile({ name: 'dog.png', mimetype: 'image/png', bytes: IMAGE });
    const anonymous = await fetch(shared.url_private);
    const wrongToken = await fetch(shared.url_private_download, {
      headers: { Authorization: 'Bearer xoxb-someone-else' },
    });

    for (const response of [anonymous, wrongToken]) {
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/html');
      expect(await response.text()).toContain('Sign in');
    }
    expect(fake.downloads.slice(-2).map((download) => download.authorization)).toEqual([
      undefined,
      'Bearer xoxb-someone-else',
    ]);
  });

  it("answers with Slack's errors: channels, auth, scopes, unknown methods and injected faults", async () => {
    const { client } = app;
    expect(await apiError(client.chat.postMessage({ channel: OUTSIDE_CHANNEL, text: 'hi' }))).toBe(
      'not_in_channel',
    );
    expect(await apiError(client.chat.postMessage({ channel: PRIVATE_CHANNEL, text: 'hi' }))).toBe(
      'channel_not_found',
    );
    expect(await apiError(client.chat.postMessage({ channel: 'C0NOWHERE1', text: 'hi' }))).toBe(
      'channel_not_found',
    );
    expect(await apiError(client.apiCall('nope.nothing'))).toBe('unknown_method');

    const stranger = new webApi.WebClient('xoxb-wrong', clientOptions(fake));
    expect(await apiError(stranger.auth.test())).toBe('invalid_auth');

    fake.failNext('chat.postMessage', 'fatal_error');
    expect(await apiError(client.chat.postMessage({ channel: CHANNEL, text: 'hi' }))).toBe(
      'fatal_error',
    );

    const impatient = new webApi.WebClient(fake.botToken, {
      ...clientOptions(fake),
      rejectRateLimitedCalls: true,
    });
    fake.failNext('chat.update', { status: 429, retryAfter: 7 });
    const rateLimited = await impatient.chat
      .update({ channel: CHANNEL, ts: '1.000000', text: 'x' })
      .catch((error: unknown) => error as { code?: string; retryAfter?: number });
    expect(rateLimited).toMatchObject({ code: 'slack_webapi_rate_limited_error', retryAfter: 7 });

    fake.failNext('upload', { status: 500 });
    const upload = client.files.uploadV2({ channel_id: CHANNEL, file: IMAGE, filename: 'x.png' });
    expect(await apiError(upload)).toContain('statusCode = 500');
  });

  it('opens a modal from a message shortcut and delivers its submission', async () => {
    const shared = fake.addFile({ name: 'cat.png', mimetype: 'image/png', bytes: IMAGE });
    const message = fake.userMessage({ channel: CHANNEL, user: USER, files: [shared] });
    const delivery = await fake.deliverInteraction(
      fake.messageShortcutPayload({
        userId: USER,
        channel: CHANNEL,
        message,
        callbackId: 'edit_image',
      }),
    );
    expect(delivery.status).toBe(200);
    const view = await fake.waitFor(() => fake.views()[0]);
    expect(view).toMatchObject({ callback_id: 'edit_modal', private_metadata: shared.id });

    const submission = await fake.deliverInteraction(
      fake.viewSubmissionPayload({
        userId: USER,
        view,
        values: { prompt: { text: { type: 'plain_text_input', value: 'make it blue' } } },
      }),
    );
    expect(submission.status).toBe(200);
    await fake.waitFor(() => submittedPrompts.length === 1);
    expect(submittedPrompts).toEqual([`${shared.id}: make it blue`]);
  });

  it('answers users.info with the locale only when asked, and conversations.replies with the thread', async () => {
    const { client } = app;
    const withLocale = await client.users.info({ user: USER, include_locale: true });
    const withoutLocale = await client.users.info({ user: USER });
    expect(withLocale.user).toMatchObject({ id: USER, locale: 'de-DE', is_admin: true });
    expect(withoutLocale.user?.locale).toBeUndefined();

    const question = fake.userMessage({ channel: CHANNEL, user: USER, text: 'hello' });
    await client.chat.postMessage({ channel: CHANNEL, thread_ts: question.ts, text: 'hi there' });
    const replies = await client.conversations.replies({ channel: CHANNEL, ts: question.ts });
    expect(replies.messages?.map((message) => message.text)).toEqual(['hello', 'hi there']);
    expect(replies.messages?.[0]).toMatchObject({ reply_count: 1, thread_ts: question.ts });
  });

  it('reads a thread since `oldest` (its parent always), with metadata only when asked for', async () => {
    const { client } = app;
    const question = fake.userMessage({ channel: CHANNEL, user: USER, text: 'since when?' });
    const early = await client.chat.postMessage({
      channel: CHANNEL,
      thread_ts: question.ts,
      text: 'early',
      metadata: { event_type: 'note', event_payload: { step: 1 } },
    });
    await client.chat.postMessage({ channel: CHANNEL, thread_ts: question.ts, text: 'late' });
    const since = await client.conversations.replies({
      channel: CHANNEL,
      ts: question.ts,
      oldest: early.ts ?? '',
    });
    expect(since.messages?.map((message) => message.text)).toEqual(['since when?', 'late']);
    const inclusive = await client.conversations.replies({
      channel: CHANNEL,
      ts: question.ts,
      oldest: early.ts ?? '',
      inclusive: true,
      include_all_metadata: true,
    });
    expect(inclusive.messages?.map((message) => message.text)).toEqual([
      'since when?',
      'early',
      'late',
    ]);
    expect(inclusive.messages?.[1]?.metadata).toEqual({
      event_type: 'note',
      event_payload: { step: 1 },
    });
    expect(since.messages?.some((message) => message.metadata !== undefined)).toBe(false);
  });

  it('applies a call and then loses its answer (afterApplying): Slack did it, the app never heard', async () => {
    const { client } = app;
    fake.failNext('chat.postMessage', { afterApplying: 'drop' });
    const lost = await apiError(client.chat.postMessage({ channel: CHANNEL, text: 'lost answer' }));
    expect(lost).not.toBe('no error');
    expect(fake.messages(CHANNEL).filter((message) => message.text === 'lost answer')).toHaveLength(
      1,
    );
    expect(fake.callsTo('chat.postMessage').at(-1)).toMatchObject({
      status: 0,
      response: { ok: true },
    });
  });

  it('takes JSON Web API calls with the token in the Authorization header only', async () => {
    const call = (authorization: string | undefined) =>
      fetch(`${fake.apiUrl}chat.postMessage`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          ...(authorization === undefined ? {} : { authorization }),
        },
        body: JSON.stringify({
          token: fake.botToken,
          channel: CHANNEL,
          text: 'json',
          blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*json*' } }],
        }),
      }).then((response) => response.json());

    expect(await call(undefined)).toEqual({ ok: false, error: 'not_authed' });
    expect(await call(`Bearer ${fake.botToken}`)).toMatchObject({ ok: true, channel: CHANNEL });
    expect(fake.callsTo('chat.postMessage').at(-1)?.args.blocks).toEqual([
      { type: 'section', text: { type: 'mrkdwn', text: '*json*' } },
    ]);
  });
});

describe('private file downloads without the files:read scope', () => {
  it('get the HTML sign-in page even with the bot token', async () => {
    const fake = await startFakeSlack({ grantedScopes: ['chat:write', 'files:write'] });
    try {
      const shared = fake.addFile({ name: 'cat.png', mimetype: 'image/png', bytes: IMAGE });
      const response = await fetch(shared.url_private, {
        headers: { Authorization: `Bearer ${fake.botToken}` },
      });
      expect(response.headers.get('content-type')).toContain('text/html');
      expect(await response.text()).toContain('<!DOCTYPE html>');
      expect(fake.downloads[0]?.served).toBe('login_page');
    } finally {
      await fake.close();
    }
  });
});

describe('trigger ids', () => {
  it('open a view within 3 s only, as Slack’s do; one method can be slowed down', async () => {
    let clock = 1_700_000_000_000;
    const fake = await startFakeSlack({ now: () => clock });
    try {
      const client = new webApi.WebClient(fake.botToken, clientOptions(fake));
      const view = { type: 'modal', title: { type: 'plain_text', text: 'x' }, blocks: [] };
      const trigger = () =>
        fake.messageShortcutPayload({
          userId: USER,
          channel: CHANNEL,
          message: fake.userMessage({ channel: CHANNEL, user: USER, text: 'hi' }),
          callbackId: 'edit_image',
        }).trigger_id as string;

      const fresh = trigger();
      clock += 2_900;
      expect((await client.views.open({ trigger_id: fresh, view: view as never })).ok).toBe(true);
      const stale = trigger();
      clock += 3_100;
      expect(await apiError(client.views.open({ trigger_id: stale, view: view as never }))).toBe(
        'expired_trigger_id',
      );
      // views.push is bound to a trigger too; advanceClock ages it without a custom clock.
      const pushed = trigger();
      expect((await client.views.push({ trigger_id: pushed, view: view as never })).ok).toBe(true);
      expect(await apiError(client.views.push({ trigger_id: pushed, view: view as never }))).toBe(
        'exchanged_trigger_id',
      );
      const stalePush = trigger();
      fake.advanceClock(TRIGGER_LIFETIME_MS + 1);
      expect(
        await apiError(client.views.push({ trigger_id: stalePush, view: view as never })),
      ).toBe('expired_trigger_id');

      fake.setLatency('users.info', 300);
      const started = Date.now();
      await client.users.info({ user: USER });
      expect(Date.now() - started).toBeGreaterThanOrEqual(280);
      fake.setLatency('users.info', 0);
    } finally {
      await fake.close();
    }
  });
});

describe('Slack’s deadlines and limits, on by default', () => {
  /** A stand-in app on loopback that answers every delivery after `delayMs`. */
  async function slowApp(delayMs: (body: string) => number) {
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      request.on('end', () => {
        setTimeout(() => response.writeHead(200).end(), delayMs(body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
    const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
    return { url, close };
  }

  it('records an HTTP ack later than 3 s as late, and a prompt one as on time', async () => {
    expect(ACK_DEADLINE_MS).toBe(3_000);
    const fake = await startFakeSlack();
    const app = await slowApp((body) => (body.includes('slow') ? ACK_DEADLINE_MS + 200 : 0));
    try {
      fake.deliverTo({ url: app.url });
      const command = (text: string) =>
        fake.deliverSlashCommand({ command: '/imagine', text, userId: USER, channelId: CHANNEL });
      const [quick, slow] = await Promise.all([command('quick'), command('slow')]);
      expect(quick).toMatchObject({ status: 200, late: false });
      expect(quick.ackMs).toBeLessThan(ACK_DEADLINE_MS);
      expect(slow).toMatchObject({ status: 200, late: true });
      expect(slow.ackMs).toBeGreaterThan(ACK_DEADLINE_MS);
      expect(fake.lateAcks).toEqual([
        { kind: 'slash_commands', via: 'http', what: '/imagine', ackMs: slow.ackMs },
      ]);
    } finally {
      await app.close();
      await fake.close();
    }
  });

  it('records a late Socket Mode ack, and one that never came', async () => {
    const fake = await startFakeSlack({ ackDeadlineMs: 100 });
    const opened = (await (
      await fetch(`${fake.apiUrl}apps.connections.open`, {
        method: 'POST',
        headers: { authorization: `Bearer ${fake.appToken}` },
      })
    ).json()) as { url: string };
    const socket = new WebSocket(opened.url);
    socket.on('message', (data: Buffer) => {
      const envelope = JSON.parse(data.toString('utf8')) as {
        envelope_id?: string;
        payload?: { type?: string };
      };
      if (envelope.envelope_id === undefined) return;
      if (envelope.payload?.type === 'block_actions') return; // never acked
      const reply = () => socket.send(JSON.stringify({ envelope_id: envelope.envelope_id }));
      setTimeout(reply, 250);
    });
    try {
      await fake.socketConnected();
      const message = fake.userMessage({ channel: CHANNEL, user: USER, text: 'hi' });
      const mention = await fake.deliverEvent(fake.appMentionEvent(CHANNEL, message));
      expect(mention.late).toBe(true);
      const press = fake.blockActionsPayload({
        userId: USER,
        channel: CHANNEL,
        message,
        actionId: 'retry',
        value: 'x',
      });
      await expect(fake.deliverInteraction(press, { timeoutMs: 300 })).rejects.toThrow(/no ack/);
      expect(fake.lateAcks).toEqual([
        { kind: 'events_api', via: 'socket', what: 'app_mention', ackMs: mention.ackMs },
        { kind: 'interactive', via: 'socket', what: 'block_actions', ackMs: undefined },
      ]);
    } finally {
      socket.close();
      await fake.close();
    }
  });

  it('spreads Socket Mode envelopes among the open connections in turn, as Slack does for a fleet', async () => {
    const fake = await startFakeSlack();
    const received: number[][] = [[], [], []];
    const sockets = await Promise.all(
      received.map(async (list, index) => {
        const opened = (await (
          await fetch(`${fake.apiUrl}apps.connections.open`, {
            method: 'POST',
            headers: { authorization: `Bearer ${fake.appToken}` },
          })
        ).json()) as { url: string };
        const socket = new WebSocket(opened.url);
        socket.on('message', (data: Buffer) => {
          const envelope = JSON.parse(data.toString('utf8')) as { envelope_id?: string };
          if (envelope.envelope_id === undefined) return;
          list.push(index);
          socket.send(JSON.stringify({ envelope_id: envelope.envelope_id }));
        });
        return socket;
      }),
    );
    try {
      await fake.socketConnected({ count: 3 });
      expect(fake.socketConnections()).toBe(3);
      for (let index = 0; index < 6; index++) {
        await fake.deliverSlashCommand({
          command: '/imagine',
          text: `${index}`,
          userId: USER,
          channelId: CHANNEL,
        });
      }
      // Two each, and the records say which connection had which.
      expect(received.map((list) => list.length)).toEqual([2, 2, 2]);
      expect(new Set(fake.envelopes.map((envelope) => envelope.connection)).size).toBe(3);
      // A connection that is gone gets nothing more.
      sockets[0]?.terminate();
      await fake.waitFor(() => fake.socketConnections() === 2, { timeoutMs: 5_000 });
      for (let index = 0; index < 4; index++) {
        await fake.deliverSlashCommand({
          command: '/imagine',
          text: `${index}`,
          userId: USER,
          channelId: CHANNEL,
        });
      }
      expect(received.map((list) => list.length)).toEqual([2, 4, 4]);
    } finally {
      for (const socket of sockets) socket.close();
      await fake.close();
    }
  });

  it('takes a response_url 5 times within 30 minutes of the fake’s clock, then refuses it', async () => {
    const fake = await startFakeSlack();
    try {
      const responseUrl = () =>
        fake.slashCommandPayload({
          command: '/imagine',
          text: '',
          userId: USER,
          channelId: CHANNEL,
        }).response_url ?? '';
      const post = async (url: string) => {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: 'hello' }),
        });
        return { status: response.status, body: await response.json() };
      };
      expect(RESPONSE_URL_USES).toBe(5);
      expect(RESPONSE_URL_LIFETIME_MS).toBe(30 * 60_000);

      const busy = responseUrl();
      for (let use = 1; use <= RESPONSE_URL_USES; use++) {
        expect((await post(busy)).status, `use ${use}`).toBe(200);
      }
      expect(await post(busy)).toEqual({ status: 404, body: { ok: false, error: 'used_url' } });

      const late = responseUrl();
      const inTime = responseUrl();
      fake.advanceClock(29 * 60_000);
      expect((await post(inTime)).status).toBe(200);
      fake.advanceClock(60_000 + 1);
      expect(await post(late)).toEqual({ status: 404, body: { ok: false, error: 'expired_url' } });
      // An expired URL changed nothing: only the six answers that were taken are in the channel.
      expect(fake.messages(CHANNEL).filter((message) => message.text === 'hello')).toHaveLength(6);
    } finally {
      await fake.close();
    }
  });

  it('refuses a section over 3,000 characters (or a field over 2,000) as invalid_blocks', async () => {
    const fake = await startFakeSlack();
    try {
      const client = new webApi.WebClient(fake.botToken, clientOptions(fake));
      const section = (length: number) => [
        { type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(length) } },
      ];
      const fields = (length: number) => [
        { type: 'section', fields: [{ type: 'mrkdwn', text: 'y'.repeat(length) }] },
      ];
      const post = (blocks: unknown[]) =>
        client.chat.postMessage({ channel: CHANNEL, text: 't', blocks: blocks as never });
      const posted = await post(section(3_000));
      expect(posted.ok).toBe(true);
      expect(await apiError(post(section(3_001)))).toBe('invalid_blocks');
      expect((await post(fields(2_000))).ok).toBe(true);
      expect(await apiError(post(fields(2_001)))).toBe('invalid_blocks');
      expect(
        await apiError(
          client.chat.update({
            channel: CHANNEL,
            ts: posted.ts ?? '',
            text: 't',
            blocks: section(3_001) as never,
          }),
        ),
      ).toBe('invalid_blocks');
      expect(
        await apiError(
          client.chat.postEphemeral({
            channel: CHANNEL,
            user: USER,
            text: 't',
            blocks: section(3_001) as never,
          }),
        ),
      ).toBe('invalid_blocks');
      const trigger =
        fake.slashCommandPayload({
          command: '/imagine',
          text: '',
          userId: USER,
          channelId: CHANNEL,
        }).trigger_id ?? '';
      const view = {
        type: 'modal',
        title: { type: 'plain_text', text: 'x' },
        blocks: section(3_001),
      };
      expect(await apiError(client.views.open({ trigger_id: trigger, view: view as never }))).toBe(
        'invalid_arguments',
      );
    } finally {
      await fake.close();
    }
  });
});

describe('fake Slack with the real Bolt in Socket Mode', () => {
  let fake: FakeSlack;
  let app: App;
  const logged: string[] = [];
  const mentions: string[] = [];
  const actions: string[] = [];

  beforeAll(async () => {
    fake = await startFakeSlack();
    app = new App({
      token: fake.botToken,
      appToken: fake.appToken,
      socketMode: true,
      clientOptions: clientOptions(fake),
      logger: recordingLogger(logged),
    });
    app.command('/imagine', async ({ command, ack }) => {
      await ack({ response_type: 'ephemeral', text: `Queued: ${command.text}` });
    });
    app.event('app_mention', async ({ event }) => {
      mentions.push(event.text);
    });
    app.action('retry', async ({ ack, action }) => {
      await ack();
      if (action.type === 'button') actions.push(action.value ?? '');
    });
    await app.start();
    await fake.socketConnected();
  });

  afterAll(async () => {
    // Stop the app first: a socket client that loses the fake tries to reconnect, fails, and
    // that failure is an unhandled rejection inside @slack/socket-mode.
    await app?.stop();
    await fake?.socketDisconnected();
    await fake?.close();
  });

  it('opens the connection with the app token through the fake', () => {
    const [open] = fake.callsTo('apps.connections.open');
    expect(open?.headers.authorization).toBe(`Bearer ${fake.appToken}`);
    expect(open?.response).toMatchObject({ ok: true });
  });

  it('sends a slash_commands envelope and receives the ack with its payload', async () => {
    const ack = await fake.sendEnvelope(
      'slash_commands',
      fake.slashCommandPayload({
        command: '/imagine',
        text: 'a banana',
        userId: USER,
        channelId: CHANNEL,
      }),
    );
    expect(ack.payload).toEqual({ response_type: 'ephemeral', text: 'Queued: a banana' });
    expect(fake.envelopes.at(-1)).toMatchObject({
      envelope_id: ack.envelope_id,
      type: 'slash_commands',
      accepts_response_payload: true,
    });
  });

  it('runs the app_mention handler for an events_api envelope', async () => {
    const message = fake.userMessage({
      channel: CHANNEL,
      user: USER,
      text: `<@${fake.botUserId}> draw a cat`,
    });
    const delivery = await fake.deliverEvent(fake.appMentionEvent(CHANNEL, message));
    expect(delivery.envelopeId).toBeDefined();
    await fake.waitFor(() => mentions.length === 1);
    expect(mentions).toEqual([`<@${fake.botUserId}> draw a cat`]);
  });

  it('delivers a button click on a message the app posted', async () => {
    const posted = await app.client.chat.postMessage({
      channel: CHANNEL,
      text: 'Failed.',
      blocks: [
        {
          type: 'actions',
          elements: [
            {
              type: 'button',
              action_id: 'retry',
              value: 'job-1',
              text: { type: 'plain_text', text: 'Retry' },
            },
          ],
        },
      ],
    });
    const message = fake.messages(CHANNEL).find((candidate) => candidate.ts === posted.ts);
    if (message === undefined) throw new Error('the posted message is missing');
    await fake.deliverInteraction(
      fake.blockActionsPayload({
        userId: USER,
        channel: CHANNEL,
        message,
        actionId: 'retry',
        value: 'job-1',
      }),
    );
    await fake.waitFor(() => actions.length === 1);
    expect(actions).toEqual(['job-1']);
  });
});

describe('a custom SocketModeReceiver', () => {
  it('reaches the fake through installerOptions.clientOptions and reconnects on request', async () => {
    const fake = await startFakeSlack();
    const logged: string[] = [];
    const receiver = new SocketModeReceiver({
      appToken: fake.appToken,
      // The reconnect delay is this timeout times the failures in a row: keep it short.
      clientPingTimeout: 1_000,
      installerOptions: { clientOptions: clientOptions(fake) },
      logger: recordingLogger(logged),
    });
    const app = new App({
      token: fake.botToken,
      receiver,
      clientOptions: clientOptions(fake),
      logger: recordingLogger(logged),
    });
    app.command('/imagine', async ({ ack }) => {
      await ack();
    });
    try {
      await app.start();
      await fake.socketConnected();
      fake.requestSocketReconnect();
      await fake.waitFor(() => fake.callsTo('apps.connections.open').length === 2);
      await fake.socketConnected();

      const ack = await fake.sendEnvelope(
        'slash_commands',
        fake.slashCommandPayload({
          command: '/imagine',
          text: '',
          userId: USER,
          channelId: CHANNEL,
        }),
      );
      expect(ack.payload).toEqual({});
    } finally {
      await receiver.client.disconnect();
      await app.stop();
      await fake.close();
    }
  });
});
