import { afterEach, describe, expect, it, vi } from 'vitest';
import { AcceptanceGate } from '../src/core/index.js';

/** Whether a promise has settled, after letting every pending microtask run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await vi.advanceTimersByTimeAsync(0);
  return done;
}

describe('AcceptanceGate', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets progress through at once when nothing is being accepted under its key', async () => {
    vi.useFakeTimers();
    const gate = new AcceptanceGate();
    expect(await settled(gate.passed('discord:interaction:1'))).toBe(true);
    expect(await settled(gate.passed(undefined))).toBe(true);
  });

  it('holds progress for a key until its acceptance ends, and only for that key', async () => {
    vi.useFakeTimers();
    const gate = new AcceptanceGate();
    let finish = () => {};
    const accepting = gate.hold(
      'slack:cmd:1',
      () =>
        new Promise<string>((resolve) => {
          finish = () => resolve('job-1');
        }),
    );
    const progress = gate.passed('slack:cmd:1');
    expect(await settled(progress)).toBe(false);
    expect(await settled(gate.passed('slack:cmd:2'))).toBe(true);
    finish();
    expect(await accepting).toBe('job-1');
    expect(await settled(progress)).toBe(true);
    // Once over, the key holds nothing.
    expect(await settled(gate.passed('slack:cmd:1'))).toBe(true);
  });

  it('lets progress through when the acceptance fails, and passes the failure on', async () => {
    vi.useFakeTimers();
    const gate = new AcceptanceGate();
    let refuse = () => {};
    const accepting = gate.hold(
      'discord:message:1',
      () =>
        new Promise<void>((_resolve, reject) => {
          refuse = () => reject(new Error('quota'));
        }),
    );
    const progress = gate.passed('discord:message:1');
    refuse();
    await expect(accepting).rejects.toThrow('quota');
    expect(await settled(progress)).toBe(true);
  });

  it('stops holding progress after its limit, whatever the acceptance does', async () => {
    vi.useFakeTimers();
    const gate = new AcceptanceGate(1_000);
    void gate.hold('discord:interaction:9', () => new Promise<void>(() => {}));
    const progress = gate.passed('discord:interaction:9');
    await vi.advanceTimersByTimeAsync(999);
    expect(await settled(progress)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled(progress)).toBe(true);
  });
});
