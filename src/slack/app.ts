import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import {
  App,
  type Logger as BoltLogger,
  HTTPReceiver,
  SocketModeReceiver,
  webApi,
} from '@slack/bolt';
import { AcceptanceGate, ConfigError, ProgressThrottle } from '../core/index.js';
import type { AdapterContext, AdapterFactory, ServiceAdapter } from '../service/adapter-context.js';
import { registerActions } from './actions.js';
import { slackAuditSink } from './audit.js';
import { boltLogger } from './bolt-logger.js';
import { registerCommand } from './command.js';
import { SlackPlatform } from './delivery.js';
import { EventClaims } from './event-claims.js';
import { registerEvents } from './events.js';
import { ExpiringSet } from './expiring-set.js';
import { registerImageActions } from './image-actions.js';
import { UserDirectory } from './locale.js';
import { registerModals } from './modals.js';
import { boltCanRoute } from './routable-body.js';
import type { BotIdentity, SlackRuntime } from './runtime.js';
import { registerServerSettings } from './server-settings.js';
import { readSlackSettings, type SlackSettings } from './settings.js';
import { registerSlackConnectGuard } from './slack-connect.js';
import { slackErrorCode } from './web-api-errors.js';

export interface SlackAdapterOptions {
  /**
   * How the Web API client retries network failures and Slack's own faults (it always waits out a
   * 429's `Retry-After`); default five retries within five minutes. Tests pass `{ retries: 0 }`.
   */
  readonly retryConfig?: webApi.RetryOptions;
  /** The shortest time between two edits of one status message; default 1,000 ms. */
  readonly progressIntervalMs?: number;
  /**
   * How calls a person is waiting on retry (opening and updating modals, reading a thread for its
   * latest image); default `QUICK_RETRIES`, a few seconds at most.
   */
  readonly quickRetryConfig?: webApi.RetryOptions;
}

/**
 * A `trigger_id` lasts 3 s: `views.open` gets a couple of quick retries within that, never the
 * five-minute budget, which would only open a modal nobody is waiting for any more.
 */
export const QUICK_RETRIES: webApi.RetryOptions = {
  retries: 2,
  factor: 2,
  minTimeout: 200,
  maxTimeout: 800,
  maxRetryTime: 2_500,
};
/** One attempt of a quick call may take this long (a long thread's page of replies included). */
const QUICK_TIMEOUT_MS = 5_000;

/** What both kinds of Bolt app are built with. */
interface AppBase {
  readonly token: string;
  readonly botId: string;
  readonly botUserId: string;
  readonly clientOptions: webApi.WebClientOptions;
  readonly logger: BoltLogger;
}

/** Where Slack sends events, commands and interactions in HTTP mode, on the shared server. */
export const EVENTS_PATH = '/slack/events';

/** Events and interactions are remembered this long, so a duplicate runs once. */
const SEEN_TTL_MS = 60 * 60_000;
/** Result threads are remembered this long, so a plain reply there is an edit. */
const THREADS_TTL_MS = 7 * 24 * 60 * 60_000;

/**
 * The Slack adapter: a Bolt app receiving over Socket Mode (`SLACK_APP_TOKEN`) or on the shared
 * HTTP server (`SLACK_SIGNING_SECRET`), and the engine's way to reach Slack.
 */
export function createSlackAdapter(options: SlackAdapterOptions = {}): AdapterFactory {
  return (context) => {
    const settings = readSlackSettings(context.env);
    if (settings === undefined) {
      throw new ConfigError(['SLACK_BOT_TOKEN: set the bot token (xoxb-…) to run the Slack bot']);
    }
    const logger = context.logger.child({ component: 'slack' });
    const clientOptions = {
      slackApiUrl: settings.apiUrl,
      retryConfig: options.retryConfig ?? webApi.retryPolicies.fiveRetriesInFiveMinutes,
      logger: boltLogger(logger.child({ source: 'web-api' })),
    };
    const client = new webApi.WebClient(settings.botToken, clientOptions);
    const quickClient = new webApi.WebClient(settings.botToken, {
      ...clientOptions,
      retryConfig: options.quickRetryConfig ?? QUICK_RETRIES,
      rejectRateLimitedCalls: true,
      timeout: QUICK_TIMEOUT_MS,
    });
    const runtime: SlackRuntime = {
      settings,
      config: context.config,
      jobs: context.jobs,
      settingsPort: context.settings,
      client,
      quickClient,
      logger,
      users: new UserDirectory(client, logger.child({ source: 'users' })),
      acceptances: new AcceptanceGate(),
      progress: new ProgressThrottle(options.progressIntervalMs ?? 1_000),
      events: new EventClaims(
        new ExpiringSet(SEEN_TTL_MS, 50_000),
        context.locks,
        logger.child({ source: 'events' }),
      ),
      threads: new ExpiringSet(THREADS_TTL_MS, 50_000),
      usableFiles: new ExpiringSet(THREADS_TTL_MS, 50_000),
      bot: { userId: '', botId: '', name: '' },
    };
    context.audit?.register(slackAuditSink(runtime, context.config.auditLocale));
    return new SlackServiceAdapter(runtime, context, clientOptions);
  };
}

