/**
 * The moderation log's poster, against an in-memory outbox and a recording sink, on a clock the
 * test moves: lines packed into messages within the platform's size, posts within its pace per
 * channel, a hanging channel holding only itself, a refused channel dropped with one warning, a
 * failed post retried, one poster per platform among processes.
 */
import { describe, expect, it } from 'vitest';
import type { AuditLine, AuditOutbox, NewAuditLine } from '../src/core/audit/audit-outbox.js';
import {
  AuditChannelClosed,
  AuditLog,
  AuditPoster,
  type AuditSink,
} from '../src/core/audit/index.js';
import type { Clock } from '../src/core/clock.js';
import type { Job } from '../src/core/index.js';
import type { Logger } from '../src/core/logger.js';

class MemoryOutbox implements AuditOutbox {
  lines: AuditLine[] = [];
  locks = new Map<string, { owner: string; until: number }>();
  #next = 1;
  failAppend = false;

  async appendAuditLines(lines: readonly NewAuditLine[], now: number): Promise<void> {
    if (this.failAppend) throw new Error('store down');
    for (const line of lines) this.lines.push({ ...line, id: this.#next++, createdAt: now });
  }
  async pendingAuditLines(limit: number): Promise<AuditLine[]> {
    return this.lines.slice(0, limit);
  }
  async deleteAuditLines(ids: readonly number[]): Promise<void> {
    this.lines = this.lines.filter((line) => !ids.includes(line.id));
  }
  async acquireLock(name: string, owner: string, now: number, until: number): Promise<boolean> {
    const held = this.locks.get(name);
    if (held !== undefined && held.owner !== owner && held.until > now) return false;
    this.locks.set(name, { owner, until });
    return true;
  }
  async releaseLock(name: string, owner: string): Promise<void> {
    if (this.locks.get(name)?.owner === owner) this.locks.delete(name);
  }
}

class TestClock implements Clock {
  time = 1_000_000;
  now(): number {
    return this.time;
  }
  sleep(): Promise<void> {
    return Promise.resolve();
  }
}

interface Warning {
  fields: Record<string, unknown>;
  message: string;
}

function recordingLogger(warnings: Warning[]): Logger {
  const logger = {
    warn: (fields: Record<string, unknown>, message: string) => warnings.push({ fields, message }),
    info: () => undefined,
    error: () => undefined,
    debug: () => undefined,
    child: () => logger,
  };
  return logger as unknown as Logger;
}

interface Post {
  channelId: string;
  lines: readonly string[];
  at: number;
}

function recordingSink(
  clock: TestClock,
  options: {
    pace?: { messages: number; perMs: number };
    maxMessageChars?: number;
    post?: (channelId: string, lines: readonly string[]) => Promise<void>;
  } = {},
): AuditSink & { posts: Post[] } {
  const posts: Post[] = [];
  return {
    platform: 'chat',
    operatorChannelId: undefined,
    pace: options.pace ?? { messages: 5, perMs: 5000 },
    maxMessageChars: options.maxMessageChars ?? 2000,
    describe: async () => 'line',
    post: async (channelId, lines) => {
      posts.push({ channelId, lines, at: clock.now() });
      await options.post?.(channelId, lines);
    },
    posts,
  };
}

function poster(outbox: MemoryOutbox, clock: TestClock, sink: AuditSink, warnings: Warning[] = []) {
  return new AuditPoster({
    store: outbox,
    clock,
    logger: recordingLogger(warnings),
    owner: 'process-1',
    sinks: new Map([[sink.platform, sink]]),
  });
}

/** Runs rounds every `stepMs` of the test's clock until the outbox is empty (bounded). */
async function drain(outbox: MemoryOutbox, clock: TestClock, running: AuditPoster, stepMs = 250) {
  for (let round = 0; round < 2000 && outbox.lines.length > 0; round++) {
    await running.tick();
    await running.idle();
    clock.time += stepMs;
  }
}

function most(posts: readonly Post[], windowMs: number): number {
  let most = 0;
  for (const post of posts) {
    const inWindow = posts.filter((other) => other.at >= post.at && other.at < post.at + windowMs);
    most = Math.max(most, inWindow.length);
  }
  return most;
}

describe('AuditPoster', () => {
  it('packs lines into messages within the size, at most 5 posts per 5 s, every line in order', async () => {
    const outbox = new MemoryOutbox();
    const clock = new TestClock();
    const sink = recordingSink(clock);
    const lines = Array.from({ length: 100 }, (_, index) => `${index}:${'x'.repeat(150)}`);
    await outbox.appendAuditLines(
      lines.map((text) => ({ platform: 'chat', channelId: 'log', text })),
      clock.now(),
    );
    await drain(outbox, clock, poster(outbox, clock, sink));
    expect(outbox.lines).toEqual([]);
    expect(sink.posts.flatMap((post) => post.lines)).toEqual(lines);
    for (const post of sink.posts) expect(post.lines.join('\n').length).toBeLessThanOrEqual(2000);
    expect(sink.posts.length).toBeGreaterThan(5);
    expect(most(sink.posts, 5000)).toBeLessThanOrEqual(5);
  });

  it('keeps Slack’s pace of one post per second per channel, each channel on its own', async () => {
    const outbox = new MemoryOutbox();
    const clock = new TestClock();
    const sink = recordingSink(clock, { pace: { messages: 1, perMs: 1000 }, maxMessageChars: 40 });
    for (let index = 0; index < 10; index++) {
      await outbox.appendAuditLines(
        [
          { platform: 'chat', channelId: 'a', text: `a${index}${'-'.repeat(30)}` },
          { platform: 'chat', channelId: 'b', text: `b${index}${'-'.repeat(30)}` },
        ],
        clock.now(),
      );
    }
    await drain(outbox, clock, poster(outbox, clock, sink), 100);
    for (const channel of ['a', 'b']) {
      const posts = sink.posts.filter((post) => post.channelId === channel);
      expect(posts).toHaveLength(10);
      expect(most(posts, 1000)).toBe(1);
    }
  });

  it('a channel whose post hangs holds only its own lines', async () => {
    const outbox = new MemoryOutbox();
    const clock = new TestClock();
    const sink = recordingSink(clock, {
      post: (channelId) =>
        channelId === 'stalled' ? new Promise(() => undefined) : Promise.resolve(),
    });
    await outbox.appendAuditLines(
      [
        { platform: 'chat', channelId: 'stalled', text: 'first' },
        { platform: 'chat', channelId: 'open', text: 'second' },
      ],
      clock.now(),
    );
    const running = poster(outbox, clock, sink);
    for (let round = 0; round < 5; round++) {
      await running.tick();
      clock.time += 250;
    }
    expect(outbox.lines.map((line) => line.text)).toEqual(['first']);
    expect(sink.posts.map((post) => post.channelId).sort()).toEqual(['open', 'stalled']);
  });

  it('drops the lines of a channel the bot may not post in, with one warning', async () => {
    const outbox = new MemoryOutbox();
    const clock = new TestClock();
    const warnings: Warning[] = [];
    const sink = recordingSink(clock, {
      maxMessageChars: 10,
      post: async (channelId) => {
        if (channelId === 'closed') throw new AuditChannelClosed('50013');
      },
    });
    const running = poster(outbox, clock, sink, warnings);
    for (let index = 0; index < 6; index++) {
      await outbox.appendAuditLines(
        [
          { platform: 'chat', channelId: 'closed', text: `closed ${index}` },
          { platform: 'chat', channelId: 'open', text: `open ${index}` },
        ],
        clock.now(),
      );
      await running.tick();
      await running.idle();
      clock.time += 2000;
    }
    await drain(outbox, clock, running);
    expect(outbox.lines).toEqual([]);
    expect(sink.posts.filter((post) => post.channelId === 'closed')).toHaveLength(1);
    expect(sink.posts.filter((post) => post.channelId === 'open')).toHaveLength(6);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.fields).toMatchObject({ channelId: 'closed', reason: '50013' });
  });

  it('retries a failed post later, keeping its lines', async () => {
    const outbox = new MemoryOutbox();
    const clock = new TestClock();
    let failures = 2;
    const sink = recordingSink(clock, {
      post: async () => {
        if (failures-- > 0) throw new Error('Discord refused the audit post (500)');
      },
    });
    await outbox.appendAuditLines(
      [{ platform: 'chat', channelId: 'log', text: 'kept' }],
      clock.now(),
    );
    const running = poster(outbox, clock, sink);
    await running.tick();
    await running.idle();
    expect(outbox.lines).toHaveLength(1);
    // Not again at once: after a delay.
    clock.time += 100;
    await running.tick();
    await running.idle();
    expect(sink.posts).toHaveLength(1);
    await drain(outbox, clock, running);
    expect(sink.posts.map((post) => post.lines)).toEqual([['kept'], ['kept'], ['kept']]);
    expect(outbox.lines).toEqual([]);
  });

  it('rests after a round with nothing to post, unless lines were written here', async () => {
    const outbox = new MemoryOutbox();
    const clock = new TestClock();
    let reads = 0;
    const read = outbox.pendingAuditLines.bind(outbox);
    outbox.pendingAuditLines = (limit) => {
      reads++;
      return read(limit);
    };
    const sink = recordingSink(clock);
    const running = poster(outbox, clock, sink);
    await running.tick();
    expect(reads).toBe(1);
    // Another process's line waits for the rest to end (at most a second)...
    await outbox.appendAuditLines([{ platform: 'chat', channelId: 'log', text: 'theirs' }], 0);
    clock.time += 500;
    await running.tick();
    expect(reads).toBe(1);
    clock.time += 500;
    await running.tick();
    await running.idle();
    expect(reads).toBe(2);
    expect(sink.posts.map((post) => post.lines)).toEqual([['theirs']]);
    // ...one written here goes at the next round.
    await running.tick();
    expect(reads).toBe(3);
    await running.tick();
    expect(reads).toBe(3);
    await outbox.appendAuditLines([{ platform: 'chat', channelId: 'log', text: 'ours' }], 0);
    running.nudge();
    await running.tick();
    await running.idle();
    expect(reads).toBe(4);
    expect(sink.posts.map((post) => post.lines)).toEqual([['theirs'], ['ours']]);
  });

  it('one process posts a platform’s lines at a time (the named lock)', async () => {
    const outbox = new MemoryOutbox();
    const clock = new TestClock();
    const first = recordingSink(clock);
    const second = recordingSink(clock);
    const sinks = [first, second];
    const posters = sinks.map(
      (sink, index) =>
        new AuditPoster({
          store: outbox,
          clock,
          logger: recordingLogger([]),
          owner: `process-${index}`,
          sinks: new Map([[sink.platform, sink]]),
        }),
    );
    for (let index = 0; index < 5; index++) {
      await outbox.appendAuditLines(
        [{ platform: 'chat', channelId: 'log', text: `line ${index}` }],
        clock.now(),
      );
      await Promise.all(posters.map((running) => running.tick()));
      await Promise.all(posters.map((running) => running.idle()));
      clock.time += 1500;
    }
    expect(first.posts.length).toBe(5);
    expect(second.posts.length).toBe(0);
    // The holder stops: the other takes over.
    await posters[0]?.stop();
    await outbox.appendAuditLines(
      [{ platform: 'chat', channelId: 'log', text: 'later' }],
      clock.now(),
    );
    await posters[1]?.tick();
    await posters[1]?.idle();
    expect(second.posts.map((post) => post.lines)).toEqual([['later']]);
  });
});

describe('AuditLog', () => {
  const job = {
    id: 'job-1',
    platform: 'chat',
    serverId: 'server-1',
    channelId: 'channel-1',
    requesterId: 'user-1',
    prompt: 'a cat',
    state: 'queued',
  } as unknown as Job;

  it('records to the server’s channel and the operator’s, without waiting, and logs a failure', async () => {
    const outbox = new MemoryOutbox();
    const clock = new TestClock();
    const warnings: Warning[] = [];
    const sink = { ...recordingSink(clock), operatorChannelId: 'operator' };
    let answer: (channel: string | undefined) => void = () => undefined;
    const log = new AuditLog({
      store: outbox,
      clock,
      logger: recordingLogger(warnings),
      owner: 'process-1',
      auditChannelOf: () =>
        new Promise((resolve) => {
          answer = resolve;
        }),
    });
    log.register(sink);
    // Returns before the settings are even read.
    log.record({ kind: 'accepted', job });
    expect(outbox.lines).toEqual([]);
    answer('server-log');
    await log.stop();
    expect(outbox.lines.map((line) => line.channelId).sort()).toEqual(['operator', 'server-log']);

    outbox.failAppend = true;
    log.record({ kind: 'accepted', job });
    answer('server-log');
    await log.stop();
    expect(warnings.map((warning) => warning.message)).toEqual(['Could not record an audit line']);
  });
});
