/**
 * Slack's Socket Mode side: `apps.connections.open` hands out a one-time WebSocket URL, the app
 * connects, we greet it with `hello`, then push envelopes and wait for the app's acks
 * (`{envelope_id, payload}`), as Slack does.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';

export type EnvelopeType = 'slash_commands' | 'events_api' | 'interactive';

export interface SocketAck {
  envelope_id: string;
  /** What the app passed to `ack()`: `{}` for a bare ack. */
  payload?: unknown;
}

export interface RecordedEnvelope {
  envelope_id: string;
  type: EnvelopeType;
  payload: unknown;
  accepts_response_payload: boolean;
  /** Milliseconds since the epoch. */
  sentAt: number;
  /** Which connection it was pushed to (1 for the first the fake accepted, and so on). */
  connection: number;
  /** The app's answer, once it came. */
  ack?: { payload?: unknown; at: number } | undefined;
}

export interface EnvelopeOptions {
  /** How long to wait for the ack; default 5000 ms. */
  timeoutMs?: number;
  /** Redelivery fields Slack adds to `events_api` envelopes. */
  retryAttempt?: number;
  retryReason?: string;
  /**
   * Which open connection gets it, oldest first (Slack spreads envelopes among an app's
   * connections: several processes each with one); default the newest.
   */
  connection?: number;
}

interface Connection {
  /** 1 for the first connection accepted, and so on. */
  id: number;
  socket: WebSocket;
  greeted: boolean;
  /** Asked to reconnect (`disconnect`): Slack sends it nothing more. */
  retiring: boolean;
}

/** Every wait in the fake is bounded; this is the default bound. */
export const DEFAULT_WAIT_MS = 5_000;
const CLOSE_HANDSHAKE_WAIT_MS = 2_000;

export class SocketModeHub {
  readonly envelopes: RecordedEnvelope[] = [];
  private readonly server = new WebSocketServer({ noServer: true });
  private readonly tickets = new Set<string>();
  private readonly connections = new Set<Connection>();
  private readonly pendingAcks = new Map<
    string,
    { settle: (ack: SocketAck) => void; fail: (error: Error) => void }
  >();
  private readonly changes = new EventEmitter();
  private readonly appId: string;
  private readonly now: () => number;
  private origin = '';
  private accepted = 0;
  /** Envelopes sent so far: the next one goes to the next connection in turn. */
  private sent = 0;

  constructor(options: { appId: string; now: () => number }) {
    this.appId = options.appId;
    this.now = options.now;
    this.changes.setMaxListeners(0);
  }

  setOrigin(httpOrigin: string): void {
    this.origin = httpOrigin.replace(/^http/, 'ws');
  }

  /** A one-time URL, as `apps.connections.open` answers (`wss://wss-primary.slack.com/link/?ticket=...`). */
  issueUrl(): string {
    const ticket = randomUUID();
    this.tickets.add(ticket);
    return `${this.origin}/socket?ticket=${ticket}&app_id=${this.appId}`;
  }

  /** Takes an HTTP upgrade on `/socket`; refuses unknown or reused tickets with 401. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'http://fake');
    const ticket = url.searchParams.get('ticket') ?? '';
    if (url.pathname !== '/socket' || !this.tickets.delete(ticket)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.server.handleUpgrade(request, socket, head, (webSocket) => this.accept(webSocket));
  }

  private accept(socket: WebSocket): void {
    this.accepted += 1;
    const connection: Connection = { id: this.accepted, socket, greeted: false, retiring: false };
    this.connections.add(connection);
    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) this.onMessage(data.toString());
    });
    socket.on('close', () => {
      this.connections.delete(connection);
      this.changes.emit('change');
    });
    socket.on('error', () => socket.terminate());
    socket.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.openConnections().length + 1,
        debug_info: { host: 'applink-fake', build_number: 1, approximate_connection_time: 18060 },
        connection_info: { app_id: this.appId },
      }),
    );
    connection.greeted = true;
    this.changes.emit('change');
  }

  private onMessage(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    const { envelope_id: envelopeId, payload } = message as {
      envelope_id?: unknown;
      payload?: unknown;
    };
    if (typeof envelopeId !== 'string') return;
    const recorded = this.envelopes.find((envelope) => envelope.envelope_id === envelopeId);
    if (recorded !== undefined && recorded.ack === undefined) {
      recorded.ack = payload === undefined ? { at: this.now() } : { payload, at: this.now() };
    }
    const pending = this.pendingAcks.get(envelopeId);
    this.pendingAcks.delete(envelopeId);
    pending?.settle(
      payload === undefined ? { envelope_id: envelopeId } : { envelope_id: envelopeId, payload },
    );
    this.changes.emit('change');
  }

  private openConnections(): Connection[] {
    return [...this.connections].filter(
      (connection) => connection.greeted && connection.socket.readyState === connection.socket.OPEN,
    );
  }

  /** How many app connections are open and greeted. */
  get openCount(): number {
    return this.openConnections().length;
  }

