import pg from 'pg';
import { z } from 'zod';
import type { Logger } from '../../logger.js';
import type { StoreEvent } from '../store.js';

/**
 * The PostgreSQL store's events between processes: `NOTIFY nano_banana, '<json>'` on any pooled
 * connection, heard on one dedicated connection that `LISTEN`s (a pooled connection cannot: the
 * pool hands it to other work and may close it). When that connection drops (the server restarted,
 * an operator ended it, the network blinked) it reconnects with a bounded backoff, for as long as
 * the store is open. Events sent while it was down are lost, which the contract allows (delivery is
 * best-effort, listeners also poll); after a reconnect the store tells its listeners a `queue`
 * event so that they look at once rather than at their next poll.
 */

export const EVENT_CHANNEL = 'nano_banana';

/** What travels in a notification: the event, and which store sent it (to skip its own echo). */
export interface EventEnvelope {
  readonly origin: string;
  readonly event: StoreEvent;
}

/*
 * Notifications come from other processes, possibly of another version during a rolling deploy:
 * read through a schema, and an event of a kind this version does not know is ignored.
 */
const storeEventSchema: z.ZodType<StoreEvent> = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('queue'),
    jobId: z.string().optional(),
    eligibleAt: z.number().optional(),
  }),
  z.object({ kind: z.literal('callback'), jobId: z.string() }),
  z.object({ kind: z.literal('cancel'), jobId: z.string() }),
  z.object({ kind: z.literal('pause'), until: z.number() }),
]);

const envelopeSchema = z.object({ origin: z.string(), event: z.unknown() });

/** The envelope in a notification's payload, or undefined for one this version cannot read. */
export function readEnvelope(payload: string | undefined): EventEnvelope | undefined {
  if (payload === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return undefined;
  }
  const envelope = envelopeSchema.safeParse(parsed);
  if (!envelope.success) return undefined;
  const event = storeEventSchema.safeParse(envelope.data.event);
  if (!event.success) return undefined;
  return { origin: envelope.data.origin, event: event.data };
}

export interface EventListenerOptions {
  /** How to connect (the store's URL and settings); its own connection, outside the pool. */
  readonly connection: pg.ClientConfig;
  readonly logger: Logger;
  /** A notification read from the channel. */
  readonly onEnvelope: (envelope: EventEnvelope) => void;
  /** The connection came back after a drop: events may have been missed. */
  readonly onReconnect: () => void;
  /** First wait before reconnecting; doubled at each failure up to `maxBackoffMs`. */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

const DEFAULT_MIN_BACKOFF_MS = 100;
const DEFAULT_MAX_BACKOFF_MS = 5_000;

export class EventListener {
  readonly #options: EventListenerOptions;
  #client: pg.Client | undefined;
  #closed = false;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #backoffMs: number;

  constructor(options: EventListenerOptions) {
    this.#options = options;
    this.#backoffMs = options.minBackoffMs ?? DEFAULT_MIN_BACKOFF_MS;
  }

  /** True while the LISTEN connection is up. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  /**
   * Sends a notification on the listening connection, which is otherwise idle: an event (a new
   * job, a callback for its owner) then never waits behind the pool's queries, which a burst can
   * fill for seconds. False when the connection is down or failed: the caller sends it otherwise.
   */
  async notify(payload: string): Promise<boolean> {
    const client = this.#client;
    if (client === undefined) return false;
    try {
      await client.query('SELECT pg_notify($1, $2)', [EVENT_CHANNEL, payload]);
      return true;
    } catch {
      return false;
    }
  }

  /** The first connection: an error here is the caller's (the store does not open). */
  async start(): Promise<void> {
    await this.#connect();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ ...this.#options.connection, keepAlive: true });
    // An error on an idle connection is reported here, then `end` follows: reconnect there.
    client.on('error', (error) => {
      this.#options.logger.warn({ err: error }, 'Job store: the event listener connection failed');
    });
    client.on('end', () => this.#dropped(client));
    client.on('notification', (message) => {
      if (message.channel !== EVENT_CHANNEL) return;
      const envelope = readEnvelope(message.payload);
      if (envelope === undefined) {
        this.#options.logger.debug('Job store: ignored an event this version cannot read');
        return;
      }
      this.#options.onEnvelope(envelope);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENT_CHANNEL}`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#backoffMs = this.#options.minBackoffMs ?? DEFAULT_MIN_BACKOFF_MS;
  }

  #dropped(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    if (this.#closed) return;
    this.#options.logger.warn('Job store: the event listener connection dropped; reconnecting');
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer !== undefined) return;
    const wait = this.#backoffMs;
    this.#backoffMs = Math.min(wait * 2, this.#options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#connect().then(
        () => {
          if (!this.#closed) {
            this.#options.logger.info('Job store: the event listener is back');
            this.#options.onReconnect();
          }
        },
        (error: unknown) => {
          this.#options.logger.warn(
            { err: error },
            'Job store: the event listener could not reconnect; retrying',
          );
          this.#scheduleReconnect();
        },
      );
    }, wait);
    // A reconnect pending must not keep a stopping process alive.
    this.#reconnectTimer.unref();
  }
}
