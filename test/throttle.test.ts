import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProgressThrottle } from '../src/core/throttle.js';

/** Moves the fake clock (timers and Date.now), running what falls due; nothing really waits. */
const tick = (ms: number) => vi.advanceTimersByTimeAsync(ms);

describe('ProgressThrottle', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs the first edit at once and only the latest of those that came during the interval', async () => {
    const throttle = new ProgressThrottle(100);
    const ran: string[] = [];
    const edit = (label: string) => async () => {
      ran.push(label);
    };
    throttle.schedule('job', edit('queued #3'));
    throttle.schedule('job', edit('queued #2'));
    throttle.schedule('job', edit('queued #1'));
    await tick(10);
    expect(ran).toEqual(['queued #3']);
    // Not a moment before the interval is over.
    await tick(89);
    expect(ran).toEqual(['queued #3']);
    await tick(1);
    expect(ran).toEqual(['queued #3', 'queued #1']);
    await tick(500);
    expect(ran).toEqual(['queued #3', 'queued #1']);
    throttle.close();
  });

  it('keeps keys apart', async () => {
    const throttle = new ProgressThrottle(1000);
    const ran: string[] = [];
    throttle.schedule('a', async () => void ran.push('a'));
    throttle.schedule('b', async () => void ran.push('b'));
    await tick(10);
    expect(ran.sort()).toEqual(['a', 'b']);
    throttle.close();
  });

  it('runs a final edit after the one under way and drops waiting progress', async () => {
    const throttle = new ProgressThrottle(50);
    const ran: string[] = [];
    let release: () => void = () => {};
    throttle.schedule(
      'job',
      () =>
        new Promise<void>((resolve) => {
          ran.push('slow progress start');
          release = () => {
            ran.push('slow progress end');
            resolve();
          };
        }),
    );
    throttle.schedule('job', async () => void ran.push('stale progress'));
    const final = throttle.final('job', async () => void ran.push('result'));
    await tick(5);
    expect(ran).toEqual(['slow progress start']);
    release();
    await final;
    await tick(80);
    expect(ran).toEqual(['slow progress start', 'slow progress end', 'result']);
    throttle.close();
  });

  it('survives a failing edit', async () => {
    const throttle = new ProgressThrottle(10);
    const ran: string[] = [];
    throttle.schedule('job', async () => {
      throw new Error('rate limited');
    });
    await tick(5);
    throttle.schedule('job', async () => void ran.push('next'));
    await tick(30);
    expect(ran).toEqual(['next']);
    await expect(
      throttle.final('job', async () => {
        throw new Error('final failed');
      }),
    ).rejects.toThrow('final failed');
    throttle.close();
  });
});