  /**
   * Resolves once `count` connections (one per app process, say) are open and greeted; rejects
   * after `timeoutMs`.
   */
  connected(timeoutMs = DEFAULT_WAIT_MS, count = 1): Promise<void> {
    return this.waitUntil(
      () => this.openConnections().length >= count,
      timeoutMs,
      count === 1 ? 'a Socket Mode connection' : `${count} Socket Mode connections`,
    );
  }

  /** Open, greeted connections now (an app process killed without a close drops out at once). */
  openConnectionCount(): number {
    return this.openConnections().length;
  }

  /** Resolves once no app is connected (after the app disconnected or was stopped). */
  disconnected(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.waitUntil(
      () => this.connections.size === 0,
      timeoutMs,
      'the Socket Mode connections to close',
    );
  }

  /**
   * Pushes an envelope and resolves with the app's ack. Slack spreads envelopes among an app's
   * open connections (up to 10, one per process of a fleet, say): so does the fake, in turn,
   * leaving out connections it asked to reconnect. A redelivery (`retryAttempt`) thus usually
   * reaches another connection than the first attempt, as it may on Slack.
   */
  send(type: EnvelopeType, payload: unknown, options: EnvelopeOptions = {}): Promise<SocketAck> {
    const open = this.openConnections();
    const current = open.filter((candidate) => !candidate.retiring);
    const choices = current.length > 0 ? current : open;
    let connection = options.connection === undefined ? undefined : open[options.connection];
    if (options.connection === undefined) {
      connection = choices[this.sent % Math.max(1, choices.length)];
      this.sent += 1;
    }
    if (connection === undefined) {
      return Promise.reject(new Error('fake Slack: no Socket Mode connection to send to'));
    }
    const envelopeId = randomUUID();
    const payloadType = (payload as { type?: unknown } | null)?.type;
    // Slack lets the ack carry a response for commands, option requests and view submissions.
    const acceptsResponsePayload =
      type === 'slash_commands' ||
      (type === 'interactive' &&
        (payloadType === 'view_submission' || payloadType === 'block_suggestion'));
    const envelope: Record<string, unknown> = {
      envelope_id: envelopeId,
      payload,
      type,
      accepts_response_payload: acceptsResponsePayload,
    };
    if (type === 'events_api') {
      envelope.retry_attempt = options.retryAttempt ?? 0;
      envelope.retry_reason = options.retryReason ?? '';
    }
    this.envelopes.push({
      envelope_id: envelopeId,
      type,
      payload,
      accepts_response_payload: acceptsResponsePayload,
      sentAt: this.now(),
      connection: connection.id,
    });
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
    return new Promise<SocketAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingAcks.delete(envelopeId);
        reject(new Error(`fake Slack: no ack for ${type} envelope within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingAcks.set(envelopeId, {
        settle: (ack) => {
          clearTimeout(timer);
          resolve(ack);
        },
        fail: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      connection.socket.send(JSON.stringify(envelope));
    });
  }

  /** Asks the app to reconnect, as Slack does before recycling a server (`refresh_requested`)
   * or when a connection is too old (`warning`, then `disconnect`). */
  requestReconnect(reason = 'refresh_requested'): void {
    for (const connection of this.openConnections()) {
      connection.retiring = true;
      connection.socket.send(
        JSON.stringify({
          type: 'disconnect',
          reason,
          debug_info: { host: 'applink-fake' },
        }),
      );
    }
  }

  /** Drops every connection without a close handshake (a network failure, or a stop). */
  dropConnections(): void {
    for (const connection of this.connections) connection.socket.terminate();
  }

  /** Ends the connections with a close handshake (bounded), then drops what is left. A client
   * whose own close is cut short keeps a 30-second timer, so Node would not exit. */
  async close(): Promise<void> {
    for (const connection of this.connections) {
      if (connection.socket.readyState === connection.socket.OPEN) {
        connection.socket.close(1001, 'fake Slack closing');
      }
    }
    await this.disconnected(CLOSE_HANDSHAKE_WAIT_MS).catch(() => {});
    this.dropConnections();
    for (const pending of this.pendingAcks.values()) {
      pending.fail(new Error('fake Slack: closed before the app acked'));
    }
    this.pendingAcks.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onChange = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.changes.off('change', onChange);
        resolve();
      };
      const timer = setTimeout(() => {
        this.changes.off('change', onChange);
        reject(new Error(`fake Slack: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.changes.on('change', onChange);
    });
  }
}
