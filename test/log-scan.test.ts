import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeInteraction } from './fakes/discord/index.js';
import { type FakeSlack, startFakeSlack } from './fakes/slack/index.js';

/**
 * Issue 9 §3: a real `nano-banana start` (the built command, in a process of its own, at the
 * `debug` level) against the fake Discord and Slack and the mock API, made to fail in every way
 * the platforms fail; then everything it printed is searched for a credential.
 */

const API_TOKEN = 'log-scan-api-token-5f3a9c';
const METRICS_TOKEN = 'log-scan-metrics-token-77b1';
const ALICE = 'U0LOGSCAN1';
const GENERAL = 'C0LOGSCAN1';
const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin/nano-banana.js');

let api: MockApi;
let discord: FakeDiscord;
let slack: FakeSlack;
let child: ChildProcess | undefined;
/** Everything the process printed, standard output and error. */
let output = '';

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first');
  }
  api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
  discord = await FakeDiscord.start();
  slack = await startFakeSlack({
    users: [{ id: ALICE, name: 'alice', locale: 'en-US' }],
    channels: [{ id: GENERAL, name: 'general' }],
  });
});
afterAll(async () => {
  // To read what was printed: LOG_SCAN_DUMP=/tmp/out.txt npx vitest run test/log-scan.test.ts
  if (process.env.LOG_SCAN_DUMP) writeFileSync(process.env.LOG_SCAN_DUMP, output);
  if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
  await discord?.close();
  await slack?.close();
  await api?.close();
});

