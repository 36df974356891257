import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { AuditLine, AuditOutbox } from './audit-outbox.js';
import { AuditChannelClosed, type AuditSink } from './audit-sink.js';
import { linesThatFit } from './pack-lines.js';

export interface AuditPosterOptions {
  readonly store: AuditOutbox;
  readonly clock: Clock;
  readonly logger: Logger;
  /** This process's name in the store's locks. */
  readonly owner: string;
  readonly sinks: ReadonlyMap<string, AuditSink>;
  /** Lines read from the outbox per round; default 500. */
  readonly batchLimit?: number;
}

/** How long the poster's lock holds if its process dies: another process posts after that. */
export const AUDIT_POSTER_LOCK_MS = 30_000;
/**
 * Kept between posts on top of the platform's pace: a post's start here and its arrival there are
 * not the same instant, and a limit met on our side must be met on theirs.
 */
const PACE_MARGIN_MS = 250;
/** How long a channel the bot may not post in has its lines dropped before it is tried again. */
const CLOSED_CHANNEL_MS = 10 * 60_000;
/**
 * How long the poster rests after a round with nothing to post (or no lock to hold): lines another
 * process writes wait that long at most, and an idle fleet does not ask the store 4 times a second.
 * A line written by this process ends the rest at once (`nudge`).
 */
export const AUDIT_IDLE_POLL_MS = 1000;
/** How long the poster rests after the store failed to answer: one warning, not four a second. */
const STORE_FAILURE_REST_MS = 5000;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;

/** What the poster remembers of one channel. */
interface ChannelState {
  /** When each of the last posts started, oldest first (at most the pace's count). */
  readonly startedAt: number[];
  inFlight: boolean;
  failures: number;
  retryAt: number;
  closedUntil: number;
}

/**
 * Posts the outbox's lines, one process of the fleet per platform (the named lock
 * `audit-poster:<platform>`), several lines per message, within each platform's pace per channel.
 * Each channel goes its own way: a channel whose post hangs or fails holds only its own lines,
 * never another channel's, and never a job (jobs do not wait on the log at all). A failed post is
 * retried with a growing delay; a channel the bot may not post in drops its lines with one warning.
 */
export class AuditPoster {
  readonly #options: AuditPosterOptions;
  readonly #channels = new Map<string, ChannelState>();
  readonly #posting = new Set<Promise<void>>();
  readonly #held = new Set<string>();
  #round: Promise<void> | undefined;
  #restUntil = 0;
  #stopped = false;

  constructor(options: AuditPosterOptions) {
    this.#options = options;
  }

