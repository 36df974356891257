/**
 * A local server that speaks AceData Cloud's Nano Banana API (see shared/api/nano-banana-api.md),
 * so that admins can try the bots without spending credits and tests and benchmarks have a fast,
 * controllable counterpart.
 *
 * Routes:
 *   POST /nano-banana/images   create (sync, `async: true`, or `callback_url`)
 *   POST /nano-banana/tasks    `retrieve` one task, `retrieve_batch` up to 50
 *   GET  /images/<id>.png      the result images, drawn on first request (or before the task
 *                              finishes, with `drawBeforeFinish`) and cached; flat pictures,
 *                              photo-like ones (`photo`) or noise (`incompressible`)
 *
 * Prompt directives, so that every path can be tried from a chat (also in `MOCK_DIRECTIVES`):
 *   mock:error=<code>    the create answers that API error at once (used_up→403, forbidden→403,
 *                        invalid_token→401, token_expired→401, bad_request→400,
 *                        request_too_large→413, too_many_requests→429, api_error→500, no_api→404)
 *   mock:fail[=<code>]   the task ends in failure after the delay (default code `forbidden`, a
 *                        safety refusal): its `response` and any callback get
 *                        `{success: false, task_id, trace_id, error: {code, message}}`, and a
 *                        synchronous create answers that error (403 for `forbidden`)
 *   mock:noimage         the task succeeds with an empty `data`
 *   mock:delay=<ms>      this task takes that long instead of the server's delay
 *   mock:incompressible  the images are random noise, too big to shrink (size-limit paths)
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import sharp from 'sharp';
import { Agent, request as undiciRequest } from 'undici';
import {
  ASPECT_RATIOS,
  type AspectRatio,
  createModelCatalog,
  isAspectRatio,
  isResolution,
  MAX_COUNT,
  MAX_INPUT_IMAGES,
  MIN_COUNT,
  type ModelCatalog,
  outputSize,
  type Resolution,
} from '../core/models.js';
import { drawImage, ImageCache, type ImageSpec } from './draw.js';

export interface MockApiOptions {
  /** Port to listen on; default 0 (a free one). */
  port?: number;
  /** Address to listen on; default `127.0.0.1`. */
  host?: string;
  /** The accepted bearer token; when undefined any non-empty token is accepted. */
  token?: string;
  /** Simulated generation time in milliseconds; default 2000. */
  delayMs?: number;
  /** Every image random noise (hard to compress), to test size limits; default false. */
  incompressible?: boolean;
  /**
   * Every image photo-like (soft shapes and fine grain: a large PNG that shrinks well as a JPEG,
   * like a real result) instead of a flat colour; `mock:incompressible` still gives noise.
   * Default false.
   */
  photo?: boolean;
  /**
   * Draw a task's images before it reports finished, as the real API has them ready when it says
   * done; default false (drawn on first download). Benchmarks set it so that downloads time the
   * bot, not the mock's drawing. `finishTask` still finishes at once.
   */
  drawBeforeFinish?: boolean;
  /**
   * A fault plan for creates, for load tests that need a steady, reproducible pattern: called with
   * each create's index (0 for the first create received, every create counted) and answering
   * that failure when it returns one. Failures queued by `failNextCreates` come first.
   */
  createFaults?: (createIndex: number) => MockFailure | undefined;
  /** The models accepted; default the built-in catalogue. */
  catalog?: ModelCatalog;
  logger?: { info(...args: unknown[]): void };
}

export interface RecordedCall {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or undefined for an empty or unparsable body. */
  body: unknown;
  bodyBytes: number;
  /** Milliseconds since the epoch, when the request arrived. */
  at: number;
  /** The status answered; 0 while unanswered, and for dropped or hung requests. */
  status: number;
}

export type MockFailure =
  | {
      status: number;
      code?: string;
      message?: string;
      /** Seconds, sent as `Retry-After`. */
      retryAfter?: number;
      /** `error` as a bare string instead of `{code, message}`. */
      errorAsString?: boolean;
      /** An empty body. */
      noBody?: boolean;
    }
  | 'drop'
  | 'hang';

/** How a task ends: images, success with no image, or a failure with an API error code. */
export type MockTaskOutcome = 'images' | 'noimage' | { fail: string; message?: string };

/** One download of a result image, as a fault plan sees it. */
export interface MockImageDownload {
  /** The prompt of the task that made it. */
  readonly prompt: string;
  /** 1-based position in the task's `data`, of `count`. */
  readonly index: number;
  readonly count: number;
  /** 1 for the first download of this image, 2 for the next... */
  readonly attempt: number;
}

export interface MockImage {
  readonly prompt: string;
  readonly image_url: string;
}