/** The adapter as the service runs it: `start()` connects, `stop()` lets go. */
class SlackServiceAdapter implements ServiceAdapter {
  readonly name = 'slack';
  readonly platform: SlackPlatform;
  readonly #runtime: SlackRuntime;
  readonly #context: AdapterContext;
  readonly #clientOptions: webApi.WebClientOptions;
  #app: App | undefined;
  #connected = false;
  #accepting = false;

  constructor(
    runtime: SlackRuntime,
    context: AdapterContext,
    clientOptions: webApi.WebClientOptions,
  ) {
    this.#runtime = runtime;
    this.#context = context;
    this.#clientOptions = clientOptions;
    this.platform = new SlackPlatform(runtime);
  }

  async start(): Promise<void> {
    const { settings, logger, bot } = this.#runtime;
    Object.assign(bot, await identify(this.#runtime.client, settings));
    const log = boltLogger(logger.child({ source: 'bolt' }));
    const appOptions: AppBase = {
      token: settings.botToken,
      // Known already: Bolt then skips its own `auth.test`.
      botId: bot.botId,
      botUserId: bot.userId,
      clientOptions: this.#clientOptions,
      logger: log,
    };
    if (settings.mode === 'socket') await this.#startSocketMode(settings, appOptions);
    else this.#startHttp(settings, appOptions);
    this.#accepting = true;
    this.#connected = true;
    logger.info(
      { mode: settings.mode, bot: bot.name, command: settings.command },
      'Slack bot connected',
    );
  }

  async #startSocketMode(settings: SlackSettings, appOptions: AppBase): Promise<void> {
    const receiver = new SocketModeReceiver({
      appToken: settings.appToken ?? '',
      logger: appOptions.logger,
      // Its own client opens the connection: it must reach the same API URL.
      installerOptions: { clientOptions: this.#clientOptions },
    });
    receiver.client.on('connected', () => {
      this.#connected = true;
    });
    for (const state of ['reconnecting', 'disconnected']) {
      receiver.client.on(state, () => {
        this.#connected = false;
      });
    }
    this.#app = this.#register(new App({ ...appOptions, receiver }));
    try {
      await this.#app.start();
    } catch (error) {
      throw new Error(
        `Slack refused the Socket Mode connection (${slackErrorCode(error) ?? String(error)}): ` +
          'check SLACK_APP_TOKEN, an app-level token (xapp-…) with the connections:write scope, ' +
          'and that Socket Mode is enabled for the app',
      );
    }
  }

  /** Slack's requests come to the service's shared server; Bolt only reads them. */
  #startHttp(settings: SlackSettings, appOptions: AppBase): void {
    const { logger } = this.#runtime;
    const receiver = new HTTPReceiver({
      signingSecret: settings.signingSecret ?? '',
      endpoints: EVENTS_PATH,
      logger: appOptions.logger,
      // Bolt's own handler logs an error for each: a request nothing listens for (an unknown
      // action or command, a payload without the fields to route it) is the sender's doing.
      unhandledRequestHandler: ({ response }) => {
        logger.warn('A Slack request was not acknowledged within 3 s: nothing handles it (404)');
        if (!response.headersSent) response.writeHead(404).end();
      },
    });
    this.#app = this.#register(new App({ ...appOptions, receiver }));
    this.#context.mount(EVENTS_PATH, (request, response) =>
      this.#serve(receiver, request, response),
    );
  }

  ready(): boolean {
    return this.#accepting && this.#connected;
  }

  async stop(): Promise<void> {
    this.#accepting = false;
    this.#runtime.progress.close();
    // Over HTTP there is nothing to close: the service's server stays the service's.
    if (this.#runtime.settings.mode === 'socket') {
      try {
        await this.#app?.stop();
      } catch (error) {
        this.#runtime.logger.warn({ err: error }, 'Could not close the Socket Mode connection');
      }
    }
    this.#connected = false;
  }

