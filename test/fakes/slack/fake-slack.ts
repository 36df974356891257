/**
 * A local fake Slack for end-to-end tests and benchmarks that drive the real @slack/bolt app.
 * One HTTP server on 127.0.0.1 plays every part of Slack an app talks to:
 *
 *   POST /api/<method>                 the Web API (form-encoded, multipart or JSON bodies; the
 *                                      token from `Authorization: Bearer`, or a `token` form field)
 *   POST /upload/<file id>             the `upload_url` of files.getUploadURLExternal
 *   GET  /files-pri/<team>-<file id>/… `url_private` / `url_private_download` (Bearer bot token
 *                                      and `files:read`, else Slack's HTML sign-in page, status 200)
 *   POST /response-url/<team>/<id>     the `response_url` of commands and interactions
 *   WS   /socket?ticket=…               Socket Mode (URL from apps.connections.open, app token)
 *
 * Wiring the real Bolt (verified with @slack/bolt 5.1):
 *
 *   const fake = await startFakeSlack();           // before new App(): Bolt calls auth.test
 *   const clientOptions = { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } };
 *   // HTTP:   new App({ token: fake.botToken, signingSecret: fake.signingSecret, clientOptions })
 *   //         const server = await app.start(0);  fake.deliverTo({ url: `http://127.0.0.1:${port}/slack/events` })
 *   // Socket: new App({ token: fake.botToken, appToken: fake.appToken, socketMode: true, clientOptions })
 *   //         await app.start(); await fake.socketConnected();
 *   // Stop:   await app.stop(); await fake.socketDisconnected() (Socket Mode); await fake.close();
 *
 * Bolt hands `clientOptions` to its Socket Mode client too (as `installerOptions.clientOptions`),
 * so apps.connections.open reaches the fake. Without `retryConfig` a failing call is retried for
 * about 30 minutes. A custom `SocketModeReceiver` needs `installerOptions: { clientOptions }`.
 *
 * Driving the app: build what Slack sends (`slashCommandPayload`, `userMessage` +
 * `messageEvent` / `appMentionEvent`, `blockActionsPayload`, ...), then `deliverSlashCommand`,
 * `deliverEvent`, `deliverInteraction` send it to the app the way the current delivery target
 * needs (signed HTTP request, or Socket Mode envelope), and resolve with the app's ack. The raw
 * pieces (`signedRequest`, `slashCommandBody`, `eventBody`, `interactionBody`, `sendEnvelope`)
 * are there for tests of the transport itself.
 *
 * Inspecting: `calls` (every Web API call: method, parsed args with JSON fields like `blocks`
 * parsed, headers, the answer), `uploads`, `downloads` (with the Authorization header received),
 * `responses` (response_url posts), `envelopes` (Socket Mode, with acks); the workspace state the
 * bot produced: `messages(channel)`, `thread(channel, ts)`, `files()`, `views()`. Objects are
 * Slack-shaped (snake_case); the few fake-only fields are camelCase (`ephemeralTo`, `bytes`,
 * `state`, `channel`, `threadTs`, `userId`).
 *
 * Faults: `failNext(target, fault)` for a Web API method or for 'upload' / 'download' /
 * 'response_url'; `requestSocketReconnect()`, `dropSocketConnections()`; `latencyMs` delays every
 * Web API, upload and download answer (benchmarks); `setLatency(method, ms)` one Web API method's
 * (a slow `users.info`); `holdChannel(channel)` leaves every Web API call naming that channel
 * unanswered until released (a channel whose posts hang).
 *
 * Slack's deadlines, on by default: the app must ack a command, event or interaction delivered
 * through `deliver*` within 3 s (`ackDeadlineMs`); a later ack is recorded in `lateAcks` (and
 * `Delivery.late`), which tests check stays empty. A `trigger_id` opens a view within 3 s, as
 * Slack's: later, `views.open` / `views.push` answer `expired_trigger_id`. A `response_url` works
 * 5 times within 30 minutes, then answers 404 `used_url` / `expired_url`. Time-based rules read
 * the fake's clock (`now`), which `advanceClock` moves on instead of a test waiting.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request as undiciRequest } from 'undici';
import {
  appMentionEvent,
  type BlockActionSpec,
  blockActionsPayload,
  eventCallback,
  interactionBody,
  type MessageShortcutSpec,
  messageEvent,
  messageShortcutPayload,
  type SlashCommandPayload,
  type SlashCommandSpec,
  slashCommandBody,
  slashCommandPayload,
  type UserMessageSpec,
  userMessage,
  type ViewSubmissionSpec,
  viewSubmissionPayload,
} from './payloads.js';
import { type SignedRequest, type SignOptions, signSlackRequest } from './signing.js';
import {
  DEFAULT_WAIT_MS,
  type EnvelopeOptions,
  type EnvelopeType,
  type RecordedEnvelope,
  type SocketAck,
  SocketModeHub,
} from './socket-mode.js';
import { type ApiArgs, answerWebApi, type TokenKind } from './web-api.js';
import {
  DEFAULT_SCOPES,
  type FakeSlackChannelSpec,
  type FakeSlackFile,
  type FakeSlackMessage,
  type FakeSlackUserSpec,
  type FakeSlackView,
  RESPONSE_URL_LIFETIME_MS,
  RESPONSE_URL_USES,
  Workspace,
} from './workspace.js';

export interface FakeSlackOptions {
  /** Default `xoxb-test-bot-token`. Web API calls must carry it, else `invalid_auth`. */
  botToken?: string;
  /** Default `xapp-test-app-token`; the only token apps.connections.open takes. */
  appToken?: string;
  /** Default `test-signing-secret`; signs HTTP deliveries to the app. */
  signingSecret?: string;
  /** Default `T0FAKETEAM`. */
  teamId?: string;
  /** Default `fake-team`. */
  teamDomain?: string;
  /** Default `U0FAKEBOT1`. */
  botUserId?: string;
  /** Default `B0FAKEBOT1`. */
  botId?: string;
  /** Default `A0FAKEAPP1`. */
  appId?: string;
  /** Default `nano-banana`. */
  botName?: string;
  /** Default one user, `U0FAKEUSR1` (`alice`, locale `en-US`). */
  users?: FakeSlackUserSpec[];
  /** Default one public channel with the bot in it, `C0FAKECHN1` (`general`). DMs with known
   * users open on demand (`chat.postMessage` to a user id). */
  channels?: FakeSlackChannelSpec[];
  /** Default `DEFAULT_SCOPES`. A missing scope answers `missing_scope`; without `files:read`
   * private file downloads get the HTML sign-in page. */
  grantedScopes?: readonly string[];
  /** Delay before every Web API, upload and download answer, in ms; default 0. */
  latencyMs?: number;
  /** Clock for timestamps, trigger ids and response URLs (ms since the epoch); default
   * `Date.now`. `advanceClock` adds to it. */
  now?: () => number;
  /** How long the app has to ack a delivery before it is recorded as late; default 3000 ms, as
   * Slack's. Measured in real time, since it is the app's speed that counts. */
  ackDeadlineMs?: number;
  /** Port to listen on; default 0 (a free one). */
  port?: number;
}

