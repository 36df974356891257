import { type MockApi, type MockTask, startMockApi } from '../../src/mock-api/index.js';
import {
  FakeDiscord,
  type FakeDiscordOptions,
  type FakeInteraction,
} from '../../test/fakes/discord/index.js';
import { type FakeSlack, startFakeSlack } from '../../test/fakes/slack/index.js';
import { type BotOptions, type BotProcess, startBot } from './bot-process.js';

/**
 * What a benchmark measures the bot against, all on 127.0.0.1 in the benchmark's process: the
 * mock image API (a fixed simulated generation time, images drawn before a task reports done) and
 * the fake Discord and Slack that drive the real discord.js and Bolt in the bot's process.
 */

export const API_TOKEN = 'bench-api-token';
export const SLACK_CHANNEL = 'C0BENCHCH1';

export interface WorldOptions {
  /** The simulated generation time of every task, in ms. */
  readonly apiDelayMs: number;
  /** Photo-like results (large PNGs that shrink well as JPEGs) instead of flat pictures. */
  readonly photo?: boolean;
  readonly discord?: boolean;
  /** The fake Discord's guilds and gateway (shards), when the defaults do not do. */
  readonly discordOptions?: FakeDiscordOptions;
  /** Slack in Socket Mode (the default an admin gets) or over HTTP; none when undefined. */
  readonly slack?: 'socket' | 'http' | undefined;
  /** Slack users the fake knows (`slackUser(0)` ...); default 50. */
  readonly slackUsers?: number;
}

export interface World {
  readonly api: MockApi;
  readonly discord: FakeDiscord | undefined;
  readonly slack: FakeSlack | undefined;
  /**
   * Starts the bot with every configured platform and more settings, and waits until it is
   * ready and connected to each fake.
   */
  startBot(env?: Record<string, string>, options?: Omit<BotOptions, 'env'>): Promise<BotProcess>;
  close(): Promise<void>;
}

/** Discord user ids the fake accepts (snowflake-shaped). */
export function discordUser(index: number): string {
  return `7${String(index).padStart(17, '0')}`;
}

export function slackUser(index: number): string {
  return `U0B${String(index).padStart(7, '0')}`;
}

export async function startWorld(options: WorldOptions): Promise<World> {
  const api = await startMockApi({
    token: API_TOKEN,
    delayMs: options.apiDelayMs,
    photo: options.photo ?? false,
    drawBeforeFinish: true,
  });
  const discord = options.discord ? await FakeDiscord.start(options.discordOptions) : undefined;
  const slackUsers = options.slackUsers ?? 50;
  const slack =
    options.slack === undefined
      ? undefined
      : await startFakeSlack({
          users: Array.from({ length: slackUsers }, (_, index) => ({
            id: slackUser(index),
            name: `user${index}`,
            locale: 'en-US',
          })),
          channels: [{ id: SLACK_CHANNEL, name: 'general' }],
        });
  const bots: BotProcess[] = [];

  return {
    api,
    discord,
    slack,
    startBot: async (env = {}, botOptions = {}) => {
      const settings: Record<string, string> = {
        ACEDATA_API_TOKEN: API_TOKEN,
        ACEDATA_BASE_URL: api.url,
        ...(discord === undefined
          ? {}
          : { DISCORD_TOKEN: discord.botToken, DISCORD_API_URL: discord.apiUrl }),
        ...(slack === undefined
          ? {}
          : {
              SLACK_BOT_TOKEN: slack.botToken,
              SLACK_API_URL: slack.apiUrl,
              ...(options.slack === 'socket'
                ? { SLACK_APP_TOKEN: slack.appToken }
                : { SLACK_SIGNING_SECRET: slack.signingSecret }),
            }),
        ...env,
      };
      const bot = await startBot({ ...botOptions, env: settings });
      bots.push(bot);
      if (discord !== undefined) {
        await discord.ready();
        // `start` registers the commands; options are typed from them.
        await discord.waitFor(() =>
          discord.commands().some((command) => command.name === 'imagine'),
        );
      }
      if (slack !== undefined) {
        if (options.slack === 'http') slack.deliverTo({ url: `${bot.url}/slack/events` });
        else await slack.socketConnected({ timeoutMs: 15_000 });
      }
      return bot;
    },
    close: async () => {
      await Promise.allSettled(bots.map((bot) => bot.stop()));
      await discord?.close();
      await slack?.close();
      await api.close();
    },
  };
}

// ---------------------------------------------------------------- Discord

export interface SentInteraction {
  readonly interaction: FakeInteraction;
  /** Date.now() just before the fake dispatched INTERACTION_CREATE. */
  readonly sentAt: number;
}