/** The `response` of a finished task; a callback receives the same object. */
export type MockTaskResponse =
  | { success: true; task_id: string; trace_id: string; data: MockImage[] }
  | { success: false; task_id: string; trace_id: string; error: { code: string; message: string } };

export interface MockTask {
  readonly id: string;
  readonly traceId: string;
  /** How the create asked to be answered. */
  readonly mode: 'sync' | 'async' | 'callback';
  /** The create body as sent, `data:` URLs included. */
  readonly request: Readonly<Record<string, unknown>>;
  /** Unix seconds. */
  readonly createdAt: number;
  readonly startedAt: number;
  readonly finishedAt: number | undefined;
  readonly delayMs: number;
  /** The pixel size of its images. */
  readonly width: number;
  readonly height: number;
  readonly outcome: MockTaskOutcome;
  /** Undefined while pending. */
  readonly response: MockTaskResponse | undefined;
  readonly callbackUrl: string | undefined;
}

export interface CallbackDelivery {
  readonly taskId: string;
  readonly url: string;
  /** Milliseconds since the epoch, when the delivery ended. */
  readonly at: number;
  /** The receiver's status, when it answered. */
  readonly status?: number;
  /** Why the delivery failed, when it did not reach the receiver. */
  readonly error?: string;
}

export interface MockApi {
  /** Base URL, e.g. `http://127.0.0.1:PORT`; clients append `/nano-banana/images`. */
  readonly url: string;
  readonly port: number;
  /** Every request, in order of arrival (creates, retrievals, image downloads). */
  readonly calls: RecordedCall[];
  creates(): RecordedCall[];
  retrievals(): RecordedCall[];
  readonly tasks: ReadonlyMap<string, MockTask>;
  /** Every callback attempt, in order. */
  readonly callbacks: CallbackDelivery[];
  /** Queues canned answers for the next creates, first in first out. */
  failNextCreates(...failures: MockFailure[]): void;
  failNextRetrievals(...failures: MockFailure[]): void;
  /**
   * A fault plan for result-image downloads (a CDN that hiccups, or loses one image for good):
   * called for each download, answering that failure when it returns one. Undefined clears it.
   */
  setImageFaults(
    plan: ((download: MockImageDownload) => MockFailure | undefined) | undefined,
  ): void;
  /** Makes a pending task end in failure or with no image when it finishes. */
  setTaskOutcome(taskId: string, outcome: MockTaskOutcome): void;
  /** The delay of tasks created from now on. */
  setDelay(ms: number): void;
  /** Finishes a pending task now, whatever its delay. */
  finishTask(taskId: string): void;
  /**
   * Holds the tasks created from now on (those `which` accepts, when given): they stay pending
   * past their delay until released. Tests keep a job running for as long as they need this way,
   * instead of racing a delay. A later call replaces the filter.
   */
  hold(which?: (task: MockTask) => boolean): void;
  /**
   * Releases one held task, the hold staying on for new ones; without an id, every held task and
   * the hold ends. A released task finishes once its delay has run, at once if it has already.
   */
  release(taskId?: string): void;
  /** Closes the server and every socket, and clears every timer. */
  close(): Promise<void>;
}

export interface MockDirective {
  readonly syntax: string;
  readonly effect: string;
}

export const MOCK_DIRECTIVES: readonly MockDirective[] = [
  {
    syntax: 'mock:error=<code>',
    effect:
      'the create answers that API error at once (used_up, forbidden, invalid_token, ' +
      'token_expired, bad_request, request_too_large, too_many_requests, api_error, no_api)',
  },
  {
    syntax: 'mock:fail[=<code>]',
    effect: 'the task ends in failure after the delay (default forbidden: a safety refusal)',
  },
  { syntax: 'mock:noimage', effect: 'the task succeeds without any image' },
  { syntax: 'mock:delay=<ms>', effect: 'this task takes that many milliseconds' },
  { syntax: 'mock:incompressible', effect: 'random-noise images, too big to shrink' },
];

