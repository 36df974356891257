import type { Dispatcher } from 'undici';
import { type Clock, systemClock } from '../clock.js';
import { NanoBananaError } from '../errors.js';
import { type Logger, silentLogger } from '../logger.js';
import type { ImageRequest } from '../request.js';
import { DEFAULT_CREATE_RETRY, DEFAULT_RETRIEVE_RETRY, type RetryPolicy } from './retry.js';
import {
  interpretBatch,
  interpretTask,
  parseResult,
  type ResultImage,
  successImages,
  type TaskSnapshot,
  taskIdOf,
} from './tasks.js';
import { ApiTransport } from './transport.js';

export interface NanoBananaClientOptions {
  readonly apiToken: string;
  /** Default `https://api.acedata.cloud` (`ACEDATA_BASE_URL`). */
  readonly baseUrl?: string;
  /** Per-attempt timeout in milliseconds; default 60,000 (`NANO_BANANA_REQUEST_TIMEOUT`, seconds). */
  readonly timeoutMs?: number;
  /** Synchronous creates block until the images exist (minutes for 4K): their own, longer timeout. Default 600,000. */
  readonly syncTimeoutMs?: number;
  readonly dispatcher?: Dispatcher;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly random?: () => number;
  readonly createRetry?: RetryPolicy;
  readonly retrieveRetry?: RetryPolicy;
  /** The largest answer accepted from a retrieval, in bytes; default 64 MiB. */
  readonly maxResponseBytes?: number;
}

const DEFAULTS = {
  baseUrl: 'https://api.acedata.cloud',
  timeoutMs: 60_000,
  syncTimeoutMs: 600_000,
  maxResponseBytes: 64 * 1024 * 1024,
};

/** The most ids one batch retrieval carries, as AceData's own n8n node does. */
export const MAX_BATCH_IDS = 50;
/** A create's answer is small; anything bigger is not an answer we understand. */
const MAX_CREATE_RESPONSE_BYTES = 1024 * 1024;

export interface CreateOptions {
  /** Answer at once with a task id (the default); false blocks until the images exist. */
  readonly async?: boolean;
  /** A public URL the API POSTs the finished result to. */
  readonly callbackUrl?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface CreateResult {
  readonly taskId: string;
  readonly traceId: string | undefined;
  /** Present for a synchronous create: the finished images. */
  readonly images?: readonly ResultImage[];
}

export interface RetrieveOptions {
  readonly signal?: AbortSignal | undefined;
  readonly maxResponseBytes?: number | undefined;
}

/** The typed client of AceData Cloud's Nano Banana image API: create, and retrieve tasks. */
export class NanoBananaClient {
  readonly #transport: ApiTransport;
  readonly #syncTransport: ApiTransport;
  readonly #createRetry: RetryPolicy;
  readonly #retrieveRetry: RetryPolicy;
  readonly #maxResponseBytes: number;

  constructor(options: NanoBananaClientOptions) {
    if (options.apiToken.trim() === '') {
      throw new NanoBananaError('auth_failed', 'No API token: set ACEDATA_API_TOKEN');
    }
    const transportOptions = {
      baseUrl: (options.baseUrl ?? DEFAULTS.baseUrl).replace(/\/+$/, ''),
      apiToken: options.apiToken,
      clock: options.clock ?? systemClock,
      logger: options.logger ?? silentLogger,
      dispatcher: options.dispatcher,
      random: options.random,
    };
    this.#transport = new ApiTransport({
      ...transportOptions,
      timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
    });
    this.#syncTransport = new ApiTransport({
      ...transportOptions,
      dispatcher: options.dispatcher ?? this.#transport.dispatcher,
      timeoutMs: options.syncTimeoutMs ?? DEFAULTS.syncTimeoutMs,
    });
    this.#createRetry = options.createRetry ?? DEFAULT_CREATE_RETRY;
    this.#retrieveRetry = options.retrieveRetry ?? DEFAULT_RETRIEVE_RETRY;
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULTS.maxResponseBytes;
  }

  /**
   * Creates a task (generate or edit, as the request says). The request must have passed
   * `validateRequest`. A create is retried only where it surely did not reach the service or the
   * service refused it (429): see `retryableFor`.
   */
  async create(request: ImageRequest, options: CreateOptions = {}): Promise<CreateResult> {
    const asynchronous = options.async ?? true;
    const body = toApiBody(request, asynchronous, options.callbackUrl);
    const transport = asynchronous || options.callbackUrl ? this.#transport : this.#syncTransport;
    const answer = await transport.post('create', '/nano-banana/images', body, {
      signal: options.signal,
      retry: this.#createRetry,
      maxResponseBytes: asynchronous ? MAX_CREATE_RESPONSE_BYTES : this.#maxResponseBytes,
    });
    const result = parseResult(answer);
    const taskId = taskIdOf(result);
    const traceId = result.trace_id;
    if (asynchronous || options.callbackUrl) {
      if (taskId === undefined) {
        throw new NanoBananaError(
          'upstream_error',
          'The API accepted the task but gave no task id',
          {
            traceId,
            params: { reason: 'no_task_id' },
          },
        );
      }
      return { taskId, traceId };
    }
    return { taskId: taskId ?? '', traceId, images: successImages(result, traceId) };
  }

  async retrieveTask(taskId: string, options: RetrieveOptions = {}): Promise<TaskSnapshot> {
    const answer = await this.#transport.post(
      'retrieve',
      '/nano-banana/tasks',
      { id: taskId, action: 'retrieve' },
      {
        signal: options.signal,
        retry: this.#retrieveRetry,
        maxResponseBytes: options.maxResponseBytes ?? this.#maxResponseBytes,
      },
    );
    return interpretTask(answer);
  }

  /** Up to `MAX_BATCH_IDS` tasks in one call; tasks the API does not know are left out. */
  async retrieveTasks(
    taskIds: readonly string[],
    options: RetrieveOptions = {},
  ): Promise<TaskSnapshot[]> {
    if (taskIds.length === 0) return [];
    if (taskIds.length > MAX_BATCH_IDS) {
      throw new RangeError(`At most ${MAX_BATCH_IDS} task ids per batch, got ${taskIds.length}`);
    }
    const answer = await this.#transport.post(
      'retrieve',
      '/nano-banana/tasks',
      { ids: taskIds, action: 'retrieve_batch' },
      {
        signal: options.signal,
        retry: this.#retrieveRetry,
        maxResponseBytes: options.maxResponseBytes ?? this.#maxResponseBytes,
      },
    );
    return interpretBatch(answer);
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }
}

/** The API's wire format (snake_case); optional fields are left out rather than sent empty. */
export function toApiBody(
  request: ImageRequest,
  asynchronous: boolean,
  callbackUrl: string | undefined,
): Record<string, unknown> {
  return {
    action: request.action,
    prompt: request.prompt,
    model: request.model,
    ...(request.imageUrls.length > 0 ? { image_urls: request.imageUrls } : {}),
    ...(request.aspectRatio ? { aspect_ratio: request.aspectRatio } : {}),
    ...(request.resolution ? { resolution: request.resolution } : {}),
    ...(request.count !== undefined ? { count: request.count } : {}),
    ...(asynchronous ? { async: true } : {}),
    ...(callbackUrl ? { callback_url: callbackUrl } : {}),
  };
}