export function imagineOnDiscord(
  discord: FakeDiscord,
  prompt: string,
  userId: string,
): SentInteraction {
  const sentAt = Date.now();
  const interaction = discord.sendSlashCommand({
    name: 'imagine',
    options: { prompt },
    userId,
  });
  return { interaction, sentAt };
}

/** When the fake received the interaction's first callback (the defer), and its type. */
export function firstCallback(
  discord: FakeDiscord,
  interaction: FakeInteraction,
): { at: number; type: number } | undefined {
  const call = discord.calls.find(
    (candidate) =>
      candidate.route.startsWith('POST /interactions/') &&
      candidate.path.includes(`/${interaction.id}/`),
  );
  if (call === undefined) return undefined;
  return { at: call.at, type: (call.json as { type?: number } | undefined)?.type ?? 0 };
}

/** When the fake received the interaction's images (the first call carrying files for it). */
export function imagesDelivered(
  discord: FakeDiscord,
  interaction: FakeInteraction,
): { at: number; files: { contentType: string; bytes: Buffer }[] } | undefined {
  const call = discord.calls.find(
    (candidate) =>
      candidate.files.length > 0 &&
      candidate.status < 300 &&
      candidate.path.includes(interaction.token),
  );
  return call === undefined ? undefined : { at: call.at, files: call.files };
}

// ---------------------------------------------------------------- Slack

/** Sends `/imagine <text>` and resolves with the ack's status and the time it took, in ms. */
export async function imagineOnSlack(
  slack: FakeSlack,
  text: string,
  userId: string,
): Promise<{ status: number; ackMs: number }> {
  const started = performance.now();
  const ack = await slack.deliverSlashCommand(
    { command: '/imagine', text, userId, channelId: SLACK_CHANNEL },
    { timeoutMs: 10_000 },
  );
  return { status: ack.status, ackMs: performance.now() - started };
}

/** Files the bot uploaded, in any thread. */
export function botUploads(slack: FakeSlack): number {
  return slack.files().filter((file) => file.user === slack.botUserId).length;
}

// ---------------------------------------------------------------- the mock API

/** The task whose prompt holds `tag` (prompts are made unique by a tag). */
export function taskTagged(api: MockApi, tag: string): MockTask | undefined {
  for (const task of api.tasks.values()) {
    if (String((task.request as { prompt?: unknown }).prompt).includes(tag)) return task;
  }
  return undefined;
}

/** When the task's create arrived (ms since the epoch). */
export function createdAt(api: MockApi, task: MockTask): number {
  const call = api
    .creates()
    .find((candidate) => (candidate.body as { prompt?: unknown }) === task.request);
  if (call === undefined) throw new Error(`no create for task ${task.id}`);
  return call.at;
}

/** When the task finished (ms since the epoch); the mock keeps fractional seconds. */
export function finishedAt(task: MockTask): number {
  if (task.finishedAt === undefined) throw new Error(`task ${task.id} has not finished`);
  return task.finishedAt * 1000;
}

/** When the first retrieval asking for the task after it finished arrived. */
export function retrievalAfterFinish(api: MockApi, task: MockTask): number | undefined {
  const finished = finishedAt(task);
  return api.retrievals().find((call) => call.at >= finished && asksFor(call.body, task.id))?.at;
}

function asksFor(body: unknown, taskId: string): boolean {
  const request = body as { id?: unknown; ids?: unknown } | undefined;
  return request?.id === taskId || (Array.isArray(request?.ids) && request.ids.includes(taskId));
}

/** When the first download of the task's first image arrived: the bot holds the result then. */
export function firstImageRequest(api: MockApi, task: MockTask): number | undefined {
  const response = task.response;
  if (response === undefined || !response.success) return undefined;
  const url = response.data[0]?.image_url;
  if (url === undefined) return undefined;
  const imagePath = new URL(url).pathname;
  return api.calls.find((call) => call.method === 'GET' && call.path === imagePath)?.at;
}

// ---------------------------------------------------------------- the bot's metrics

export interface BotCounts {
  readonly done: number;
  readonly failed: number;
  readonly queued: number;
  readonly inFlight: number;
  readonly retrievals: number;
}

/** Reads the bot's /metrics: jobs ended by outcome, waiting, in flight, retrievals sent. */
export async function botCounts(bot: BotProcess): Promise<BotCounts> {
  const response = await fetch(`${bot.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  const sum = (pattern: RegExp) =>
    text
      .split('\n')
      .filter((line) => pattern.test(line))
      .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  return {
    done: sum(/^nano_banana_jobs_total\{outcome="done"/),
    failed: sum(/^nano_banana_jobs_total\{outcome="failed"/),
    queued: sum(/^nano_banana_queue_depth /),
    inFlight: sum(/^nano_banana_jobs_in_flight /),
    retrievals: sum(/^nano_banana_task_retrievals_total /),
  };
}