/** The status the real API answers with each error code. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  bad_request: 400,
  token_mismatched: 400,
  api_not_implemented: 400,
  disabled: 400,
  no_token: 400,
  invalid_token: 401,
  token_expired: 401,
  used_up: 403,
  forbidden: 403,
  no_api: 404,
  not_found: 404,
  request_too_large: 413,
  too_many_requests: 429,
  api_error: 500,
};

const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'bad_request',
  401: 'invalid_token',
  403: 'forbidden',
  404: 'no_api',
  413: 'request_too_large',
  429: 'too_many_requests',
};

const MESSAGE_BY_CODE: Readonly<Record<string, string>> = {
  bad_request: 'Bad request.',
  token_mismatched: 'The token does not match this service.',
  api_not_implemented: 'This API is not implemented.',
  disabled: 'The application is disabled.',
  no_token: 'No token was given.',
  invalid_token: 'Invalid token.',
  token_expired: 'The token has expired.',
  used_up: 'Your balance is used up, please recharge.',
  forbidden: 'The request was refused by the content safety policy.',
  no_api: 'No such API.',
  not_found: 'task not found',
  request_too_large: 'The request is too large.',
  too_many_requests: 'Too many requests, please slow down.',
  api_error: 'Internal server error.',
};

const CREATE_PATH = '/nano-banana/images';
const TASKS_PATH = '/nano-banana/tasks';
const IMAGE_PATH = /^\/images\/([0-9a-f-]{36})\.png$/;

function imageIdOf(imageUrl: string): string {
  return IMAGE_PATH.exec(new URL(imageUrl).pathname)?.[1] ?? '';
}
const MAX_BATCH_IDS = 50;
/** The documented limit for one input image. */
const MAX_INPUT_IMAGE_BYTES = 10 * 1024 * 1024;
/** Far above any valid request (16 images of 10 MB in base64); guards the mock's memory. */
const MAX_BODY_BYTES = 256 * 1024 * 1024;
const MAX_DIRECTIVE_DELAY_MS = 3_600_000;
const DEFAULT_DELAY_MS = 2000;

interface ApiError {
  status: number;
  code: string;
  message: string;
}

function apiError(code: string, message?: string, status?: number): ApiError {
  return {
    status: status ?? STATUS_BY_CODE[code] ?? 500,
    code,
    message: message ?? MESSAGE_BY_CODE[code] ?? code,
  };
}

/** Directives read from a prompt. */
interface Directives {
  error?: string;
  fail?: string;
  noImage: boolean;
  delayMs?: number;
  incompressible: boolean;
}

function parseDirectives(prompt: string): Directives {
  const directives: Directives = { noImage: false, incompressible: false };
  for (const match of prompt.matchAll(/\bmock:([a-z]+)(?:=([^\s,;]+))?/gi)) {
    const name = (match[1] ?? '').toLowerCase();
    const value = match[2];
    if (name === 'error' && value !== undefined) directives.error = value.toLowerCase();
    else if (name === 'fail') directives.fail = (value ?? 'forbidden').toLowerCase();
    else if (name === 'noimage') directives.noImage = true;
    else if (name === 'incompressible') directives.incompressible = true;
    else if (name === 'delay' && value !== undefined) {
      const delayMs = Number(value);
      if (Number.isFinite(delayMs) && delayMs >= 0) {
        directives.delayMs = Math.min(delayMs, MAX_DIRECTIVE_DELAY_MS);
      }
    }
  }
  return directives;
}