describe('what a real bot process prints while Discord and Slack fail', () => {
  it('holds no token, secret or interaction token, and no request body', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'nb-log-scan-'));
    child = spawn(process.execPath, [BIN, 'start'], {
      cwd,
      env: {
        PATH: process.env.PATH ?? '',
        ACEDATA_API_TOKEN: API_TOKEN,
        ACEDATA_BASE_URL: api.url,
        METRICS_TOKEN,
        DATA_DIR: path.join(cwd, 'data'),
        PORT: '0',
        LOG_LEVEL: 'debug',
        NANO_BANANA_POLL_INTERVAL_MS: '100',
        NANO_BANANA_SHUTDOWN_GRACE: '2s',
        DISCORD_TOKEN: discord.botToken,
        DISCORD_API_URL: discord.apiUrl,
        SLACK_BOT_TOKEN: slack.botToken,
        SLACK_API_URL: slack.apiUrl,
        SLACK_SIGNING_SECRET: slack.signingSecret,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const running = child;
    running.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    running.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => running.once('exit', resolve));

    const port = await discord.waitFor(() => /"port":(\d+)/.exec(output)?.[1], {
      timeoutMs: 20_000,
      description: `the running line in:\n${output.slice(-2_000)}`,
    });
    slack.deliverTo({ url: `http://127.0.0.1:${port}/slack/events` });
    await discord.ready();
    await discord.waitFor(() => discord.commands().some((command) => command.name === 'imagine'));

    const interactions: FakeInteraction[] = [];
    const imagine = (prompt: string): FakeInteraction => {
      const interaction = discord.sendSlashCommand({ name: 'imagine', options: { prompt } });
      interactions.push(interaction);
      return interaction;
    };
    const callsFor = (interaction: FakeInteraction) =>
      discord.calls.filter((call) => call.path.includes(interaction.token));
    const count = (pattern: RegExp): number => output.match(pattern)?.length ?? 0;
    const jobsEnded = () => count(/"msg":"Job (delivered|failed)"/g);
    /** Runs `act`, then waits (bounded) for one more line matching `pattern`. */
    const andThen = async (pattern: RegExp, act: () => unknown): Promise<void> => {
      const before = count(pattern);
      await act();
      await discord.waitFor(() => count(pattern) > before || undefined, {
        timeoutMs: 20_000,
        description: `a line matching ${pattern}`,
      });
    };
    const JOB_ENDED = /"msg":"Job (delivered|failed)"/g;

    // Discord 1: the interaction's webhook refuses its token once the job is under way.
    await andThen(JOB_ENDED, async () => {
      const refused = imagine('refused webhook');
      await discord.waitFor(() => callsFor(refused).length > 0 || undefined);
      discord.expireInteractionToken(refused.id);
    });
    // Discord 2: the defer itself fails with a 500; then the webhook edits of another job do.
    await andThen(/"msg":"Interaction failed"/g, () => {
      // discord.js tries a 5xx four times.
      for (let index = 0; index < 4; index += 1) {
        discord.failNext('POST /interactions/:interactionId/:token/callback', 500);
      }
      imagine('defer fails');
    });
    await andThen(JOB_ENDED, () => {
      for (let index = 0; index < 4; index += 1) {
        discord.failNext('PATCH /webhooks/:applicationId/:token/messages/:messageId', 500);
      }
      imagine('server errors');
    });
    // Discord 3: an upload refused as too large (the request carries the image's bytes). The
    // limit drops after the interaction told the bot the usual one.
    await andThen(JOB_ENDED, () => {
      imagine('upload refused');
      discord.setUploadLimit(100);
    });
    discord.setUploadLimit(10 * 1024 * 1024);
    expect(jobsEnded()).toBe(3);

    // Slack 1: the upload fails; then a status message is refused with a 500.
    const command = (text: string) =>
      slack.deliverSlashCommand({ command: '/imagine', text, userId: ALICE, channelId: GENERAL });
    await andThen(JOB_ENDED, async () => {
      slack.failNext('upload', 'upload exploded');
      await command('slack upload fails');
    });
    // (The Web API client tries a 500 again, and the job goes on.)
    await andThen(JOB_ENDED, async () => {
      slack.failNext('chat.postMessage', { status: 500 });
      await command('slack post fails');
    });

    // Slack 2: a shared file whose details must be asked for, and files.info fails; then a
    // file whose download fails.
    const png = await sharp({
      create: { width: 16, height: 16, channels: 3, background: 'teal' },
    })
      .png()
      .toBuffer();
    const hidden = slack.addFile({ name: 'hidden.png', bytes: png, userId: ALICE });
    await andThen(/"level":40/g, async () => {
      slack.failNext('files.info', 'file_not_found');
      const mention = slack.userMessage({
        channel: GENERAL,
        user: ALICE,
        text: `<@${slack.botUserId}> make it blue`,
        files: [hidden],
      });
      const event = slack.appMentionEvent(GENERAL, mention) as {
        files: Record<string, unknown>[];
      };
      for (const file of event.files) {
        delete file.url_private;
        delete file.url_private_download;
        delete file.mimetype;
      }
      await slack.deliverEvent(event);
    });
    const broken = slack.addFile({ name: 'broken.png', bytes: png, userId: ALICE });
    await andThen(JOB_ENDED, async () => {
      slack.failNext('download', 'download exploded');
      const mention = slack.userMessage({
        channel: GENERAL,
        user: ALICE,
        text: `<@${slack.botUserId}> make it red`,
        files: [broken],
      });
      await slack.deliverEvent(slack.appMentionEvent(GENERAL, mention));
    });
    expect(slack.uploads.some((upload) => upload.status >= 500)).toBe(true);
    expect(slack.callsTo('files.info').length).toBeGreaterThan(0);
    expect(slack.downloads.some((download) => download.served === 'fault')).toBe(true);

    running.kill('SIGTERM');
    const code = await exited;
    expect(code).toBe(0);

    // The failures were logged (so the scan below looked at something).
    const secrets = new Map<string, string>([
      ['the API token', API_TOKEN],
      ['METRICS_TOKEN', METRICS_TOKEN],
      ['the Discord bot token', discord.botToken],
      ['the Slack bot token', slack.botToken],
      ['the Slack signing secret', slack.signingSecret],
      ...interactions.map(
        (interaction) =>
          [`interaction ${interaction.id}'s token`, interaction.token] as [string, string],
      ),
    ]);
    for (const file of [hidden, broken]) {
      secrets.set(`${file.name}'s private URL`, new URL(file.url_private).pathname);
    }
    for (const [what, secret] of secrets) {
      expect(output.includes(secret), `${what} was printed`).toBe(false);
    }
    // No request body: no line near the size of an image, no bytes as a number array.
    const lines = output.split('\n');
    const longest = Math.max(...lines.map((line) => line.length));
    expect(longest, 'the longest line printed').toBeLessThan(16_384);
    expect(/\[(\d{1,3},){64}/.test(output), 'bytes as a number array').toBe(false);
    // Failures were logged, errors with them, and a Discord route with its token masked: the
    // scan above looked at something.
    expect(count(/"err":\{/g), 'lines with an error').toBeGreaterThanOrEqual(3);
    expect(/\/(webhooks|interactions)\/:id\/:token/.test(output), 'a masked route').toBe(true);
    expect(output.includes('file_not_found'), 'the files.info error').toBe(true);
  }, 120_000);
});