export interface RecordedApiCall {
  /** e.g. `chat.postMessage`. */
  method: string;
  /** Parsed form / JSON / query fields; JSON-valued fields (`blocks`, `files`, `view`, ...)
   * parsed; multipart file parts as Buffers. */
  args: ApiArgs;
  /** Request headers, lower-case names. */
  headers: Record<string, string>;
  /** Milliseconds since the epoch, when the call arrived. */
  at: number;
  status: number;
  /** The JSON answered. */
  response: unknown;
}

export interface RecordedUpload {
  fileId: string;
  filename: string;
  bytes: Buffer;
  /** The request's content type: multipart bodies are unpacked, raw ones stored as sent. */
  contentType: string;
  authorization: string | undefined;
  at: number;
  status: number;
}

export interface RecordedDownload {
  path: string;
  fileId: string | undefined;
  /** The Authorization header as received (undefined when none was sent). */
  authorization: string | undefined;
  at: number;
  status: number;
  /** What was answered: the bytes, Slack's sign-in page, a 404, or an injected fault. */
  served: 'file' | 'login_page' | 'not_found' | 'fault';
}

export interface RecordedResponse {
  /** The response URL's id. */
  id: string;
  /** The JSON the app posted (`text`, `blocks`, `response_type`, `replace_original`, ...). */
  body: unknown;
  channel: string | undefined;
  user: string | undefined;
  at: number;
  status: number;
}

/** A fault for the next call to a target. A string is a Web API error code (`{ok: false,
 * error}`); `status` answers that HTTP status (`retryAfter` seconds as `Retry-After`, Slack's
 * rate limit when 429); `drop` closes the connection without an answer. For 'upload',
 * 'download' and 'response_url' a string is answered as HTTP 500 with that text. `headers` are
 * added to the answer (a `location`, to make a download redirect). `afterApplying` (Web API
 * methods) lets the call take effect, then closes the connection (`drop`) or never answers
 * (`hold`, until the fake closes): Slack did the work, the app never learned of it. */
export type FakeSlackFault =
  | string
  | { status: number; retryAfter?: number; body?: string; headers?: Record<string, string> }
  | { drop: true }
  | { afterApplying: 'drop' | 'hold' };

export type DeliveryTarget = { url: string } | 'socket';

export interface Delivery {
  /** HTTP status of the app's answer; 200 for a Socket Mode ack. */
  status: number;
  /** The ack's body: parsed JSON, text, or the Socket Mode ack payload; undefined when empty. */
  body: unknown;
  /** Socket Mode only. */
  envelopeId?: string;
  /** How long the app took to ack, in ms of real time. */
  ackMs: number;
  /** Whether that was over the ack deadline (Slack would have shown the user an error). */
  late: boolean;
}

/** A delivery the app acked after the deadline (or never, within the delivery's wait). */
export interface RecordedLateAck {
  kind: EnvelopeType;
  via: 'http' | 'socket';
  /** The command, event type or interaction type delivered. */
  what: string;
  /** How long the ack took, in ms; undefined when none came. */
  ackMs: number | undefined;
}