/** A create body that passed validation. */
interface CreateRequest {
  body: Record<string, unknown>;
  prompt: string;
  model: string;
  imageUrls: string[];
  aspectRatio: AspectRatio | undefined;
  resolution: Resolution | undefined;
  count: number;
  async: boolean;
  callbackUrl: string | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Absent and `null` both mean "not given", as in the real API's optional fields. */
function field(body: Record<string, unknown>, name: string): unknown {
  const value = body[name];
  return value === null ? undefined : value;
}

function validateCreate(body: unknown, catalog: ModelCatalog): CreateRequest | ApiError {
  const bad = (message: string) => apiError('bad_request', message);
  if (!isRecord(body)) return bad('The body must be a JSON object.');
  const action = field(body, 'action');
  if (action !== 'generate' && action !== 'edit') {
    return bad('action is required and must be one of: generate, edit.');
  }
  const prompt = field(body, 'prompt');
  if (typeof prompt !== 'string' || prompt.trim() === '') return bad('prompt is required.');

  const modelValue = field(body, 'model') ?? 'nano-banana';
  // The real API knows no aliases: `pro` must be refused even though the bot understands it.
  const model = typeof modelValue === 'string' ? catalog.find(modelValue) : undefined;
  if (model === undefined || model.id !== modelValue) {
    return bad(`model must be one of: ${catalog.modelIds.join(', ')}.`);
  }

  const imageUrlsValue = field(body, 'image_urls') ?? [];
  if (!Array.isArray(imageUrlsValue) || imageUrlsValue.some((url) => typeof url !== 'string')) {
    return bad('image_urls must be an array of strings.');
  }
  const imageUrls = imageUrlsValue as string[];
  if (imageUrls.length > MAX_INPUT_IMAGES) {
    return apiError(
      'request_too_large',
      `Too many images: ${imageUrls.length}, at most ${MAX_INPUT_IMAGES}.`,
    );
  }
  for (const [position, url] of imageUrls.entries()) {
    if (url.startsWith('data:')) {
      const comma = url.indexOf(',');
      if (!/^data:image\/[a-z0-9.+-]+;base64$/i.test(url.slice(0, Math.max(comma, 0)))) {
        return bad(`image_urls[${position}] is not a base64 image data URL.`);
      }
      if (((url.length - comma - 1) * 3) / 4 > MAX_INPUT_IMAGE_BYTES) {
        return apiError('request_too_large', `image_urls[${position}] is larger than 10 MB.`);
      }
    } else if (!/^https?:\/\/\S+$/i.test(url)) {
      return bad(`image_urls[${position}] must be an http(s) or data: URL.`);
    }
  }
  if (action === 'edit' && imageUrls.length === 0) return bad('image_urls is required for edit.');

  const aspectRatioValue = field(body, 'aspect_ratio');
  if (
    aspectRatioValue !== undefined &&
    (typeof aspectRatioValue !== 'string' || !isAspectRatio(aspectRatioValue))
  ) {
    return bad(`aspect_ratio must be one of: ${ASPECT_RATIOS.join(', ')}.`);
  }
  const resolutionValue = field(body, 'resolution');
  if (
    resolutionValue !== undefined &&
    (typeof resolutionValue !== 'string' || !isResolution(resolutionValue))
  ) {
    return bad('resolution must be one of: 1K, 2K, 4K.');
  }
  if (resolutionValue !== undefined && !model.resolutions.includes(resolutionValue)) {
    return bad(`resolution ${resolutionValue} is not supported by ${model.id}.`);
  }
  const countValue = field(body, 'count') ?? 1;
  if (
    typeof countValue !== 'number' ||
    !Number.isInteger(countValue) ||
    countValue < MIN_COUNT ||
    countValue > MAX_COUNT
  ) {
    return bad(`count must be a whole number from ${MIN_COUNT} to ${MAX_COUNT}.`);
  }
  const asyncValue = field(body, 'async') ?? false;
  if (typeof asyncValue !== 'boolean') return bad('async must be a boolean.');
  const callbackUrl = field(body, 'callback_url');
  if (callbackUrl !== undefined && (typeof callbackUrl !== 'string' || !isHttpUrl(callbackUrl))) {
    return bad('callback_url must be an http(s) URL.');
  }
  return {
    body,
    prompt,
    model: model.id,
    imageUrls,
    aspectRatio: aspectRatioValue,
    resolution: resolutionValue,
    count: countValue,
    async: asyncValue,
    callbackUrl,
  };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * For an edit without `aspect_ratio` the output follows the first input image. Only `data:` URLs
 * are read (the mock never fetches the internet); anything unreadable counts as square.
 */
async function ratioOfFirstImage(imageUrls: readonly string[]): Promise<AspectRatio> {
  const first = imageUrls[0];
  if (first === undefined || !first.startsWith('data:')) return '1:1';
  try {
    const bytes = Buffer.from(first.slice(first.indexOf(',') + 1), 'base64');
    const { width, height } = await sharp(bytes).metadata();
    if (!width || !height) return '1:1';
    let best: AspectRatio = '1:1';
    let bestDistance = Number.POSITIVE_INFINITY;
    for (const ratio of ASPECT_RATIOS) {
      const [across = 1, down = 1] = ratio.split(':').map(Number);
      const distance = Math.abs(Math.log(width / height) - Math.log(across / down));
      if (distance < bestDistance) {
        best = ratio;
        bestDistance = distance;
      }
    }
    return best;
  } catch {
    return '1:1';
  }
}

const nowSeconds = () => Date.now() / 1000;

class TaskRecord implements MockTask {
  readonly createdAt = nowSeconds();
  readonly startedAt = this.createdAt;
  finishedAt: number | undefined;
  outcome: MockTaskOutcome;
  response: MockTaskResponse | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Answers a waiting synchronous create. */
  onFinish: ((task: TaskRecord) => void) | undefined;
  private requestJson: string | undefined;
  private serialized: string | undefined;

  constructor(
    readonly id: string,
    readonly traceId: string,
    readonly mode: 'sync' | 'async' | 'callback',
    readonly request: Record<string, unknown>,
    readonly delayMs: number,
    readonly width: number,
    readonly height: number,
    readonly callbackUrl: string | undefined,
    /** Where its images are served from: the address the client used. */
    readonly imageBase: string,
    readonly incompressible: boolean,
    readonly photo: boolean,
    outcome: MockTaskOutcome,
  ) {
    this.outcome = outcome;
  }

  finish(response: MockTaskResponse): void {
    this.finishedAt = nowSeconds();
    this.response = response;
    this.serialized = undefined;
  }

  /**
   * The task object as JSON text, built once per state: batch retrievals of many tasks holding
   * large `data:` URLs would otherwise re-encode megabytes on every poll.
   */
  toJson(): string {
    if (this.serialized !== undefined) return this.serialized;
    this.requestJson ??= JSON.stringify(this.request);
    const head = {
      id: this.id,
      type: 'images',
      trace_id: this.traceId,
      created_at: this.createdAt,
      started_at: this.startedAt,
      ...(this.finishedAt === undefined
        ? {}
        : {
            finished_at: this.finishedAt,
            elapsed: Math.round((this.finishedAt - this.createdAt) * 1000) / 1000,
          }),
    };
    const headJson = JSON.stringify(head);
    const responseJson =
      this.response === undefined ? '' : `,"response":${JSON.stringify(this.response)}`;
    this.serialized = `${headJson.slice(0, -1)},"request":${this.requestJson}${responseJson}}`;
    return this.serialized;
  }
}

interface ParsedBody {
  body: unknown;
  bytes: number;
  tooLarge: boolean;
  invalidJson: boolean;
}

function readBody(message: IncomingMessage): Promise<ParsedBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    message.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      // Past the limit keep reading but stop keeping, so the client sees an answer, not a reset.
      if (bytes <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    message.on('error', reject);
    message.on('end', () => {
      if (bytes > MAX_BODY_BYTES) {
        resolve({ body: undefined, bytes, tooLarge: true, invalidJson: false });
        return;
      }
      const text = Buffer.concat(chunks, bytes).toString('utf8');
      if (text.trim() === '') {
        resolve({ body: undefined, bytes, tooLarge: false, invalidJson: false });
        return;
      }
      try {
        resolve({ body: JSON.parse(text), bytes, tooLarge: false, invalidJson: false });
      } catch {
        resolve({ body: undefined, bytes, tooLarge: false, invalidJson: true });
      }
    });
  });
}

