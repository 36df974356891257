import type { EventEmitter } from 'node:events';
import { type Clock, systemClock } from '../clock.js';
import type { EngineEvents } from '../jobs/engine-options.js';
import type { Logger } from '../logger.js';
import type { AuditEvent } from './audit-event.js';
import type { AuditOutbox } from './audit-outbox.js';
import { AuditPoster } from './audit-poster.js';
import { AuditRecorder } from './audit-recorder.js';
import type { AuditRegistry, AuditSink } from './audit-sink.js';

export interface AuditLogOptions {
  readonly store: AuditOutbox;
  readonly logger: Logger;
  /** This process's name in the store's locks (the engine's owner). */
  readonly owner: string;
  /** The audit channel a server chose in its settings, if any. */
  readonly auditChannelOf: (platform: string, serverId: string) => Promise<string | undefined>;
  readonly clock?: Clock;
  /** How often the outbox is looked at; default 250 ms. */
  readonly postEveryMs?: number;
}

/**
 * The moderation log: one line per accepted job, per finished job and per blocked-word refusal,
 * in the server's audit channel (its settings) and the operator's (`*_AUDIT_CHANNEL_ID`). Lines
 * go to the store's outbox from whichever process saw the event, and one process per platform
 * posts them within the platform's limits (see `AuditPoster`), so a busy log never delays a job.
 */
export class AuditLog implements AuditRegistry {
  readonly #sinks = new Map<string, AuditSink>();
  readonly #recorder: AuditRecorder;
  readonly #poster: AuditPoster;
  readonly #postEveryMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: AuditLogOptions) {
    const clock = options.clock ?? systemClock;
    const logger = options.logger;
    this.#postEveryMs = options.postEveryMs ?? 250;
    this.#recorder = new AuditRecorder({
      store: options.store,
      clock,
      logger,
      sinks: this.#sinks,
      auditChannelOf: options.auditChannelOf,
      written: () => this.#poster.nudge(),
    });
    this.#poster = new AuditPoster({
      store: options.store,
      clock,
      logger,
      owner: options.owner,
      sinks: this.#sinks,
    });
  }

  /** An adapter's way of describing and posting its platform's lines. */
  register(sink: AuditSink): void {
    this.#sinks.set(sink.platform, sink);
  }

  /** Records an event's lines; returns at once (see `AuditRecorder`). */
  record(event: AuditEvent): void {
    if (event.kind === 'refused' && event.error.code !== 'blocked_prompt') return;
    this.#recorder.record(event);
  }

  /** Follows an engine's accepted and finished jobs and its blocked-word refusals. */
  follow(engine: EventEmitter<EngineEvents>): void {
    engine.on('accepted', (job) => this.record({ kind: 'accepted', job }));
    engine.on('finished', (job) => this.record({ kind: 'finished', job }));
    engine.on('refused', (request, error) => this.record({ kind: 'refused', request, error }));
  }

  /** Starts posting (when some adapter registered a sink). */
  start(): void {
    if (this.#timer !== undefined || this.#sinks.size === 0) return;
    this.#timer = setInterval(() => void this.#poster.tick(), this.#postEveryMs);
    this.#timer.unref();
  }

  /** Stops posting; lines not yet posted stay in the outbox for the next poster. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#recorder.settled();
    await this.#poster.stop();
  }
}
