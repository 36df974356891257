import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, type Job, loadConfig, silentLogger } from '../src/core/index.js';
import type { RecordedCall } from '../src/mock-api/index.js';
import { startService } from '../src/service/service.js';
import { downloadSlackFile } from '../src/slack/files.js';
import { createSlackAdapter, readSlackSettings } from '../src/slack/index.js';
import {
  DEFAULT_SCOPES,
  type FakeSlack,
  type FakeSlackMessage,
  startFakeSlack,
} from './fakes/slack/index.js';
import { eventually } from './helpers/eventually.js';
import { dataUrl, pngOf, type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const FRANCOIS = 'U0FRANCOIS';
const GENERAL = 'C0GENERAL1';
const OUTSIDE = 'C0OUTSIDE1';
const SECRET = 'G0SECRET01';
const ALICE_DM = 'D0ALICE001';

const USERS = [
  { id: ALICE, name: 'alice', locale: 'en-US' },
  { id: BOB, name: 'bob', locale: 'en-GB' },
  { id: FRANCOIS, name: 'francois', locale: 'fr-FR' },
];

interface SlackDestination {
  channel: string;
  threadTs: string;
  statusTs: string;
}

function destinationOf(job: Job): SlackDestination {
  return job.destination as SlackDestination;
}

/** The plain message a failed job posted in its thread for its requester (status messages and
 * buttons are Block Kit). */
function failureNotice(fake: FakeSlack, job: Job): FakeSlackMessage | undefined {
  const { channel, threadTs } = destinationOf(job);
  return fake
    .thread(channel, threadTs)
    .find(
      (m) =>
        m.user === fake.botUserId &&
        m.blocks === undefined &&
        m.text.startsWith(`<@${job.requesterId}> `),
    );
}

/** What a test needs to drive the bot and look at what it did, for one harness. */
function helpers(harness: () => SlackHarness) {
  const fake = (): FakeSlack => harness().fake;
  const creates = (prompt: string): RecordedCall[] =>
    harness()
      .api.creates()
      .filter((call) => (call.body as { prompt?: string }).prompt === prompt);
  const createBody = (prompt: string) => {
    const [call] = creates(prompt);
    if (call === undefined) throw new Error(`no create for "${prompt}"`);
    return call.body as { action: string; prompt: string; image_urls?: string[] } & Record<
      string,
      unknown
    >;
  };
  const command = (text: string, userId = ALICE, channelId = GENERAL) =>
    fake().deliverSlashCommand({ command: '/imagine', text, userId, channelId });
  const waitForPrompt = (prompt: string) => harness().waitForJob((job) => job.prompt === prompt);
  const message = (channel: string, ts: string): FakeSlackMessage => {
    const found = fake()
      .messages(channel)
      .find((candidate) => candidate.ts === ts);
    if (found === undefined) throw new Error(`no message ${ts} in ${channel}`);
    return found;
  };
  const statusOf = (job: Job) => message(destinationOf(job).channel, destinationOf(job).statusTs);
  const threadOf = (job: Job) =>
    fake().thread(destinationOf(job).channel, destinationOf(job).threadTs);
  /** The images the bot uploaded for a job, in the job's thread. */
  const resultFiles = (job: Job) =>
    fake()
      .files()
      .filter(
        (file) =>
          file.user === fake().botUserId &&
          file.threadTs === destinationOf(job).threadTs &&
          file.name.includes(job.id),
      );
  const buttonsOf = (job: Job): FakeSlackMessage => {
    const found = threadOf(job).find((candidate) =>
      JSON.stringify(candidate.blocks ?? []).includes(`"value":"${job.id}"`),
    );
    if (found === undefined) throw new Error(`no buttons for job ${job.id}`);
    return found;
  };
  const press = (
    where: FakeSlackMessage,
    actionId: string,
    userId: string,
    jobId: string,
    channel = GENERAL,
  ) =>
    fake().deliverInteraction(
      fake().blockActionsPayload({ userId, channel, message: where, actionId, value: jobId }),
    );
  /** Runs `/imagine <prompt>` and waits for its job to end. */
  const generate = async (prompt: string, userId = ALICE): Promise<Job> => {
    await command(prompt, userId);
    return waitForPrompt(prompt);
  };
  /** The bytes of a job's first image, as the mock API serves them. */
  const resultBytes = async (job: Job): Promise<Buffer> => {
    const url = job.result?.images[0]?.url;
    if (url === undefined) throw new Error(`job ${job.id} has no result`);
    return Buffer.from(await (await fetch(url)).arrayBuffer());
  };
  const ephemeralsTo = (userId: string, channel = GENERAL) =>
    fake()
      .messages(channel)
      .filter((candidate) => candidate.ephemeralTo === userId);
  const responseTexts = () =>
    fake().responses.map((response) => (response.body as { text?: string }).text ?? '');
  return {
    fake,
    creates,
    createBody,
    command,
    waitForPrompt,
    statusOf,
    threadOf,
    resultFiles,
    buttonsOf,
    press,
    generate,
    resultBytes,
    ephemeralsTo,
    responseTexts,
  };
}

describe('the Slack settings', () => {
  it('are off without a bot token, and default to Slack itself and /imagine', () => {
    expect(readSlackSettings({})).toBeUndefined();
    expect(readSlackSettings({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' })).toEqual({
      botToken: 'xoxb-1',
      appToken: 'xapp-1',
      signingSecret: undefined,
      apiUrl: 'https://slack.com/api/',
      fileOrigins: ['https://files.slack.com'],
      responseUrlOrigins: ['https://hooks.slack.com'],
      command: '/imagine',
      mode: 'socket',
      allowSlackConnect: false,
    });
  });

  it('serve HTTP with a signing secret, and trust the file host of a replaced API URL', () => {
    const settings = readSlackSettings({
      SLACK_BOT_TOKEN: 'xoxb-1',
      SLACK_SIGNING_SECRET: 'secret',
      SLACK_API_URL: 'http://127.0.0.1:9999/api',
      SLACK_COMMAND: '/draw',
    });
    expect(settings).toMatchObject({
      mode: 'http',
      apiUrl: 'http://127.0.0.1:9999/api/',
      fileOrigins: ['https://files.slack.com', 'http://127.0.0.1:9999'],
      responseUrlOrigins: ['https://hooks.slack.com', 'http://127.0.0.1:9999'],
      command: '/draw',
    });
  });

  it('name the variables to set, without echoing a token', () => {
    const problems = (env: Record<string, string>): readonly string[] => {
      try {
        readSlackSettings(env);
      } catch (error) {
        if (error instanceof ConfigError) return error.problems;
      }
      return [];
    };
    expect(problems({ SLACK_BOT_TOKEN: 'xoxb-1' }).join()).toMatch(
      /SLACK_APP_TOKEN or SLACK_SIGNING_SECRET: set SLACK_APP_TOKEN .* or SLACK_SIGNING_SECRET/,
    );
    const wrongToken = problems({ SLACK_BOT_TOKEN: 'xoxp-user-secret', SLACK_APP_TOKEN: 'x' });
    expect(wrongToken).toHaveLength(2);
    expect(wrongToken.join()).toContain(
      'SLACK_BOT_TOKEN: expected a bot token starting with xoxb-',
    );
    expect(wrongToken.join()).toContain('SLACK_APP_TOKEN: expected an app-level token');
    expect(wrongToken.join()).not.toContain('xoxp-user-secret');
    expect(
      problems({
        SLACK_BOT_TOKEN: 'xoxb-1',
        SLACK_APP_TOKEN: 'xapp-1',
        SLACK_COMMAND: 'imagine',
      }).join(),
    ).toContain('SLACK_COMMAND: expected a slash command');
  });
});

describe('Slack file downloads', () => {
  /** A local server that records the headers it gets and answers with `answer`. */
  async function recordingServer(
    answer: (path: string) => { status: number; headers: Record<string, string>; body?: Buffer },
  ) {
    const seen: { path: string; headers: IncomingHttpHeaders }[] = [];
    const server: Server = createServer((request, response) => {
      const path = request.url ?? '/';
      seen.push({ path, headers: request.headers });
      const { status, headers, body } = answer(path);
      response.writeHead(status, headers).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      seen,
      origin,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  it('send the token to the file host only, and follow a redirect only within it', async () => {
    const png = await pngOf('#123456');
    const elsewhere = await recordingServer(() => ({
      status: 200,
      headers: { 'content-type': 'image/png' },
      body: png,
    }));
    const slack = await recordingServer((path) =>
      path.startsWith('/files-pri/')
        ? { status: 302, headers: { location: path.replace('/files-pri/', '/moved/') } }
        : { status: 200, headers: { 'content-type': 'image/png' }, body: png },
    );
    try {
      const options = { token: 'xoxb-secret', fileOrigins: [slack.origin] };
      const bytes = await downloadSlackFile(
        `${slack.origin}/files-pri/T1-F1/a.png`,
        'a.png',
        options,
      );
      expect(bytes.equals(png)).toBe(true);
      expect(slack.seen.map((seen) => [seen.path, seen.headers.authorization])).toEqual([
        ['/files-pri/T1-F1/a.png', 'Bearer xoxb-secret'],
        ['/moved/T1-F1/a.png', 'Bearer xoxb-secret'],
      ]);

      await expect(
        downloadSlackFile(`${elsewhere.origin}/direct.png`, 'direct.png', options),
      ).rejects.toMatchObject({ params: { reason: 'slack_file_elsewhere', name: 'direct.png' } });
      expect(elsewhere.seen).toHaveLength(0);
    } finally {
      await slack.close();
      await elsewhere.close();
    }
  });

  it('refuse a redirect off the file host, and read one to Slack’s sign-in as the missing scope', async () => {
    const elsewhere = await recordingServer(() => ({ status: 200, headers: {} }));
    const slack = await recordingServer((path) => ({
      status: 302,
      headers: {
        location: path.includes('signin')
          ? 'https://acme.slack.com/?redir=%2Ffiles-pri%2FT1-F1%2Fa.png'
          : `${elsewhere.origin}/latest/meta-data/`,
      },
    }));
    try {
      const options = { token: 'xoxb-secret', fileOrigins: [slack.origin] };
      await expect(
        downloadSlackFile(`${slack.origin}/files-pri/T1-F1/a.png`, 'a.png', options),
      ).rejects.toMatchObject({
        code: 'invalid_input',
        params: { reason: 'slack_file_elsewhere', name: 'a.png' },
      });
      expect(elsewhere.seen).toHaveLength(0);
      await expect(
        downloadSlackFile(`${slack.origin}/files-pri/T1-F1/signin.png`, 'signin.png', options),
      ).rejects.toMatchObject({ params: { reason: 'slack_login_page', name: 'signin.png' } });
    } finally {
      await slack.close();
      await elsewhere.close();
    }
  });
});

describe('starting the Slack adapter', () => {
  it('says plainly when Slack refuses the bot token or the app token', async () => {
    const fake = await startFakeSlack();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'nb-slack-start-'));
    const start = (env: Record<string, string>) => {
      const full = {
        ACEDATA_API_TOKEN: 'unused',
        DATA_DIR: dataDir,
        PORT: '0',
        SLACK_API_URL: fake.apiUrl,
        ...env,
      };
      return startService({
        config: loadConfig(full, dataDir),
        env: full,
        logger: silentLogger,
        host: '127.0.0.1',
        adapters: [createSlackAdapter({ retryConfig: { retries: 0 } })],
      });
    };
    try {
      await expect(
        start({ SLACK_BOT_TOKEN: 'xoxb-not-this-one', SLACK_SIGNING_SECRET: 'secret' }),
      ).rejects.toThrow(
        /^Slack refused SLACK_BOT_TOKEN \(invalid_auth\): copy the Bot User OAuth Token/,
      );
      await expect(
        start({ SLACK_BOT_TOKEN: fake.botToken, SLACK_APP_TOKEN: 'xapp-not-this-one' }),
      ).rejects.toThrow(
        /^Slack refused the Socket Mode connection \(invalid_auth\): check SLACK_APP_TOKEN/,
      );
      expect(fake.callsTo('apps.connections.open')).toHaveLength(1);
    } finally {
      await fake.close();
    }
  });
});

describe.each(['http', 'socket'] as const)('the Slack bot in %s mode', (mode) => {
  let harness: SlackHarness;
  const use = helpers(() => harness);

  beforeAll(async () => {
    harness = await startSlackHarness({
      mode,
      fake: { users: USERS, channels: [{ id: GENERAL, name: 'general' }] },
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('answers a command with a status message, then the images and buttons in its thread', async () => {
    const { fake } = harness;
    const ack = await use.command('a white cat --ar 16:9 --count 1');
    expect(ack.status).toBe(200);

    const job = await use.waitForPrompt('a white cat');
    expect(job.state).toBe('done');
    expect(use.createBody('a white cat')).toMatchObject({
      action: 'generate',
      aspect_ratio: '16:9',
    });

    const status = use.statusOf(job);
    expect(status.thread_ts ?? status.ts).toBe(status.ts);
    expect(status.user).toBe(fake.botUserId);
    expect(status.text).toContain('a white cat');
    expect(JSON.stringify(status.blocks)).toContain('✅ Done in');
    expect(destinationOf(job).threadTs).toBe(status.ts);

    const [file, ...others] = use.resultFiles(job);
    expect(others).toEqual([]);
    expect(file).toMatchObject({ channel: GENERAL, threadTs: status.ts, alt_txt: 'a white cat' });
    expect(file?.bytes.equals(await use.resultBytes(job))).toBe(true);
    expect(fake.callsTo('files.completeUploadExternal').at(-1)?.args).toMatchObject({
      channel_id: GENERAL,
      thread_ts: status.ts,
    });

    const buttons = use.buttonsOf(job);
    expect(buttons.thread_ts).toBe(status.ts);
    const actions = (buttons.blocks ?? []).flatMap(
      (block) => (block as { elements?: { action_id?: string; value?: string }[] }).elements ?? [],
    );
    expect(actions.map((action) => [action.action_id, action.value])).toEqual([
      ['nb_reroll', job.id],
      ['nb_edit', job.id],
      ['nb_delete', job.id],
      // The image's own row: Upscale 2K and 4K, Vary (ids versioned, values the core's).
      ['nb2_upscale_0_2K', `nb2:upscale:${job.id}:0:2K`],
      ['nb2_upscale_0_4K', `nb2:upscale:${job.id}:0:4K`],
      ['nb2_vary_0', `nb2:vary:${job.id}:0`],
    ]);
  });

  it('edits the latest image of its thread with a PNG attached to a reply, sent as data: URLs', async () => {
    const { fake } = harness;
    const parent = await use.generate('a green field');
    const png = await pngOf('#3355ff');
    const shared = fake.addFile({
      name: 'sky.png',
      mimetype: 'image/png',
      bytes: png,
      userId: ALICE,
    });
    const reply = fake.userMessage({
      channel: GENERAL,
      user: ALICE,
      text: 'add this sky',
      threadTs: destinationOf(parent).threadTs,
      files: [shared],
    });
    await fake.deliverEvent(fake.messageEvent(GENERAL, reply));

    const job = await use.waitForPrompt('add this sky');
    expect(job.state).toBe('done');
    expect(use.createBody('add this sky')).toMatchObject({
      action: 'edit',
      image_urls: [dataUrl(await use.resultBytes(parent)), dataUrl(png)],
    });
    expect(fake.downloads.find((download) => download.fileId === shared.id)).toMatchObject({
      authorization: `Bearer ${fake.botToken}`,
      served: 'file',
    });
    // The edit lands in the same thread, under its own status message.
    expect(destinationOf(job).threadTs).toBe(destinationOf(parent).threadTs);
    expect(use.resultFiles(job)).toHaveLength(1);
  });
});

describe('the Slack bot over HTTP, end to end', () => {
  let harness: SlackHarness;
  const use = helpers(() => harness);
  const eventsUrl = () => `${harness.service.http.url}/slack/events`;

  beforeAll(async () => {
    harness = await startSlackHarness({
      mode: 'http',
      fake: {
        users: USERS,
        channels: [
          { id: GENERAL, name: 'general' },
          { id: OUTSIDE, name: 'random', botIsMember: false },
          { id: SECRET, name: 'secret', isPrivate: true, botIsMember: false },
          { id: ALICE_DM, isIm: true, user: ALICE },
        ],
      },
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('is ready once connected, and refuses requests with a bad or stale signature', async () => {
    const { fake } = harness;
    const readiness = await fetch(`${harness.service.http.url}/readyz`);
    expect(await readiness.json()).toMatchObject({ ready: true, checks: { slack: true } });

    const messagesBefore = fake.messages(GENERAL).length;
    const body = fake.slashCommandBody({
      command: '/imagine',
      text: 'forged cat',
      userId: ALICE,
      channelId: GENERAL,
    });
    const forged = fake.signedRequest(body, { badSignature: true });
    const stale = fake.signedRequest(body, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    for (const signed of [forged, stale]) {
      const response = await fetch(eventsUrl(), { method: 'POST', ...signed });
      expect(response.status).toBe(401);
    }
    expect(use.creates('forged cat')).toEqual([]);
    expect(fake.messages(GENERAL)).toHaveLength(messagesBefore);
  });

  it('answers --help, --usage and bad input privately, and sends nothing', async () => {
    const { fake } = harness;
    const createsBefore = harness.api.creates().length;
    const messagesBefore = fake.messages(GENERAL).filter((m) => !m.ephemeralTo).length;
    const respondedBefore = fake.responses.length;
    for (const text of ['--help', '--usage', 'a cat --ar 5:4', '   ']) await use.command(text);
    await fake.waitFor(() => fake.responses.length === respondedBefore + 4);

    const answers = fake.responses.slice(respondedBefore).map((response) => response.body);
    for (const answer of answers) expect(answer).toMatchObject({ response_type: 'ephemeral' });
    // The four commands are handled concurrently: their answers may come in any order.
    const texts = answers.map((answer) => (answer as { text: string }).text);
    const help = texts.find((text) => text.includes('How to use Nano Banana'));
    expect(help).toContain('/imagine a white cat on a windowsill');
    expect(help).toContain('mention me (or attach an image) to edit the latest one');
    expect(texts).toContain('You have no image limit.\nThis week (since Monday, UTC): 0 images.');
    expect(texts.some((text) => text.includes('“5:4” isn’t a supported aspect ratio'))).toBe(true);
    expect(texts).toContain('Please describe the image you want.');
    expect(harness.api.creates()).toHaveLength(createsBefore);
    expect(fake.messages(GENERAL).filter((m) => !m.ephemeralTo)).toHaveLength(messagesBefore);
  });

  it('tells the user privately how to add the bot where it cannot post', async () => {
    const { fake } = harness;
    const respondedBefore = fake.responses.length;
    await use.command('a cat outside', ALICE, OUTSIDE);
    await use.command('a cat in secret', ALICE, SECRET);
    await fake.waitFor(() => fake.responses.length === respondedBefore + 2);

    for (const response of fake.responses.slice(respondedBefore)) {
      expect(response.body).toMatchObject({ response_type: 'ephemeral' });
      expect((response.body as { text: string }).text).toContain('/invite @nano-banana');
    }
    expect(use.creates('a cat outside')).toEqual([]);
    expect(use.creates('a cat in secret')).toEqual([]);
    expect(fake.messages(OUTSIDE).filter((m) => !m.ephemeralTo)).toEqual([]);
  });

  it('refuses a file that is not an image: by its type at once, by its content at its turn', async () => {
    const { fake } = harness;
    const parent = await use.generate('a quiet harbour');
    const threadTs = destinationOf(parent).threadTs;

    const notes = fake.addFile({
      name: 'notes.txt',
      mimetype: 'text/plain',
      bytes: Buffer.from('remember the milk'),
      userId: ALICE,
    });
    const textReply = fake.userMessage({
      channel: GENERAL,
      user: ALICE,
      text: 'use my notes',
      threadTs,
      files: [notes],
    });
    await fake.deliverEvent(fake.messageEvent(GENERAL, textReply));
    const refusal = await fake.waitFor(() =>
      use.ephemeralsTo(ALICE).find((m) => m.text.includes('notes.txt')),
    );
    expect(refusal.text).toBe(
      '“notes.txt” isn’t an image format I can use. Try PNG, JPEG or WebP.',
    );
    expect(use.creates('use my notes')).toEqual([]);

    const disguised = fake.addFile({
      name: 'disguised.png',
      mimetype: 'image/png',
      bytes: Buffer.from('this is text, not a picture'),
      userId: ALICE,
    });
    const disguisedReply = fake.userMessage({
      channel: GENERAL,
      user: ALICE,
      text: 'use this one',
      threadTs,
      files: [disguised],
    });
    await fake.deliverEvent(fake.messageEvent(GENERAL, disguisedReply));
    const failed = await use.waitForPrompt('use this one');
    expect(failed).toMatchObject({
      state: 'failed',
      error: { code: 'invalid_input', params: { reason: 'unsupported_image' } },
    });
    const notice = await fake.waitFor(() => failureNotice(fake, failed));
    expect(notice.text).toBe(
      `<@${ALICE}> “disguised.png” isn’t an image format I can use. Try PNG, JPEG or WebP.`,
    );
    expect(use.creates('use this one')).toEqual([]);
  });

  it('runs a message that arrives both as app_mention and as message once, editing its image', async () => {
    const { fake } = harness;
    const png = await pngOf('#ff8800');
    const photo = fake.addFile({
      name: 'photo.png',
      mimetype: 'image/png',
      bytes: png,
      userId: BOB,
    });
    const mention = fake.userMessage({
      channel: GENERAL,
      user: BOB,
      text: `<@${fake.botUserId}> make it pop art`,
      files: [photo],
    });
    const acks = await Promise.all([
      fake.deliverEvent(fake.appMentionEvent(GENERAL, mention)),
      fake.deliverEvent(fake.messageEvent(GENERAL, mention)),
    ]);
    expect(acks.map((ack) => ack.status)).toEqual([200, 200]);

    const job = await use.waitForPrompt('make it pop art');
    expect(job).toMatchObject({ state: 'done', requesterId: BOB, action: 'edit' });
    expect(use.creates('make it pop art')).toHaveLength(1);
    expect(use.createBody('make it pop art').image_urls).toEqual([dataUrl(png)]);
    // Its result goes into the mentioning message's thread, under one status message.
    expect(destinationOf(job).threadTs).toBe(mention.ts);
    const statusMessages = fake
      .thread(GENERAL, mention.ts)
      .filter((m) => m.user === fake.botUserId && m.text.includes('asked for an edit'));
    expect(statusMessages).toHaveLength(1);
    expect(use.resultFiles(job)).toHaveLength(1);
    expect(harness.finished.filter((done) => done.prompt === 'make it pop art')).toHaveLength(1);
  });

  it('works in a direct message without a command', async () => {
    const { fake } = harness;
    const dm = fake.userMessage({ channel: ALICE_DM, user: ALICE, text: 'a red fox --ar 3:2' });
    await fake.deliverEvent(fake.messageEvent(ALICE_DM, dm));

    const job = await use.waitForPrompt('a red fox');
    expect(job).toMatchObject({ state: 'done', channelId: ALICE_DM, action: 'generate' });
    expect(use.createBody('a red fox')).toMatchObject({ aspect_ratio: '3:2' });
    const status = use.statusOf(job);
    expect(status.thread_ts ?? status.ts).toBe(status.ts);
    expect(use.resultFiles(job)).toHaveLength(1);
    expect(use.resultFiles(job)[0]?.channel).toBe(ALICE_DM);
  });

  it('re-rolls and edits for anyone, and deletes for the requester only', async () => {
    const { fake } = harness;
    const original = await use.generate('a lighthouse');
    const buttons = use.buttonsOf(original);

    await use.press(buttons, 'nb_reroll', BOB, original.id);
    const rerolled = await harness.waitForJob(
      (job) => job.parentJobId === original.id && job.action === 'generate',
    );
    expect(rerolled).toMatchObject({ state: 'done', requesterId: BOB, prompt: 'a lighthouse' });
    expect(destinationOf(rerolled).threadTs).toBe(destinationOf(original).threadTs);
    expect(use.creates('a lighthouse')).toHaveLength(2);

    await use.press(buttons, 'nb_edit', BOB, original.id);
    const view = await fake.waitFor(() =>
      fake.views().find((candidate) => candidate.callback_id === 'nb_edit_result'),
    );
    expect(view.userId).toBe(BOB);
    await fake.deliverInteraction(
      fake.viewSubmissionPayload({
        userId: BOB,
        view,
        values: { nb_prompt: { prompt: { type: 'plain_text_input', value: 'add a rainbow' } } },
      }),
    );
    const edited = await use.waitForPrompt('add a rainbow');
    expect(edited).toMatchObject({ state: 'done', requesterId: BOB, parentJobId: original.id });
    expect(use.createBody('add a rainbow')).toMatchObject({
      action: 'edit',
      image_urls: [dataUrl(await use.resultBytes(original))],
    });
    expect(destinationOf(edited).threadTs).toBe(destinationOf(original).threadTs);

    await use.press(buttons, 'nb_delete', BOB, original.id);
    const refusal = await fake.waitFor(() =>
      use.ephemeralsTo(BOB).find((m) => m.text.includes('can delete them')),
    );
    expect(refusal.text).toBe(
      'Only the person who asked for these images, or a workspace admin, can delete them.',
    );
    expect(use.resultFiles(original)).toHaveLength(1);

    await use.press(buttons, 'nb_delete', ALICE, original.id);
    await fake.waitFor(() => use.resultFiles(original).length === 0);
    await eventually(
      async () => (await harness.service.engine.getJob(original.id))?.delivery === undefined,
    );
    expect(fake.messages(GENERAL).some((m) => m.ts === buttons.ts)).toBe(false);
    expect(use.statusOf(original).text).toContain(`deleted by <@${ALICE}>`);
    expect(use.statusOf(original).text).not.toContain('a lighthouse');
    // The other results in the thread stay.
    expect(use.resultFiles(rerolled)).toHaveLength(1);
  });

  it('asks which image to edit when a result has several', async () => {
    const { fake } = harness;
    await use.command('two moons --count 2');
    const job = await use.waitForPrompt('two moons');
    expect(use.resultFiles(job)).toHaveLength(2);

    await use.press(use.buttonsOf(job), 'nb_edit', ALICE, job.id);
    const view = await fake.waitFor(() =>
      fake
        .views()
        .find(
          (candidate) =>
            candidate.callback_id === 'nb_edit_result' &&
            JSON.parse(candidate.private_metadata).jobId === job.id,
        ),
    );
    expect(JSON.stringify(view.blocks)).toContain('"static_select"');
    await fake.deliverInteraction(
      fake.viewSubmissionPayload({
        userId: ALICE,
        view,
        values: {
          nb_prompt: { prompt: { type: 'plain_text_input', value: 'only the second moon' } },
          nb_image: {
            image: { type: 'static_select', selected_option: { value: '1' } },
          },
        },
      }),
    );
    await use.waitForPrompt('only the second moon');
    const second = job.result?.images[1]?.url ?? '';
    const secondBytes = Buffer.from(await (await fetch(second)).arrayBuffer());
    expect(use.createBody('only the second moon').image_urls).toEqual([dataUrl(secondBytes)]);
  });

  it('keeps its buttons working after a restart', async () => {
    const { fake } = harness;
    const original = await use.generate('a windmill');
    const buttons = use.buttonsOf(original);
    await harness.restart();

    await use.press(buttons, 'nb_reroll', ALICE, original.id);
    const rerolled = await harness.waitForJob((job) => job.parentJobId === original.id);
    expect(rerolled).toMatchObject({ state: 'done', prompt: 'a windmill' });

    const viewsBefore = fake.views().length;
    await use.press(buttons, 'nb_edit', ALICE, original.id);
    // The modal opens as "one moment", then shows the form.
    const view = await fake.waitFor(() => {
      const opened = fake.views()[viewsBefore];
      return opened?.callback_id === 'nb_edit_result' ? opened : undefined;
    });
    await fake.deliverInteraction(
      fake.viewSubmissionPayload({
        userId: ALICE,
        view,
        values: { nb_prompt: { prompt: { type: 'plain_text_input', value: 'at night' } } },
      }),
    );
    const edited = await use.waitForPrompt('at night');
    expect(edited).toMatchObject({ state: 'done', action: 'edit', parentJobId: original.id });
  });

  it('reports a safety refusal in the thread, in the user’s French', async () => {
    const { fake } = harness;
    const failed = await use.generate('un chat mock:fail', FRANCOIS);
    expect(failed).toMatchObject({
      state: 'failed',
      locale: 'fr',
      error: { code: 'moderation_blocked' },
    });
    const traceId = failed.error?.traceId ?? '';
    expect(traceId).not.toBe('');

    const notice = await fake.waitFor(() => failureNotice(fake, failed));
    expect(notice.text).toBe(
      `<@${FRANCOIS}> Le filtre de sécurité a refusé cette demande, rien n’a été facturé. ` +
        `Essayez de la reformuler. (identifiant de trace\u202F: ${traceId})`,
    );
    await fake.waitFor(() => use.statusOf(failed).text.includes('❌ Le filtre de sécurité'));
    expect(use.statusOf(failed).text).toContain('a demandé une image');
  });

  it('edits the images of any message from the Edit image shortcut', async () => {
    const { fake } = harness;
    const png = await pngOf('#22aa44');
    const drawing = fake.addFile({
      name: 'tree.png',
      mimetype: 'image/png',
      bytes: png,
      userId: BOB,
    });
    const post = fake.userMessage({
      channel: GENERAL,
      user: BOB,
      text: 'my tree',
      files: [drawing],
    });

    await fake.deliverInteraction(
      fake.messageShortcutPayload({
        userId: ALICE,
        channel: GENERAL,
        message: post,
        callbackId: 'edit_image',
      }),
    );
    const view = await fake.waitFor(() =>
      fake.views().find((candidate) => candidate.callback_id === 'nb_edit_message'),
    );
    await fake.deliverInteraction(
      fake.viewSubmissionPayload({
        userId: ALICE,
        view,
        values: { nb_prompt: { prompt: { type: 'plain_text_input', value: 'in autumn' } } },
      }),
    );
    const job = await use.waitForPrompt('in autumn');
    expect(job).toMatchObject({ state: 'done', action: 'edit', requesterId: ALICE });
    expect(use.createBody('in autumn').image_urls).toEqual([dataUrl(png)]);
    expect(destinationOf(job).threadTs).toBe(post.ts);
    expect(use.resultFiles(job)).toHaveLength(1);
  });

  it('never sends the bot token, nor a Slack URL, anywhere but Slack', async () => {
    const { fake, api } = harness;
    const parent = await use.generate('a tall tower');
    const png = await pngOf('#aa00aa');
    const elsewhere = fake.addFile({
      name: 'far.png',
      mimetype: 'image/png',
      bytes: png,
      userId: ALICE,
    });
    const reply = fake.userMessage({
      channel: GENERAL,
      user: ALICE,
      text: 'with this texture',
      threadTs: destinationOf(parent).threadTs,
      files: [elsewhere],
    });
    // A file whose private URL points to another host (here the image API's): never fetched.
    const foreignPath = '/images/00000000-0000-4000-8000-000000000000.png';
    const event = fake.messageEvent(GENERAL, reply) as { files: { url_private: string }[] };
    for (const file of event.files) file.url_private = `${api.url}${foreignPath}`;
    await fake.deliverEvent(event);

    const failed = await use.waitForPrompt('with this texture');
    expect(failed.state).toBe('failed');
    const notice = await fake.waitFor(() => failureNotice(fake, failed));
    expect(notice.text).toContain('I can only read files stored on Slack');
    expect(api.calls.some((call) => call.path === foreignPath)).toBe(false);

    // Over everything this harness did: the API saw its own token only, and no Slack URL.
    expect(api.creates().length).toBeGreaterThan(5);
    for (const call of api.calls) {
      expect(JSON.stringify(call.headers)).not.toContain(fake.botToken);
      expect(JSON.stringify(call.body ?? '')).not.toContain(fake.botToken);
      expect(JSON.stringify(call.body ?? '')).not.toContain('/files-pri/');
    }
    const downloads = fake.downloads.filter((download) => download.authorization !== undefined);
    expect(downloads.length).toBeGreaterThan(0);
    for (const download of downloads) expect(download.path.startsWith('/files-pri/')).toBe(true);
    for (const secret of [fake.botToken, fake.signingSecret]) {
      expect(harness.logs.join('\n')).not.toContain(secret);
    }
  });
});

describe('a Slack app installed without the files:read scope', () => {
  let harness: SlackHarness;
  const use = helpers(() => harness);

  beforeAll(async () => {
    harness = await startSlackHarness({
      mode: 'socket',
      fake: {
        users: USERS,
        channels: [{ id: GENERAL, name: 'general' }],
        grantedScopes: DEFAULT_SCOPES.filter((scope) => scope !== 'files:read'),
      },
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('explains the sign-in page Slack sends instead of a shared file', async () => {
    const { fake } = harness;
    const shared = fake.addFile({
      name: 'sail.png',
      mimetype: 'image/png',
      bytes: await pngOf('#ffffff'),
      userId: ALICE,
    });
    const mention = fake.userMessage({
      channel: GENERAL,
      user: ALICE,
      text: `<@${fake.botUserId}> use this sail`,
      files: [shared],
    });
    await fake.deliverEvent(fake.appMentionEvent(GENERAL, mention));

    const failed = await use.waitForPrompt('use this sail');
    expect(failed.state).toBe('failed');
    expect(fake.downloads.find((download) => download.fileId === shared.id)?.served).toBe(
      'login_page',
    );
    const notice = await fake.waitFor(() => failureNotice(fake, failed));
    expect(destinationOf(failed).threadTs).toBe(mention.ts);
    expect(notice.text).toContain('Slack sent a sign-in page instead of the file');
    expect(notice.text).toContain('`files:read`');
    expect(use.creates('use this sail')).toEqual([]);
  });
});