export async function startMockApi(options: MockApiOptions = {}): Promise<MockApi> {
  const catalog = options.catalog ?? createModelCatalog();
  const logger = options.logger;
  let delayMs = options.delayMs ?? DEFAULT_DELAY_MS;
  const calls: RecordedCall[] = [];
  const callbacks: CallbackDelivery[] = [];
  const tasks = new Map<string, TaskRecord>();
  const images = new Map<string, ImageSpec>();
  const imageCache = new ImageCache(64, 512 * 1024 * 1024);
  const rendering = new Map<string, Promise<Buffer>>();
  const createFailures: MockFailure[] = [];
  const retrievalFailures: MockFailure[] = [];
  let imageFaults: ((download: MockImageDownload) => MockFailure | undefined) | undefined;
  const imageDownloads = new Map<string, number>();
  let createsReceived = 0;
  const sockets = new Set<Socket>();
  const closing = new AbortController();
  // Its own pool, so that close() can end callback connections and leave no handle behind.
  const callbackAgent = new Agent({ keepAliveTimeout: 1000, connect: { timeout: 5000 } });
  let baseUrl = '';
  let closed = false;
  /** Which new tasks to hold (`hold`), or undefined when none. */
  let holding: ((task: MockTask) => boolean) | undefined;
  /** Held tasks, with whether their delay has run (they then end when released). */
  const held = new Map<TaskRecord, { due: boolean }>();

  const server = createServer((message, response) => {
    const call: RecordedCall = {
      method: message.method ?? 'GET',
      path: (message.url ?? '/').split('?')[0] ?? '/',
      headers: { ...message.headers },
      body: undefined,
      bodyBytes: 0,
      at: Date.now(),
      status: 0,
    };
    calls.push(call);
    handle(call, message, response).catch((error: unknown) => {
      logger?.info(`mock api: ${call.method} ${call.path} failed: ${String(error)}`);
      if (!response.headersSent && !response.destroyed) {
        send(call, response, 500, errorBody(apiError('api_error'), randomUUID()));
      } else {
        response.destroy();
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  function send(
    call: RecordedCall,
    response: ServerResponse,
    status: number,
    body: string | undefined,
    headers: Record<string, string> = {},
  ): void {
    // A client that went away was answered nothing: its call keeps status 0.
    if (response.destroyed || response.writableEnded) return;
    call.status = status;
    const payload = body === undefined ? undefined : Buffer.from(body);
    response.writeHead(status, {
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      'content-length': String(payload?.length ?? 0),
      ...headers,
    });
    response.end(payload);
    logger?.info(`mock api: ${call.method} ${call.path} → ${status}`);
  }

  function errorBody(error: ApiError, traceId: string): string {
    return JSON.stringify({
      success: false,
      error: { code: error.code, message: error.message },
      trace_id: traceId,
    });
  }

  /** The failure planned for this create: a queued one, else the fault plan's. */
  function nextCreateFailure(): MockFailure | undefined {
    const createIndex = createsReceived;
    createsReceived += 1;
    return createFailures.shift() ?? options.createFaults?.(createIndex);
  }

  /** Answers a planned failure; returns false when there is none. */
  function applyFailure(
    failure: MockFailure | undefined,
    call: RecordedCall,
    response: ServerResponse,
  ): boolean {
    if (failure === undefined) return false;
    if (failure === 'drop') {
      response.socket?.destroy();
      return true;
    }
    // 'hang': never answer; close() destroys the socket.
    if (failure === 'hang') return true;
    const code = failure.code ?? CODE_BY_STATUS[failure.status] ?? 'api_error';
    const message = failure.message ?? MESSAGE_BY_CODE[code] ?? code;
    const traceId = randomUUID();
    const headers: Record<string, string> =
      failure.retryAfter === undefined ? {} : { 'retry-after': String(failure.retryAfter) };
    let body: string | undefined;
    if (failure.noBody) body = undefined;
    else if (failure.errorAsString)
      body = JSON.stringify({ success: false, error: message, trace_id: traceId });
    else body = errorBody({ status: failure.status, code, message }, traceId);
    send(call, response, failure.status, body, headers);
    return true;
  }

  function authorised(message: IncomingMessage): boolean {
    const match = /^Bearer\s+(\S.*)$/i.exec(message.headers.authorization ?? '');
    const token = match?.[1]?.trim();
    if (token === undefined || token === '') return false;
    return options.token === undefined || token === options.token;
  }

  async function handle(
    call: RecordedCall,
    message: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    const imageMatch = IMAGE_PATH.exec(call.path);
    if (imageMatch !== null && (call.method === 'GET' || call.method === 'HEAD')) {
      message.resume();
      await serveImage(call, imageMatch[1] ?? '', response);
      return;
    }
    const parsed = await readBody(message);
    call.body = parsed.body;
    call.bodyBytes = parsed.bytes;
    const route =
      call.method === 'POST' && call.path === CREATE_PATH
        ? 'create'
        : call.method === 'POST' && call.path === TASKS_PATH
          ? 'tasks'
          : undefined;
    if (route === undefined) {
      send(call, response, 404, errorBody(apiError('no_api'), randomUUID()));
      return;
    }
    const failure = route === 'create' ? nextCreateFailure() : retrievalFailures.shift();
    if (applyFailure(failure, call, response)) {
      return;
    }
    if (!authorised(message)) {
      send(call, response, 401, errorBody(apiError('invalid_token'), randomUUID()));
      return;
    }
    if (parsed.tooLarge) {
      send(call, response, 413, errorBody(apiError('request_too_large'), randomUUID()), {
        connection: 'close',
      });
      return;
    }
    if (parsed.invalidJson) {
      const error = apiError('bad_request', 'The body is not valid JSON.');
      send(call, response, 400, errorBody(error, randomUUID()));
      return;
    }
    if (route === 'create') await create(call, message, response, parsed.body);
    else retrieve(call, response, parsed.body);
  }

  async function create(
    call: RecordedCall,
    message: IncomingMessage,
    response: ServerResponse,
    body: unknown,
  ): Promise<void> {
    const traceId = randomUUID();
    const request = validateCreate(body, catalog);
    if ('status' in request) {
      send(call, response, request.status, errorBody(request, traceId));
      return;
    }
    const directives = parseDirectives(request.prompt);
    if (directives.error !== undefined) {
      const known = STATUS_BY_CODE[directives.error] !== undefined;
      const error = known
        ? apiError(directives.error)
        : apiError('bad_request', `Unknown mock:error code "${directives.error}".`);
      send(call, response, error.status, errorBody(error, traceId));
      return;
    }
    const aspectRatio =
      request.aspectRatio ??
      (request.body.action === 'edit' ? await ratioOfFirstImage(request.imageUrls) : '1:1');
    const size = outputSize(request.model, aspectRatio, request.resolution ?? '1K');
    const outcome: MockTaskOutcome =
      directives.fail !== undefined
        ? { fail: directives.fail }
        : directives.noImage
          ? 'noimage'
          : 'images';
    const mode = request.callbackUrl !== undefined ? 'callback' : request.async ? 'async' : 'sync';
    const host = message.headers.host;
    const task = new TaskRecord(
      randomUUID(),
      traceId,
      mode,
      request.body,
      directives.delayMs ?? delayMs,
      size.width,
      size.height,
      request.callbackUrl,
      host === undefined ? baseUrl : `http://${host}`,
      (options.incompressible ?? false) || directives.incompressible,
      options.photo ?? false,
      outcome,
    );
    if (closed) {
      response.destroy();
      return;
    }
    tasks.set(task.id, task);
    if (mode === 'sync') {
      task.onFinish = (finished) => {
        const result = finished.response;
        if (result === undefined) return;
        if (result.success) {
          send(call, response, 200, JSON.stringify(result));
        } else {
          // A synchronous failure is an ordinary API error: a refusal is a 403 `forbidden`.
          const status = STATUS_BY_CODE[result.error.code] ?? 403;
          send(call, response, status, errorBody({ status, ...result.error }, traceId));
        }
      };
    } else {
      send(
        call,
        response,
        200,
        JSON.stringify({ success: true, task_id: task.id, trace_id: traceId }),
      );
    }
    if (holding?.(task)) held.set(task, { due: false });
    // Node turns a delay beyond 2^31-1 ms into 1 ms; no mock task needs to wait that long.
    task.timer = setTimeout(() => endUnlessHeld(task), Math.min(task.delayMs, 2_147_483_647));
  }

  /** A task's delay has run: it ends, or waits for its release when held. */
  function endUnlessHeld(task: TaskRecord): void {
    const hold = held.get(task);
    if (hold !== undefined) {
      task.timer = undefined;
      hold.due = true;
      return;
    }
    if (options.drawBeforeFinish) void drawThenFinish(task);
    else finish(task);
  }

  function releaseTask(task: TaskRecord): void {
    const hold = held.get(task);
    if (hold === undefined) return;
    held.delete(task);
    // Not yet due: its timer is still set and ends it.
    if (hold.due && !closed) endUnlessHeld(task);
  }

  /** Registers a task's result images (drawn later, on demand or by `drawThenFinish`). */
  function resultImages(task: TaskRecord): MockImage[] {
    const request = task.request as { prompt: string; count?: number };
    const count = task.outcome === 'noimage' ? 0 : (request.count ?? 1);
    const data: MockImage[] = [];
    for (let index = 1; index <= count; index += 1) {
      const imageId = randomUUID();
      images.set(imageId, {
        width: task.width,
        height: task.height,
        prompt: request.prompt,
        incompressible: task.incompressible,
        photo: task.photo,
        index,
        count,
      });
      data.push({ prompt: request.prompt, image_url: `${task.imageBase}/images/${imageId}.png` });
    }
    return data;
  }

  async function drawThenFinish(task: TaskRecord): Promise<void> {
    task.timer = undefined;
    if (task.response !== undefined || task.outcome !== 'images') {
      finish(task);
      return;
    }
    const data = resultImages(task);
    try {
      await Promise.all(data.map((image) => imageBytes(imageIdOf(image.image_url))));
    } catch (error) {
      logger?.info(`mock api: drawing the images of ${task.id} failed: ${String(error)}`);
    }
    // Meanwhile it may have been finished by hand, or told to fail.
    if (!closed && task.outcome === 'images') finish(task, data);
    else if (!closed) finish(task);
  }

  function finish(task: TaskRecord, drawn?: MockImage[]): void {
    if (task.response !== undefined) return;
    clearTimeout(task.timer);
    task.timer = undefined;
    // Finished by hand while held: there is nothing left to release.
    held.delete(task);
    let result: MockTaskResponse;
    if (typeof task.outcome === 'object') {
      result = {
        success: false,
        task_id: task.id,
        trace_id: task.traceId,
        error: {
          code: task.outcome.fail,
          message: task.outcome.message ?? MESSAGE_BY_CODE[task.outcome.fail] ?? task.outcome.fail,
        },
      };
    } else {
      const data = drawn ?? resultImages(task);
      result = { success: true, task_id: task.id, trace_id: task.traceId, data };
    }
    task.finish(result);
    task.onFinish?.(task);
    task.onFinish = undefined;
    if (task.callbackUrl !== undefined) deliverCallback(task.id, task.callbackUrl, result);
  }

  function deliverCallback(taskId: string, url: string, result: MockTaskResponse): void {
    undiciRequest(url, {
      method: 'POST',
      dispatcher: callbackAgent,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(result),
      signal: closing.signal,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    })
      .then(async (answer) => {
        await answer.body.dump();
        callbacks.push({ taskId, url, at: Date.now(), status: answer.statusCode });
      })
      .catch((error: unknown) => {
        // The real service documents no redelivery: a failed callback is only recorded.
        const reason = error instanceof Error ? error.message : String(error);
        callbacks.push({ taskId, url, at: Date.now(), error: reason });
        logger?.info(`mock api: callback for ${taskId} to ${url} failed: ${reason}`);
      });
  }

  function retrieve(call: RecordedCall, response: ServerResponse, body: unknown): void {
    const traceId = randomUUID();
    const bad = (text: string) =>
      send(call, response, 400, errorBody(apiError('bad_request', text), traceId));
    if (!isRecord(body)) {
      bad('The body must be a JSON object.');
      return;
    }
    if (body.action === 'retrieve') {
      if (typeof body.id !== 'string' || body.id === '') {
        bad('id is required.');
        return;
      }
      const task = tasks.get(body.id);
      if (task === undefined) {
        send(call, response, 404, errorBody(apiError('not_found'), traceId));
        return;
      }
      send(call, response, 200, task.toJson());
      return;
    }
    if (body.action === 'retrieve_batch') {
      const ids = body.ids;
      if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) {
        bad('ids must be an array of task ids.');
        return;
      }
      if (ids.length > MAX_BATCH_IDS) {
        bad(`At most ${MAX_BATCH_IDS} ids per batch; got ${ids.length}.`);
        return;
      }
      const items: string[] = [];
      for (const id of ids as string[]) {
        const task = tasks.get(id);
        if (task !== undefined) items.push(task.toJson());
      }
      send(
        call,
        response,
        200,
        `{"items":[${items.join(',')}],"count":${items.length},"trace_id":"${traceId}"}`,
      );
      return;
    }
    bad('action must be one of: retrieve, retrieve_batch.');
  }

  async function serveImage(
    call: RecordedCall,
    imageId: string,
    response: ServerResponse,
  ): Promise<void> {
    const spec = images.get(imageId);
    if (spec === undefined) {
      send(call, response, 404, errorBody(apiError('not_found', 'image not found'), randomUUID()));
      return;
    }
    const attempt = (imageDownloads.get(imageId) ?? 0) + 1;
    imageDownloads.set(imageId, attempt);
    const fault = imageFaults?.({
      prompt: spec.prompt,
      index: spec.index,
      count: spec.count,
      attempt,
    });
    if (applyFailure(fault, call, response)) return;
    const bytes = await imageBytes(imageId, spec);
    call.status = 200;
    if (response.destroyed) return;
    response.writeHead(200, {
      'content-type': 'image/png',
      'content-length': String(bytes.length),
      'cache-control': 'public, max-age=86400',
    });
    response.end(call.method === 'HEAD' ? undefined : bytes);
  }

  /** An image's PNG, from the cache or drawn (once, however many ask at the same time). */
  async function imageBytes(imageId: string, known?: ImageSpec): Promise<Buffer> {
    const cached = imageCache.get(imageId);
    if (cached !== undefined) return cached;
    const spec = known ?? images.get(imageId);
    if (spec === undefined) throw new Error(`mock api: no image ${imageId}`);
    let pending = rendering.get(imageId);
    if (pending === undefined) {
      pending = drawImage(spec).finally(() => rendering.delete(imageId));
      rendering.set(imageId, pending);
    }
    const bytes = await pending;
    imageCache.set(imageId, bytes);
    return bytes;
  }

  function pendingTask(taskId: string): TaskRecord {
    const task = tasks.get(taskId);
    if (task === undefined) throw new Error(`mock api: no task ${taskId}`);
    return task;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostText = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  baseUrl = `http://${hostText}:${address.port}`;

  return {
    url: baseUrl,
    port: address.port,
    calls,
    creates: () => calls.filter((call) => call.method === 'POST' && call.path === CREATE_PATH),
    retrievals: () => calls.filter((call) => call.method === 'POST' && call.path === TASKS_PATH),
    tasks,
    callbacks,
    failNextCreates: (...failures) => {
      createFailures.push(...failures);
    },
    failNextRetrievals: (...failures) => {
      retrievalFailures.push(...failures);
    },
    setImageFaults: (plan) => {
      imageFaults = plan;
    },
    setTaskOutcome: (taskId, outcome) => {
      const task = pendingTask(taskId);
      if (task.response !== undefined) throw new Error(`mock api: task ${taskId} has finished`);
      task.outcome = outcome;
    },
    setDelay: (ms) => {
      delayMs = Number.isFinite(ms) && ms > 0 ? ms : 0;
    },
    finishTask: (taskId) => finish(pendingTask(taskId)),
    hold: (which) => {
      holding = which ?? (() => true);
    },
    release: (taskId) => {
      if (taskId !== undefined) {
        const task = pendingTask(taskId);
        if (!held.has(task)) throw new Error(`mock api: task ${taskId} is not held`);
        releaseTask(task);
        return;
      }
      holding = undefined;
      for (const task of [...held.keys()]) releaseTask(task);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const task of tasks.values()) {
        clearTimeout(task.timer);
        task.timer = undefined;
        task.onFinish = undefined;
      }
      closing.abort();
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await serverClosed;
      await callbackAgent.destroy();
      imageCache.clear();
    },
  };
}

/** A few lines for the `nano-banana mock-api` command to print. */
export function describeMockApi(api: MockApi): string {
  const width = Math.max(...MOCK_DIRECTIVES.map((directive) => directive.syntax.length));
  return [
    `Mock Nano Banana API listening on ${api.url}`,
    `Point a bot at it with ACEDATA_BASE_URL=${api.url} (and the mock's token, if it has one).`,
    'Put these in a prompt to try other paths:',
    ...MOCK_DIRECTIVES.map(
      (directive) => `  ${directive.syntax.padEnd(width)}  ${directive.effect}`,
    ),
  ].join('\n');
}