export interface DeliveryOptions {
  /** How long to wait for the app's answer; default 5000 ms. */
  timeoutMs?: number;
  /** Mark it as Slack's n-th redelivery (`x-slack-retry-num` / envelope `retry_attempt`). */
  retryNum?: number;
  retryReason?: string;
}

export interface FakeSlack {
  /** `http://127.0.0.1:PORT/api/`: Bolt's `clientOptions.slackApiUrl`. */
  readonly apiUrl: string;
  /** Origin of the file host (upload URLs and `url_private`); the same server. */
  readonly fileHostOrigin: string;
  readonly port: number;
  readonly botToken: string;
  readonly appToken: string;
  readonly signingSecret: string;
  readonly teamId: string;
  readonly botUserId: string;
  readonly botId: string;
  readonly appId: string;

  /** Every Web API call, in order of arrival. */
  readonly calls: readonly RecordedApiCall[];
  callsTo(method: string): RecordedApiCall[];
  readonly uploads: readonly RecordedUpload[];
  readonly downloads: readonly RecordedDownload[];
  readonly responses: readonly RecordedResponse[];
  readonly envelopes: readonly RecordedEnvelope[];
  /** Deliveries acked after the deadline (3 s), or not at all. Tests expect it empty. */
  readonly lateAcks: readonly RecordedLateAck[];
  /** Empties the records above (not the workspace), e.g. between benchmark rounds. */
  clearRecords(): void;

  /** Every message in a channel, oldest first, thread replies and ephemeral ones included. */
  messages(channel: string): FakeSlackMessage[];
  /** A thread's parent and replies, oldest first. */
  thread(channel: string, threadTs: string): FakeSlackMessage[];
  /** Every file: user files from `addFile`, the app's uploads (see `state`). */
  files(): FakeSlackFile[];
  /** Modals opened or updated by the app. */
  views(): FakeSlackView[];

  addUser(spec: FakeSlackUserSpec): void;
  addChannel(spec: FakeSlackChannelSpec): void;
  /** A file a user shared, with `url_private` on the fake's file host, for event payloads. */
  addFile(spec: {
    name: string;
    mimetype?: string;
    bytes: Buffer;
    userId?: string;
    title?: string;
    width?: number;
    height?: number;
  }): FakeSlackFile;
  /** Stores a message typed by a user (in `conversations.replies` from then on). */
  userMessage(spec: UserMessageSpec): FakeSlackMessage;

  // What Slack sends (objects):
  slashCommandPayload(spec: SlashCommandSpec): SlashCommandPayload;
  messageEvent(channel: string, message: FakeSlackMessage): Record<string, unknown>;
  appMentionEvent(channel: string, message: FakeSlackMessage): Record<string, unknown>;
  /** The `event_callback` envelope around an event (the body of an Events API delivery). */
  eventCallback(event: object): Record<string, unknown>;
  blockActionsPayload(spec: BlockActionSpec): Record<string, unknown>;
  viewSubmissionPayload(spec: ViewSubmissionSpec): Record<string, unknown>;
  messageShortcutPayload(spec: MessageShortcutSpec): Record<string, unknown>;

  // ... as HTTP bodies, and signed:
  slashCommandBody(spec: SlashCommandSpec): string;
  eventBody(event: object): string;
  interactionBody(payload: object): string;
  /** Headers Slack signs with (`x-slack-signature`, `x-slack-request-timestamp`, content type).
   * The secret defaults to the fake's `signingSecret`. */
  signedRequest(body: string, options?: SignOptions & { signingSecret?: string }): SignedRequest;

  // Delivering to the app:
  /** Where `deliver*` send: the app's HTTP endpoint (signed requests), or its Socket Mode
   * connection; default 'socket'. */
  deliverTo(target: DeliveryTarget): void;
  deliverSlashCommand(spec: SlashCommandSpec, options?: DeliveryOptions): Promise<Delivery>;
  /** `event` is the inner event; the `event_callback` envelope is added. */
  deliverEvent(event: object, options?: DeliveryOptions): Promise<Delivery>;
  deliverInteraction(payload: object, options?: DeliveryOptions): Promise<Delivery>;

  // Socket Mode:
  /**
   * Resolves once the app's socket client is connected and greeted (bounded wait); with `count`,
   * once that many are (one per process of a fleet). Envelopes are spread among them in turn.
   */
  socketConnected(options?: { timeoutMs?: number; count?: number }): Promise<void>;
  /** How many app connections are open (one per process of a fleet), oldest first in `sendEnvelope`'s `connection`. */
  socketConnections(): number;
  /** Resolves once no socket client is connected (await after `app.stop()`). */
  socketDisconnected(options?: { timeoutMs?: number }): Promise<void>;
  /** Sends an envelope and resolves with the app's ack (bounded wait; rejects without one). */
  sendEnvelope(type: EnvelopeType, payload: object, options?: EnvelopeOptions): Promise<SocketAck>;
  /** Sends `{type: 'disconnect', reason}`: the client reconnects through apps.connections.open. */
  requestSocketReconnect(reason?: string): void;
  /** Cuts the socket connections without a close handshake. */
  dropSocketConnections(): void;

