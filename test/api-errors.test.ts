import { describe, expect, it } from 'vitest';
import { apiError, classifyApiError, parseErrorBody } from '../src/core/api/api-errors.js';
import { backoffDelay, parseRetryAfter } from '../src/core/api/retry.js';
import { interpretBatch, interpretTask, parseResult, taskIdOf } from '../src/core/api/tasks.js';

describe('error bodies', () => {
  it('reads an object, a string, a bare message or nothing', () => {
    expect(
      parseErrorBody({ success: false, error: { code: 'used_up', message: 'no' }, trace_id: 't' }),
    ).toEqual({
      code: 'used_up',
      message: 'no',
      traceId: 't',
    });
    expect(parseErrorBody({ error: 'Internal server error.' })).toMatchObject({
      message: 'Internal server error.',
    });
    expect(parseErrorBody({ code: 'x', message: 'y' })).toMatchObject({ code: 'x', message: 'y' });
    expect(parseErrorBody(undefined)).toEqual({
      code: undefined,
      message: undefined,
      traceId: undefined,
    });
    expect(parseErrorBody('<html>')).toEqual({
      code: undefined,
      message: undefined,
      traceId: undefined,
    });
  });

  it('classifies by status and refines by code', () => {
    expect(classifyApiError(403, 'used_up')).toBe('balance_used_up');
    expect(classifyApiError(403, undefined)).toBe('moderation_blocked');
    expect(classifyApiError(429, undefined)).toBe('rate_limited');
    expect(classifyApiError(500, 'api_error')).toBe('upstream_error');
    expect(classifyApiError(undefined, 'forbidden')).toBe('moderation_blocked');
    expect(classifyApiError(undefined, 'used_up')).toBe('balance_used_up');
    expect(classifyApiError(undefined, 'whatever')).toBe('upstream_error');
  });

  it('decides retryable once, by operation: a create only on 429', () => {
    expect(apiError('create', 500, undefined, undefined).retryable).toBe(false);
    expect(apiError('retrieve', 500, undefined, undefined).retryable).toBe(true);
    expect(apiError('create', 429, undefined, 1000)).toMatchObject({
      retryable: true,
      retryAfterMs: 1000,
    });
    expect(apiError('retrieve', 401, undefined, undefined).retryable).toBe(false);
  });
});

describe('retry timing', () => {
  it('reads Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('3', 0)).toBe(3000);
    expect(parseRetryAfter(undefined, 0)).toBeUndefined();
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
    const now = Date.parse('2026-11-24T10:00:00Z');
    expect(parseRetryAfter('Tue, 24 Nov 2026 10:00:05 GMT', now)).toBe(5000);
  });

  it('backs off exponentially with jitter, under the cap', () => {
    const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(policy, 1, undefined, () => 0)).toBe(50);
    expect(backoffDelay(policy, 3, undefined, () => 1)).toBe(400);
    expect(backoffDelay(policy, 10, undefined, () => 1)).toBe(1000);
    expect(backoffDelay(policy, 1, 60_000)).toBe(1000);
  });
});

describe('task records', () => {
  it('finds the task id where AceData clients look for it', () => {
    expect(taskIdOf(parseResult({ task_id: 'a' }))).toBe('a');
    expect(taskIdOf(parseResult({ data: { task_id: 'b' } }))).toBe('b');
    expect(taskIdOf(parseResult({ id: 'c' }))).toBe('c');
  });

  it('reads pending, done, failed and a top-level failed state', () => {
    expect(interpretTask({ id: 't', created_at: 1 }).status.state).toBe('pending');
    expect(interpretTask({ id: 't', response: { task_id: 't' } }).status.state).toBe('pending');
    const done = interpretTask({
      id: 't',
      finished_at: 2.5,
      response: {
        success: true,
        trace_id: 'tr',
        data: [{ image_url: 'https://cdn.example/x.png' }],
      },
    });
    expect(done).toMatchObject({ traceId: 'tr', finishedAt: 2500, status: { state: 'succeeded' } });
    const failed = interpretTask({
      id: 't',
      response: { success: false, error: { code: 'forbidden' } },
    });
    expect(failed.status.state === 'failed' && failed.status.error.code).toBe('moderation_blocked');
    const state = interpretTask({ id: 't', state: 'cancelled' });
    expect(state.status.state).toBe('failed');
    const empty = interpretTask({ id: 't', response: { success: true, data: [] } });
    expect(empty.status.state === 'failed' && empty.status.error.code).toBe('no_image');
  });

  it('skips an unreadable item of a batch rather than failing it', () => {
    const items = interpretBatch({ items: [{ id: 'a' }, { nope: true }, { id: 'b' }], count: 3 });
    expect(items.map((item) => item.id)).toEqual(['a', 'b']);
  });
});
