import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { type AuditEvent, auditScope } from './audit-event.js';
import type { AuditOutbox } from './audit-outbox.js';
import type { AuditSink } from './audit-sink.js';
import { clipLine } from './pack-lines.js';

export interface AuditRecorderOptions {
  readonly store: Pick<AuditOutbox, 'appendAuditLines'>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly sinks: ReadonlyMap<string, AuditSink>;
  /** The audit channel a server chose in its settings, if any. */
  readonly auditChannelOf: (platform: string, serverId: string) => Promise<string | undefined>;
  /** Lines were written: the poster may look at once. */
  readonly written?: () => void;
}

/**
 * Turns events into lines in the store's outbox, for every channel that should see them: the
 * server's audit channel and the operator's. It is called from a job's path and never holds it up:
 * `record` returns at once, and a failure is logged, not thrown (a missing log line must not cost
 * anyone an image).
 */
export class AuditRecorder {
  readonly #options: AuditRecorderOptions;
  /** Lines being written, so that a stop can wait for them. */
  readonly #writing = new Set<Promise<void>>();

  constructor(options: AuditRecorderOptions) {
    this.#options = options;
  }

  record(event: AuditEvent): void {
    const writing = this.#write(event).catch((error: unknown) => {
      this.#options.logger.warn(
        { err: error, event: event.kind },
        'Could not record an audit line',
      );
    });
    this.#writing.add(writing);
    void writing.finally(() => this.#writing.delete(writing));
  }

  /** Resolves once the lines under way are written (or failed). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#writing]);
  }

  async #write(event: AuditEvent): Promise<void> {
    const { platform, serverId } = auditScope(event);
    const sink = this.#options.sinks.get(platform);
    if (sink === undefined) return;
    const channels = new Set<string>();
    if (serverId !== undefined) {
      const serverChannel = await this.#options.auditChannelOf(platform, serverId);
      if (serverChannel !== undefined && serverChannel !== '') channels.add(serverChannel);
    }
    if (sink.operatorChannelId !== undefined) channels.add(sink.operatorChannelId);
    if (channels.size === 0) return;
    const line = await sink.describe(event);
    if (line === undefined) return;
    const text = clipLine(line, sink.maxMessageChars);
    await this.#options.store.appendAuditLines(
      [...channels].map((channelId) => ({ platform, channelId, text })),
      this.#options.clock.now(),
    );
    this.#options.written?.();
  }
}