  /** Moves the fake's clock on (trigger ids and response URLs age; timestamps follow). */
  advanceClock(ms: number): void;

  // Faults and waiting:
  failNext(target: string, fault: FakeSlackFault): void;
  /**
   * The next file download waits, unanswered (recorded in `downloads` with status 0), until the
   * returned function is called or the fake closes: a test acts while the app is fetching a file.
   */
  holdNextDownload(): () => void;
  /** Delays every answer of one Web API method by `ms` from now on (0: back to `latencyMs`). */
  setLatency(method: string, ms: number): void;
  /**
   * Every Web API call whose `channel` is this one waits, unanswered (recorded with status 0),
   * until the returned function is called or the fake closes.
   */
  holdChannel(channel: string): () => void;
  /** Polls `predicate` until it returns something other than undefined/false (bounded). */
  waitFor<T>(predicate: () => T | undefined | false, options?: { timeoutMs?: number }): Promise<T>;
  close(): Promise<void>;
}

/** The defaults, for tests that want to name them. */
export const FAKE_SLACK_DEFAULTS = {
  botToken: 'xoxb-test-bot-token',
  appToken: 'xapp-test-app-token',
  signingSecret: 'test-signing-secret',
  teamId: 'T0FAKETEAM',
  teamDomain: 'fake-team',
  botUserId: 'U0FAKEBOT1',
  botId: 'B0FAKEBOT1',
  appId: 'A0FAKEAPP1',
  botName: 'nano-banana',
  userId: 'U0FAKEUSR1',
  channelId: 'C0FAKECHN1',
} as const;

/** Fields whose form values are JSON, parsed in `RecordedApiCall.args` and for the handlers. */
const JSON_FIELDS = new Set([
  'blocks',
  'attachments',
  'files',
  'view',
  'metadata',
  'unfurls',
  'user_auth_blocks',
]);

const LOGIN_PAGE = [
  '<!DOCTYPE html><html lang="en-US"><head><meta charset="utf-8">',
  '<title>Sign in | Slack</title></head><body>',
  '<h1>Sign in to your workspace</h1>',
  '<form action="/signin" method="post"><input type="email" name="email">',
  '<button type="submit">Sign in with email</button></form></body></html>',
].join('');

const POLL_INTERVAL_MS = 5;

/** Slack shows the user an error when the app has not acked within 3 s. */
export const ACK_DEADLINE_MS = 3_000;

