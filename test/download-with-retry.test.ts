import { describe, expect, it } from 'vitest';
import type { Clock } from '../src/core/clock.js';
import { NanoBananaError } from '../src/core/errors.js';
import { downloadWithRetry, type ImageFile } from '../src/core/images/index.js';

/** Time that passes only when told: sleeps and slow attempts move it, nothing really waits. */
function manualClock(): Clock & { advance(ms: number): void; sleeps: number[] } {
  let now = 1_000_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw signal.reason;
      sleeps.push(ms);
      now += ms;
    },
  };
}

const IMAGE: ImageFile = { bytes: Buffer.from('png'), mime: 'image/png', width: 1, height: 1 };

const transient = (retryAfterMs?: number) =>
  new NanoBananaError('upstream_error', 'answered 502', {
    status: 502,
    retryable: true,
    retryAfterMs,
  });

describe('downloadWithRetry', () => {
  it('retries an attempt that timed out after two minutes: the window starts at the first failure', async () => {
    const clock = manualClock();
    let attempts = 0;
    const file = await downloadWithRetry(
      async () => {
        attempts += 1;
        if (attempts === 1) {
          clock.advance(120_000);
          throw new NanoBananaError('timeout', 'took too long', { retryable: true });
        }
        return IMAGE;
      },
      { clock, random: () => 0.5 },
    );
    expect(file).toBe(IMAGE);
    expect(attempts).toBe(2);
  });

  it('honours Retry-After up to a minute, and gives up two minutes after the first failure', async () => {
    const clock = manualClock();
    let attempts = 0;
    const error = await downloadWithRetry(
      async () => {
        attempts += 1;
        throw transient(3_600_000);
      },
      { clock },
    ).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'upstream_error', status: 502 });
    expect(clock.sleeps).toEqual([60_000, 60_000]);
    expect(attempts).toBe(3);
  });

  it('throws a lasting failure at once, and stops waiting when cancelled', async () => {
    const clock = manualClock();
    let attempts = 0;
    const notFound = await downloadWithRetry(
      async () => {
        attempts += 1;
        throw new NanoBananaError('upstream_error', 'answered 404', { status: 404 });
      },
      { clock },
    ).catch((caught: unknown) => caught);
    expect(notFound).toMatchObject({ status: 404 });
    expect(attempts).toBe(1);

    const controller = new AbortController();
    controller.abort();
    const cancelled = await downloadWithRetry(
      async () => {
        throw transient();
      },
      { clock, signal: controller.signal },
    ).catch((caught: unknown) => caught);
    expect(cancelled).toBeInstanceOf(NanoBananaError);
    expect(clock.sleeps).toEqual([]);
  });
});