  /** One round: take the locks, read the outbox, start the posts the pace allows. */
  tick(): Promise<void> {
    if (this.#stopped || this.#options.clock.now() < this.#restUntil) return Promise.resolve();
    // Rounds never overlap: a slow store makes them rarer, not concurrent.
    this.#round ??= this.#runRound().finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  /** Lines were just written here: the next round looks at once, resting or not. */
  nudge(): void {
    this.#restUntil = 0;
  }

  /** Resolves once the posts under way are answered (tests; a stop does not wait for them). */
  async idle(): Promise<void> {
    await this.#round;
    await Promise.allSettled([...this.#posting]);
  }

  /** Stops posting and gives up the locks: lines left in the outbox wait for the next poster. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#round?.catch(() => undefined);
    const { store, owner, logger } = this.#options;
    for (const name of this.#held) {
      try {
        await store.releaseLock(name, owner);
      } catch (error) {
        logger.warn({ err: error, lock: name }, 'Could not give up the audit poster lock');
      }
    }
    this.#held.clear();
  }

  async #runRound(): Promise<void> {
    const { store, clock, logger, sinks, owner } = this.#options;
    try {
      const now = clock.now();
      const platforms = new Set<string>();
      for (const platform of sinks.keys()) {
        const name = `audit-poster:${platform}`;
        if (await store.acquireLock(name, owner, now, now + AUDIT_POSTER_LOCK_MS)) {
          this.#held.add(name);
          platforms.add(platform);
        } else {
          this.#held.delete(name);
        }
      }
      if (platforms.size === 0 || this.#stopped) {
        this.#restUntil = now + AUDIT_IDLE_POLL_MS;
        return;
      }
      const pending = await store.pendingAuditLines(this.#options.batchLimit ?? 500);
      if (pending.length === 0) this.#restUntil = now + AUDIT_IDLE_POLL_MS;
      const byChannel = new Map<string, AuditLine[]>();
      for (const line of pending) {
        if (!platforms.has(line.platform)) continue;
        const key = channelKey(line.platform, line.channelId);
        const lines = byChannel.get(key) ?? [];
        lines.push(line);
        byChannel.set(key, lines);
      }
      const dropped: number[] = [];
      for (const [key, lines] of byChannel) {
        const first = lines[0];
        const sink = first === undefined ? undefined : sinks.get(first.platform);
        if (first === undefined || sink === undefined) continue;
        const state = this.#state(key);
        if (state.closedUntil > now) {
          dropped.push(...lines.map((line) => line.id));
          continue;
        }
        if (state.inFlight || state.retryAt > now || !mayPost(state, sink, now)) continue;
        const count = linesThatFit(
          lines.map((line) => line.text),
          sink.maxMessageChars,
        );
        this.#startPost(sink, first.channelId, state, lines.slice(0, count), now);
      }
      if (dropped.length > 0) await store.deleteAuditLines(dropped);
    } catch (error) {
      this.#restUntil = clock.now() + STORE_FAILURE_REST_MS;
      logger.warn({ err: error }, 'Could not read the audit outbox');
    }
  }

  #startPost(
    sink: AuditSink,
    channelId: string,
    state: ChannelState,
    lines: readonly AuditLine[],
    now: number,
  ): void {
    state.inFlight = true;
    state.startedAt.push(now);
    while (state.startedAt.length > sink.pace.messages) state.startedAt.shift();
    const posting = this.#post(sink, channelId, state, lines).finally(() => {
      state.inFlight = false;
      this.#posting.delete(posting);
    });
    this.#posting.add(posting);
  }

  async #post(
    sink: AuditSink,
    channelId: string,
    state: ChannelState,
    lines: readonly AuditLine[],
  ): Promise<void> {
    const { store, clock, logger } = this.#options;
    const ids = lines.map((line) => line.id);
    try {
      await sink.post(
        channelId,
        lines.map((line) => line.text),
      );
      state.failures = 0;
    } catch (error) {
      if (error instanceof AuditChannelClosed) {
        // One warning per closed spell, not one per line: the lines that follow are dropped quietly
        // until the channel is tried again.
        logger.warn(
          { platform: sink.platform, channelId, reason: error.reason, dropped: ids.length },
          'The bot may not post in this audit channel: its lines are dropped (check the channel and the bot’s permissions there)',
        );
        state.closedUntil = clock.now() + CLOSED_CHANNEL_MS;
      } else {
        state.failures++;
        const delayMs = Math.min(FIRST_RETRY_MS * 2 ** (state.failures - 1), MAX_RETRY_MS);
        state.retryAt = clock.now() + delayMs;
        logger.warn(
          { platform: sink.platform, channelId, err: error, attempt: state.failures, delayMs },
          'Could not post audit lines; retrying',
        );
        return;
      }
    }
    try {
      await store.deleteAuditLines(ids);
    } catch (error) {
      // They will be posted again: a line twice is better than a line lost.
      logger.warn({ err: error, channelId }, 'Could not remove posted audit lines from the outbox');
    }
  }

  #state(key: string): ChannelState {
    let state = this.#channels.get(key);
    if (state === undefined) {
      state = { startedAt: [], inFlight: false, failures: 0, retryAt: 0, closedUntil: 0 };
      this.#channels.set(key, state);
    }
    return state;
  }
}

/** Whether another post fits in the channel's pace now. */
function mayPost(state: ChannelState, sink: AuditSink, now: number): boolean {
  if (state.startedAt.length < sink.pace.messages) return true;
  const oldest = state.startedAt[0] ?? 0;
  return now - oldest >= sink.pace.perMs + PACE_MARGIN_MS;
}

function channelKey(platform: string, channelId: string): string {
  return `${platform}\u0000${channelId}`;
}