export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const botToken = options.botToken ?? FAKE_SLACK_DEFAULTS.botToken;
  const appToken = options.appToken ?? FAKE_SLACK_DEFAULTS.appToken;
  const signingSecret = options.signingSecret ?? FAKE_SLACK_DEFAULTS.signingSecret;
  const baseNow = options.now ?? Date.now;
  let clockOffsetMs = 0;
  const now = () => baseNow() + clockOffsetMs;
  const ackDeadlineMs = options.ackDeadlineMs ?? ACK_DEADLINE_MS;
  const latencyMs = options.latencyMs ?? 0;
  const scopes = new Set(options.grantedScopes ?? DEFAULT_SCOPES);
  const workspace = new Workspace({
    teamId: options.teamId ?? FAKE_SLACK_DEFAULTS.teamId,
    teamDomain: options.teamDomain ?? FAKE_SLACK_DEFAULTS.teamDomain,
    botUserId: options.botUserId ?? FAKE_SLACK_DEFAULTS.botUserId,
    botId: options.botId ?? FAKE_SLACK_DEFAULTS.botId,
    appId: options.appId ?? FAKE_SLACK_DEFAULTS.appId,
    botName: options.botName ?? FAKE_SLACK_DEFAULTS.botName,
    users: options.users ?? [{ id: FAKE_SLACK_DEFAULTS.userId, name: 'alice', locale: 'en-US' }],
    channels: options.channels ?? [{ id: FAKE_SLACK_DEFAULTS.channelId, name: 'general' }],
    now,
  });
  const hub = new SocketModeHub({ appId: workspace.settings.appId, now });
  const calls: RecordedApiCall[] = [];
  const uploads: RecordedUpload[] = [];
  const downloads: RecordedDownload[] = [];
  /** Releases of the downloads to hold (`holdNextDownload`), oldest first. */
  const downloadHolds: Promise<void>[] = [];
  const downloadReleases: (() => void)[] = [];
  const responses: RecordedResponse[] = [];
  const lateAcks: RecordedLateAck[] = [];
  const faults = new Map<string, FakeSlackFault[]>();
  const methodLatencies = new Map<string, number>();
  /** Channels whose calls wait (`holdChannel`), with what releases them. */
  const channelHolds = new Map<string, { held: Promise<void>; release: () => void }>();
  const sockets = new Set<Socket>();
  // Its own pool for deliveries to the app, so that close() leaves no connection behind.
  const agent = new Agent({ keepAliveTimeout: 1_000 });
  let deliveryTarget: DeliveryTarget = 'socket';
  let closed = false;

  const takeFault = (target: string): FakeSlackFault | undefined => {
    const queue = faults.get(target);
    const fault = queue?.shift();
    if (queue !== undefined && queue.length === 0) faults.delete(target);
    return fault;
  };

  const tokenKind = (token: string | undefined): TokenKind | undefined | null => {
    if (token === undefined || token === '') return undefined;
    if (token === botToken) return 'bot';
    if (token === appToken) return 'app';
    return null;
  };

  /** Answers a fault; true when it did. */
  const answerFault = (
    response: ServerResponse,
    fault: FakeSlackFault | undefined,
    asWebApi: boolean,
  ): boolean => {
    if (fault === undefined) return false;
    if (typeof fault === 'string') {
      if (asWebApi) sendJson(response, 200, { ok: false, error: fault });
      else sendText(response, 500, fault);
      return true;
    }
    if ('drop' in fault || 'afterApplying' in fault) {
      response.socket?.destroy();
      return true;
    }
    const headers: Record<string, string> = { ...fault.headers };
    if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
    if (fault.body !== undefined) sendText(response, fault.status, fault.body, headers);
    else if (fault.status === 429) {
      sendJson(response, 429, { ok: false, error: 'ratelimited' }, headers);
    } else sendText(response, fault.status, '', headers);
    return true;
  };

  const handleWebApi = async (
    request: IncomingMessage,
    response: ServerResponse,
    method: string,
    url: URL,
  ): Promise<void> => {
    const raw = await readBody(request);
    const contentType = request.headers['content-type'] ?? '';
    const { args, tokenInBody } = await parseApiArgs(contentType, raw, url);
    const call: RecordedApiCall = {
      method,
      args,
      headers: flattenHeaders(request.headers),
      at: now(),
      status: 0,
      response: undefined,
    };
    calls.push(call);
    const delay = methodLatencies.get(method) ?? latencyMs;
    if (delay > 0) await sleep(delay);
    const channelHold =
      typeof args.channel === 'string' ? channelHolds.get(args.channel) : undefined;
    if (channelHold !== undefined) await channelHold.held;
    const fault = takeFault(method);
    const bearer = bearerToken(request.headers.authorization);
    const apply = () =>
      answerWebApi(method, args, tokenKind(bearer ?? tokenInBody), {
        workspace,
        scopes,
        openSocketUrl: () => hub.issueUrl(),
      });
    if (fault !== undefined && typeof fault === 'object' && 'afterApplying' in fault) {
      // Done at Slack (the answer Slack made is recorded), yet the app never receives it.
      call.response = apply().body;
      if (fault.afterApplying === 'drop') response.socket?.destroy();
      return;
    }
    if (fault !== undefined) {
      call.status = typeof fault === 'string' ? 200 : 'drop' in fault ? 0 : fault.status;
      call.response = typeof fault === 'string' ? { ok: false, error: fault } : fault;
      answerFault(response, fault, true);
      return;
    }
    const answer = apply();
    call.status = 200;
    call.response = answer.body;
    sendJson(response, 200, answer.body, answer.headers);
  };

  const handleUpload = async (
    request: IncomingMessage,
    response: ServerResponse,
    fileId: string,
  ): Promise<void> => {
    const raw = await readBody(request);
    const contentType = request.headers['content-type'] ?? '';
    const file = workspace.files.get(fileId);
    const upload: RecordedUpload = {
      fileId,
      filename: file?.name ?? '',
      bytes: raw,
      contentType,
      authorization: request.headers.authorization,
      at: now(),
      status: 0,
    };
    uploads.push(upload);
    if (latencyMs > 0) await sleep(latencyMs);
    const fault = takeFault('upload');
    if (fault !== undefined) {
      upload.status = typeof fault === 'string' ? 500 : 'status' in fault ? fault.status : 0;
      answerFault(response, fault, false);
      return;
    }
    if (file === undefined || file.state !== 'awaiting_upload') {
      upload.status = 404;
      sendText(response, 404, 'Not Found');
      return;
    }
    // Slack takes the bytes raw or as the (first) file part of a multipart form.
    const bytes = contentType.startsWith('multipart/form-data')
      ? await firstFilePart(contentType, raw)
      : raw;
    upload.bytes = bytes;
    file.bytes = bytes;
    file.size = bytes.length;
    file.state = 'uploaded';
    upload.status = 200;
    sendText(response, 200, `OK - ${bytes.length}`);
  };

  const handleDownload = async (
    request: IncomingMessage,
    response: ServerResponse,
    path: string,
    fileId: string | undefined,
  ): Promise<void> => {
    const authorization = request.headers.authorization;
    const download: RecordedDownload = {
      path,
      fileId,
      authorization,
      at: now(),
      status: 0,
      served: 'not_found',
    };
    downloads.push(download);
    const hold = downloadHolds.shift();
    if (hold !== undefined) await hold;
    if (latencyMs > 0) await sleep(latencyMs);
    const fault = takeFault('download');
    if (fault !== undefined) {
      download.served = 'fault';
      download.status = typeof fault === 'string' ? 500 : 'status' in fault ? fault.status : 0;
      answerFault(response, fault, false);
      return;
    }
    const file = fileId === undefined ? undefined : workspace.files.get(fileId);
    if (file === undefined || file.state === 'awaiting_upload') {
      download.status = 404;
      sendHtml(response, 404, '<!DOCTYPE html><html><body>Not found</body></html>');
      return;
    }
    const authorized = bearerToken(authorization) === botToken && scopes.has('files:read');
    if (!authorized) {
      download.status = 200;
      download.served = 'login_page';
      sendHtml(response, 200, LOGIN_PAGE);
      return;
    }
    download.status = 200;
    download.served = 'file';
    response.writeHead(200, {
      'content-type': file.mimetype,
      'content-length': String(file.bytes.length),
    });
    response.end(file.bytes);
  };

  const handleResponseUrl = async (
    request: IncomingMessage,
    response: ServerResponse,
    id: string,
  ): Promise<void> => {
    const raw = await readBody(request);
    const binding = workspace.responseUrl(id);
    const body = parseJson(raw.toString('utf8'));
    const recorded: RecordedResponse = {
      id,
      body,
      channel: binding?.context.channel,
      user: binding?.context.user,
      at: now(),
      status: 0,
    };
    responses.push(recorded);
    const fault = takeFault('response_url');
    if (fault !== undefined) {
      recorded.status = typeof fault === 'string' ? 500 : 'status' in fault ? fault.status : 0;
      answerFault(response, fault, false);
      return;
    }
    if (binding === undefined) {
      recorded.status = 404;
      sendJson(response, 404, { ok: false, error: 'invalid_url' });
      return;
    }
    if (now() - binding.issuedAt > RESPONSE_URL_LIFETIME_MS) {
      recorded.status = 404;
      sendJson(response, 404, { ok: false, error: 'expired_url' });
      return;
    }
    binding.uses += 1;
    if (binding.uses > RESPONSE_URL_USES) {
      recorded.status = 404;
      sendJson(response, 404, { ok: false, error: 'used_url' });
      return;
    }
    if (typeof body !== 'object' || body === null) {
      recorded.status = 400;
      sendJson(response, 400, { ok: false, error: 'invalid_payload' });
      return;
    }
    applyResponse(workspace, binding.context, body as Record<string, unknown>);
    recorded.status = 200;
    sendJson(response, 200, { ok: true });
  };

  const route = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://fake');
    const path = url.pathname;
    const apiMatch = /^\/api\/([A-Za-z0-9._]+)$/.exec(path);
    if (apiMatch?.[1] !== undefined && (request.method === 'POST' || request.method === 'GET')) {
      return handleWebApi(request, response, apiMatch[1], url);
    }
    const uploadMatch = /^\/upload\/([A-Z0-9]+)$/.exec(path);
    if (uploadMatch?.[1] !== undefined && request.method === 'POST') {
      return handleUpload(request, response, uploadMatch[1]);
    }
    if (path.startsWith('/files-pri/') && request.method === 'GET') {
      const fileMatch = /^\/files-pri\/[A-Z0-9]+-([A-Z0-9]+)\/(?:download\/)?[^/]+$/.exec(path);
      return handleDownload(request, response, path, fileMatch?.[1]);
    }
    const responseMatch = /^\/response-url\/[A-Z0-9]+\/([A-Z0-9]+)$/.exec(path);
    if (responseMatch?.[1] !== undefined && request.method === 'POST') {
      return handleResponseUrl(request, response, responseMatch[1]);
    }
    sendText(response, 404, 'Not Found');
  };

  const server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendText(response, 500, `fake Slack error: ${String(error)}`);
      else response.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (request, socket, head) => {
    hub.handleUpgrade(request, socket, head);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  workspace.origin = origin;
  hub.setOrigin(origin);

  /** Times one delivery's ack against the deadline; records it when late or missing. */
  const timeAck = async <T>(
    kind: EnvelopeType,
    via: 'http' | 'socket',
    what: string,
    deliver: () => Promise<T>,
  ): Promise<{ answer: T; ackMs: number; late: boolean }> => {
    const started = performance.now();
    let answer: T;
    try {
      answer = await deliver();
    } catch (error) {
      lateAcks.push({ kind, via, what, ackMs: undefined });
      throw error;
    }
    const ackMs = Math.round(performance.now() - started);
    const late = ackMs > ackDeadlineMs;
    if (late) lateAcks.push({ kind, via, what, ackMs });
    return { answer, ackMs, late };
  };

  const deliverHttp = async (
    kind: EnvelopeType,
    what: string,
    url: string,
    body: string,
    options: DeliveryOptions,
  ): Promise<Delivery> => {
    const signOptions: SignOptions = {};
    if (options.retryNum !== undefined) signOptions.retryNum = options.retryNum;
    if (options.retryReason !== undefined) signOptions.retryReason = options.retryReason;
    const signed = signSlackRequest(signingSecret, body, signOptions);
    // Slack counts the ack as given when the answer's status line arrives.
    const { answer, ackMs, late } = await timeAck(kind, 'http', what, () =>
      undiciRequest(url, {
        method: 'POST',
        headers: signed.headers,
        body: signed.body,
        dispatcher: agent,
        signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_WAIT_MS),
      }),
    );
    const text = await answer.body.text();
    return {
      status: answer.statusCode,
      body: text === '' ? undefined : parseJson(text),
      ackMs,
      late,
    };
  };

  const deliverSocket = async (
    type: EnvelopeType,
    payload: object,
    options: DeliveryOptions,
  ): Promise<Delivery> => {
    const envelopeOptions: EnvelopeOptions = {};
    if (options.timeoutMs !== undefined) envelopeOptions.timeoutMs = options.timeoutMs;
    if (options.retryNum !== undefined) envelopeOptions.retryAttempt = options.retryNum;
    if (options.retryReason !== undefined) envelopeOptions.retryReason = options.retryReason;
    const { answer, ackMs, late } = await timeAck(type, 'socket', describePayload(payload), () =>
      hub.send(type, payload, envelopeOptions),
    );
    return { status: 200, body: answer.payload, envelopeId: answer.envelope_id, ackMs, late };
  };

  const fake: FakeSlack = {
    apiUrl: `${origin}/api/`,
    fileHostOrigin: origin,
    port,
    botToken,
    appToken,
    signingSecret,
    teamId: workspace.settings.teamId,
    botUserId: workspace.settings.botUserId,
    botId: workspace.settings.botId,
    appId: workspace.settings.appId,

    calls,
    callsTo: (method) => calls.filter((call) => call.method === method),
    uploads,
    downloads,
    responses,
    envelopes: hub.envelopes,
    lateAcks,
    clearRecords: () => {
      for (const list of [calls, uploads, downloads, responses, hub.envelopes, lateAcks]) {
        list.length = 0;
      }
    },

    messages: (channel) => [...workspace.messages(channel)],
    thread: (channel, threadTs) => workspace.thread(channel, threadTs),
    files: () => [...workspace.files.values()],
    views: () => [...workspace.views.values()],

    addUser: (spec) => {
      workspace.users.set(spec.id, { spec });
    },
    addChannel: (spec) => {
      workspace.addChannel(spec);
    },
    addFile: (spec) =>
      workspace.newFile({
        name: spec.name,
        title: spec.title,
        mimetype: spec.mimetype,
        userId: spec.userId ?? [...workspace.users.keys()][0] ?? FAKE_SLACK_DEFAULTS.userId,
        bytes: spec.bytes,
        width: spec.width,
        height: spec.height,
        state: 'shared',
      }),
    userMessage: (spec) => userMessage(workspace, spec),

    slashCommandPayload: (spec) => slashCommandPayload(workspace, spec),
    messageEvent: (channel, message) => messageEvent(workspace, channel, message),
    appMentionEvent: (channel, message) => appMentionEvent(channel, message),
    eventCallback: (event) => eventCallback(workspace, event),
    blockActionsPayload: (spec) => blockActionsPayload(workspace, spec),
    viewSubmissionPayload: (spec) => viewSubmissionPayload(workspace, spec),
    messageShortcutPayload: (spec) => messageShortcutPayload(workspace, spec),

    slashCommandBody: (spec) => slashCommandBody(workspace, spec),
    eventBody: (event) => JSON.stringify(eventCallback(workspace, event)),
    interactionBody: (payload) => interactionBody(payload),
    signedRequest: (body, signOptions = {}) => {
      const { signingSecret: secret, ...rest } = signOptions;
      return signSlackRequest(secret ?? signingSecret, body, rest);
    },

    deliverTo: (target) => {
      deliveryTarget = target;
    },
    deliverSlashCommand: (spec, deliveryOptions = {}) =>
      deliveryTarget === 'socket'
        ? deliverSocket('slash_commands', slashCommandPayload(workspace, spec), deliveryOptions)
        : deliverHttp(
            'slash_commands',
            spec.command,
            deliveryTarget.url,
            slashCommandBody(workspace, spec),
            deliveryOptions,
          ),
    deliverEvent: (event, deliveryOptions = {}) => {
      const envelope = eventCallback(workspace, event);
      return deliveryTarget === 'socket'
        ? deliverSocket('events_api', envelope, deliveryOptions)
        : deliverHttp(
            'events_api',
            describePayload(envelope),
            deliveryTarget.url,
            JSON.stringify(envelope),
            deliveryOptions,
          );
    },
    deliverInteraction: (payload, deliveryOptions = {}) =>
      deliveryTarget === 'socket'
        ? deliverSocket('interactive', payload, deliveryOptions)
        : deliverHttp(
            'interactive',
            describePayload(payload),
            deliveryTarget.url,
            interactionBody(payload),
            deliveryOptions,
          ),

    socketConnected: (waitOptions = {}) => hub.connected(waitOptions.timeoutMs, waitOptions.count),
    socketConnections: () => hub.openConnectionCount(),
    socketDisconnected: (waitOptions = {}) => hub.disconnected(waitOptions.timeoutMs),
    sendEnvelope: (type, payload, envelopeOptions) => hub.send(type, payload, envelopeOptions),
    requestSocketReconnect: (reason) => hub.requestReconnect(reason),
    dropSocketConnections: () => hub.dropConnections(),

    advanceClock: (ms) => {
      clockOffsetMs += ms;
    },
    holdNextDownload: () => {
      let release = (): void => {};
      downloadHolds.push(
        new Promise<void>((resolve) => {
          release = resolve;
        }),
      );
      downloadReleases.push(release);
      return release;
    },
    holdChannel: (channel) => {
      let release = (): void => {};
      const held = new Promise<void>((resolve) => {
        release = () => {
          channelHolds.delete(channel);
          resolve();
        };
      });
      channelHolds.set(channel, { held, release });
      return release;
    },
    setLatency: (method, ms) => {
      if (ms > 0) methodLatencies.set(method, ms);
      else methodLatencies.delete(method);
    },
    failNext: (target, fault) => {
      const queue = faults.get(target) ?? [];
      queue.push(fault);
      faults.set(target, queue);
    },
    waitFor: async <T>(
      predicate: () => T | undefined | false,
      waitOptions: { timeoutMs?: number } = {},
    ): Promise<T> => {
      const timeoutMs = waitOptions.timeoutMs ?? DEFAULT_WAIT_MS;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = predicate();
        if (value !== undefined && value !== false) return value;
        if (Date.now() >= deadline) {
          throw new Error(`fake Slack: waitFor timed out after ${timeoutMs} ms`);
        }
        await sleep(POLL_INTERVAL_MS);
      }
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const release of downloadReleases) release();
      for (const { release } of [...channelHolds.values()]) release();
      await hub.close();
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await Promise.all([serverClosed, agent.close()]);
    },
  };
  return fake;
}

