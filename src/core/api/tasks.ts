import { z } from 'zod';
import { NanoBananaError } from '../errors.js';
import { apiError } from './api-errors.js';

/**
 * Minimal schemas: only the fields we use, so the API can add fields without breaking us. Every
 * field is optional and checked where it is used.
 */
const resultSchema = z.object({
  success: z.boolean().optional(),
  task_id: z.string().optional(),
  trace_id: z.string().optional(),
  data: z
    .union([
      z.array(z.object({ image_url: z.string().optional() }).nullable()),
      z.object({ task_id: z.string().optional() }),
    ])
    .optional(),
  id: z.string().optional(),
  error: z.unknown().optional(),
});

const taskSchema = z.object({
  id: z.string(),
  trace_id: z.string().optional(),
  state: z.string().optional(),
  created_at: z.number().optional(),
  finished_at: z.number().optional(),
  request: z.unknown().optional(),
  response: resultSchema.nullable().optional(),
});

const batchSchema = z.object({ items: z.array(z.unknown()) });

export type ApiResult = z.infer<typeof resultSchema>;

export interface ResultImage {
  readonly url: string;
}

export type TaskStatus =
  | { readonly state: 'pending' }
  | { readonly state: 'succeeded'; readonly images: readonly ResultImage[] }
  | { readonly state: 'failed'; readonly error: NanoBananaError };

export interface TaskSnapshot {
  readonly id: string;
  readonly traceId: string | undefined;
  readonly status: TaskStatus;
  /** Unix milliseconds, when the API says. */
  readonly finishedAt: number | undefined;
}

const FAILED_STATES = new Set(['failed', 'error', 'cancelled', 'canceled']);

export function parseResult(body: unknown): ApiResult {
  const parsed = resultSchema.safeParse(body);
  if (!parsed.success) {
    throw new NanoBananaError('upstream_error', 'The API answered in an unexpected shape', {
      params: { reason: 'unexpected_answer' },
    });
  }
  return parsed.data;
}

/** The task id of a create's answer: `task_id`, then `data.task_id`, then `id`, as AceData's clients do. */
export function taskIdOf(result: ApiResult): string | undefined {
  if (result.task_id) return result.task_id;
  if (result.data && !Array.isArray(result.data) && result.data.task_id) return result.data.task_id;
  return result.id;
}

export function imagesOf(result: ApiResult): ResultImage[] {
  if (!Array.isArray(result.data)) return [];
  const images: ResultImage[] = [];
  for (const item of result.data) {
    if (item?.image_url && /^https?:\/\//i.test(item.image_url))
      images.push({ url: item.image_url });
  }
  return images;
}

/**
 * A finished result: images, or `no_image` when the model ended without one (the API then answers
 * success with an empty `data[]`).
 */
export function successImages(result: ApiResult, traceId: string | undefined): ResultImage[] {
  const images = imagesOf(result);
  if (images.length === 0) {
    throw new NanoBananaError('no_image', 'The model finished without an image', { traceId });
  }
  return images;
}

/**
 * Reads a task record the way AceData's own web app does, as no state field is documented: no
 * `response` (or one holding only a task id) is pending; `success: false` or an `error` is failed;
 * `success: true` with a data list is done.
 */
export function interpretTask(body: unknown): TaskSnapshot {
  const parsed = taskSchema.safeParse(body);
  if (!parsed.success) {
    throw new NanoBananaError('upstream_error', 'The API answered a task in an unexpected shape', {
      params: { reason: 'unexpected_answer' },
    });
  }
  const task = parsed.data;
  const response = task.response ?? undefined;
  const traceId = response?.trace_id ?? task.trace_id;
  const finishedAt = task.finished_at === undefined ? undefined : task.finished_at * 1000;
  const snapshot = (status: TaskStatus): TaskSnapshot => ({
    id: task.id,
    traceId,
    status,
    finishedAt,
  });

  if (task.state !== undefined && FAILED_STATES.has(task.state.toLowerCase())) {
    const error = apiError('retrieve', undefined, response ?? { error: task.state }, undefined);
    return snapshot({ state: 'failed', error: withRetryable(error, false) });
  }
  if (response === undefined) return snapshot({ state: 'pending' });
  if (response.success === false || response.error !== undefined) {
    const error = apiError('retrieve', undefined, { ...response, trace_id: traceId }, undefined);
    // A failed task is final: retrying its retrieval changes nothing.
    return snapshot({ state: 'failed', error: withRetryable(error, false) });
  }
  if (!Array.isArray(response.data)) return snapshot({ state: 'pending' });
  const images = imagesOf(response);
  if (images.length === 0) {
    return snapshot({
      state: 'failed',
      error: new NanoBananaError('no_image', 'The model finished without an image', { traceId }),
    });
  }
  return snapshot({ state: 'succeeded', images });
}

/** The items of a batch answer; an item we cannot read is left out rather than failing the batch. */
export function interpretBatch(body: unknown): TaskSnapshot[] {
  const parsed = batchSchema.safeParse(body);
  if (!parsed.success) {
    throw new NanoBananaError('upstream_error', 'The API answered a batch in an unexpected shape', {
      params: { reason: 'unexpected_answer' },
    });
  }
  const snapshots: TaskSnapshot[] = [];
  for (const item of parsed.data.items) {
    try {
      snapshots.push(interpretTask(item));
    } catch {
      // Skipped: the follower asks again for any task missing from an answer.
    }
  }
  return snapshots;
}

function withRetryable(error: NanoBananaError, retryable: boolean): NanoBananaError {
  if (error.retryable === retryable) return error;
  return new NanoBananaError(error.code, error.message, {
    params: error.params,
    status: error.status,
    traceId: error.traceId,
    apiCode: error.apiCode,
    retryable,
  });
}