  #register(app: App): App {
    // First: a sender from another organisation reaches no handler.
    registerSlackConnectGuard(app, this.#runtime);
    registerCommand(app, this.#runtime);
    registerEvents(app, this.#runtime);
    registerActions(app, this.#runtime);
    registerImageActions(app, this.#runtime);
    registerModals(app, this.#runtime);
    registerServerSettings(app, this.#runtime);
    app.error(async (error) => {
      this.#runtime.logger.error({ err: error }, 'Bolt could not handle a Slack request');
    });
    return app;
  }

  /**
   * HTTP mode: Bolt checks each request's signature and age, acks, and runs the handlers. Before
   * that, a request that cannot be Slack's (no signature headers, or too old) is refused without
   * reading its body, and a body over 1 MiB is refused as it arrives: anyone who reaches the port
   * could otherwise make the process hold megabytes per connection. The body is read here (Bolt
   * takes a request whose `rawBody` is already read), so that one Bolt cannot survive is refused
   * before it gets there.
   */
  async #serve(
    receiver: HTTPReceiver,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    if (!this.#accepting) {
      response.writeHead(503, { 'retry-after': '5' }).end();
      return;
    }
    if (!hasFreshSignatureHeaders(request.headers, Date.now())) {
      response.writeHead(401, { connection: 'close' }).end();
      return;
    }
    if (Number(request.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
      response.writeHead(413, { connection: 'close' }).end();
      return;
    }
    const body = await readBody(request, MAX_BODY_BYTES);
    if (body === 'aborted') return;
    if (body === 'too_large') {
      response.writeHead(413, { connection: 'close' }).end();
      return;
    }
    if (!boltCanRead(body, request.headers['content-type'])) {
      response.writeHead(400).end();
      return;
    }
    try {
      receiver.requestListener(Object.assign(request, { rawBody: body }), response);
    } catch {
      // Bolt throws for anything but a POST to its endpoint.
      response.writeHead(404).end();
    }
  }
}

/** Slack's events and interactions are a few kilobytes; a message with many files, a few more. */
const MAX_BODY_BYTES = 1024 * 1024;
/** Bolt refuses requests older than this, by their timestamp; so does the check before it. */
const MAX_SIGNATURE_AGE_MS = 5 * 60_000;

/**
 * Whether a request carries what every Slack request does: a `v0=` signature of the right shape
 * and a timestamp within five minutes. Only Bolt can check the signature itself (it needs the
 * body); this lets the rest be refused before their bodies are read.
 */
function hasFreshSignatureHeaders(headers: IncomingHttpHeaders, nowMs: number): boolean {
  const signature = headers['x-slack-signature'];
  const timestamp = headers['x-slack-request-timestamp'];
  if (typeof signature !== 'string' || !/^v0=[0-9a-f]{64}$/.test(signature)) return false;
  if (typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp)) return false;
  return Math.abs(nowMs - Number(timestamp) * 1000) <= MAX_SIGNATURE_AGE_MS;
}

/**
 * The whole body; `too_large` as soon as it passes `limit` (the rest is left unread, and the
 * connection is closed after the answer); `aborted` when the client went away.
 */
function readBody(
  request: IncomingMessage,
  limit: number,
): Promise<Buffer | 'too_large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (outcome: Buffer | 'too_large' | 'aborted'): void => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('close', onClose);
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        request.pause();
        settle('too_large');
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = (): void => settle(Buffer.concat(chunks, size));
    const onClose = (): void => settle(request.complete ? Buffer.concat(chunks, size) : 'aborted');
    request.on('data', onData);
    request.once('end', onEnd);
    request.once('close', onClose);
  });
}

/**
 * Whether Bolt can take a body without failing: the parsed body (JSON, or a form's `payload` field
 * as JSON) must have the shape Bolt's routing reads (`boltCanRoute`). Slack never sends another;
 * everything else Bolt refuses or routes itself.
 */
function boltCanRead(body: Buffer, contentType: string | undefined): boolean {
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    const json =
      contentType === 'application/x-www-form-urlencoded'
        ? new URLSearchParams(text).get('payload')
        : text;
    if (json === null) return true;
    parsed = JSON.parse(json);
  } catch {
    // Not JSON: Bolt answers 400 itself.
    return true;
  }
  return boltCanRoute(parsed);
}

/**
 * Asks Slack who the bot token belongs to (`auth.test`), and says plainly when the token is wrong:
 * a bad token must stop the start, not surface later as failing messages.
 */
async function identify(client: webApi.WebClient, settings: SlackSettings): Promise<BotIdentity> {
  let answer: webApi.AuthTestResponse;
  try {
    answer = await client.auth.test();
  } catch (error) {
    const code = slackErrorCode(error);
    if (code !== undefined) {
      throw new Error(
        `Slack refused SLACK_BOT_TOKEN (${code}): copy the Bot User OAuth Token (xoxb-…) from the ` +
          'app’s “OAuth & Permissions” page, and install the app to the workspace if it is not yet',
      );
    }
    throw new Error(
      `Could not reach Slack at ${settings.apiUrl} to check SLACK_BOT_TOKEN: ${String(error)}`,
    );
  }
  if (answer.user_id === undefined || answer.bot_id === undefined) {
    throw new Error('SLACK_BOT_TOKEN is not a bot token: use the Bot User OAuth Token (xoxb-…)');
  }
  return { userId: answer.user_id, botId: answer.bot_id, name: answer.user ?? 'nano-banana' };
}