/** A delivery's name in `lateAcks`: the command, the event's type, or the interaction's. */
function describePayload(payload: object): string {
  const { command, type, event } = payload as {
    command?: unknown;
    type?: unknown;
    event?: unknown;
  };
  if (typeof command === 'string') return command;
  const eventType = (event as { type?: unknown } | undefined)?.type;
  if (typeof eventType === 'string') return eventType;
  return typeof type === 'string' ? type : 'unknown';
}

/** What a `response_url` answer does: a new message (ephemeral unless `in_channel`), or a
 * change to the message the interaction came from. */
function applyResponse(
  workspace: Workspace,
  context: { channel: string; user: string; messageTs?: string | undefined },
  body: Record<string, unknown>,
): void {
  const original =
    context.messageTs === undefined
      ? undefined
      : workspace.findMessage(context.channel, context.messageTs);
  if (body.delete_original === true || body.delete_original === 'true') {
    if (original !== undefined) workspace.removeMessage(context.channel, original.ts);
    return;
  }
  const text = typeof body.text === 'string' ? body.text : '';
  const blocks = Array.isArray(body.blocks) ? body.blocks : undefined;
  if ((body.replace_original === true || body.replace_original === 'true') && original) {
    original.text = text;
    if (blocks === undefined) delete original.blocks;
    else original.blocks = blocks;
    return;
  }
  const message = workspace.botMessage({
    text,
    blocks,
    thread_ts: typeof body.thread_ts === 'string' ? body.thread_ts : undefined,
  });
  if (body.response_type !== 'in_channel') message.ephemeralTo = context.user;
  workspace.addMessage(context.channel, message);
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function parseApiArgs(
  contentType: string,
  raw: Buffer,
  url: URL,
): Promise<{ args: ApiArgs; tokenInBody: string | undefined }> {
  const args: ApiArgs = {};
  for (const [key, value] of url.searchParams) args[key] = value;
  let tokenAllowedInBody = true;
  if (contentType.startsWith('application/json')) {
    // Slack takes the token of a JSON call from the Authorization header only.
    tokenAllowedInBody = false;
    const parsed = parseJson(raw.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      Object.assign(args, parsed);
    }
  } else if (contentType.startsWith('multipart/form-data')) {
    const form = await new Request('http://fake/', {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: raw,
    }).formData();
    for (const [key, value] of form) {
      args[key] = typeof value === 'string' ? value : Buffer.from(await value.arrayBuffer());
    }
  } else if (raw.length > 0) {
    for (const [key, value] of new URLSearchParams(raw.toString('utf8'))) args[key] = value;
  }
  for (const key of JSON_FIELDS) {
    const value = args[key];
    if (typeof value === 'string' && /^\s*[[{]/.test(value)) {
      const parsed = parseJson(value);
      if (typeof parsed === 'object') args[key] = parsed;
    }
  }
  const token = args.token;
  return {
    args,
    tokenInBody: tokenAllowedInBody && typeof token === 'string' ? token : undefined,
  };
}

async function firstFilePart(contentType: string, raw: Buffer): Promise<Buffer> {
  const form = await new Request('http://fake/', {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: raw,
  }).formData();
  for (const [, value] of form) {
    if (typeof value !== 'string') return Buffer.from(await value.arrayBuffer());
  }
  return Buffer.alloc(0);
}

function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  return match?.[1];
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/** Parsed JSON, or the text itself when it is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
  });
  response.end(text);
}

function sendText(
  response: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, {
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
  });
  response.end(text);
}

function sendHtml(response: ServerResponse, status: number, html: string): void {
  response.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(html)),
  });
  response.end(html);
}
