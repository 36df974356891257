/**
 * The fake gateway: Discord's WebSocket protocol (v10, JSON, no compression) as discord.js speaks
 * it. HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME with replay, dispatches with a
 * rising sequence, and the close codes Discord uses for a bad token (4004), a privileged intent
 * the app is not allowed (4014) and an invalid shard (4010).
 *
 * Sharding as on Discord: a session that identified with `shard: [id, count]` receives the events
 * of the guilds whose `(guild_id >> 22) % count` is its id, and DMs when its id is 0. Discord
 * documents no refusal of a second session on a shard already connected (both then receive its
 * events), so neither does the fake: every IDENTIFY is recorded with its shard and time instead,
 * for tests to assert that a fleet never did that, and that identifies were spaced.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import type { ContentView, Dispatcher } from './state.js';
import { INTENTS, type JsonObject } from './types.js';

const OPCODES = {
  Dispatch: 0,
  Heartbeat: 1,
  Identify: 2,
  PresenceUpdate: 3,
  VoiceStateUpdate: 4,
  Resume: 6,
  Reconnect: 7,
  RequestGuildMembers: 8,
  InvalidSession: 9,
  Hello: 10,
  HeartbeatAck: 11,
} as const;

const CLOSE_CODES = {
  UnknownOpcode: [4001, 'Unknown opcode.'],
  DecodeError: [4002, 'Error while decoding payload.'],
  NotAuthenticated: [4003, 'Not authenticated.'],
  AuthenticationFailed: [4004, 'Authentication failed.'],
  AlreadyAuthenticated: [4005, 'Already authenticated.'],
  InvalidShard: [4010, 'Invalid shard.'],
  InvalidIntents: [4013, 'Invalid intent(s).'],
  DisallowedIntents: [4014, 'Disallowed intent(s).'],
} as const;

/** Every intent bit Discord defines (bits 0-25); anything above is refused with 4013. */
const KNOWN_INTENTS = (1 << 26) - 1;
/** Enough replay for a resume after a short drop, without growing without bound. */
const BACKLOG_LIMIT = 1000;

interface DispatchFrame {
  op: 0;
  t: string;
  s: number;
  d: JsonObject;
}

export interface GatewaySession {
  id: string;
  intents: number;
  /** `[id, count]` as identified; a session without it is the only shard (`[0, 1]`). */
  shard: readonly [number, number];
  sequence: number;
  socket: WebSocket | undefined;
  backlog: DispatchFrame[];
}

export interface GatewayOptions {
  botToken: string;
  messageContentAllowed: boolean;
  heartbeatIntervalMs: number;
  /** READY and the GUILD_CREATEs for a freshly identified session, in order. */
  onIdentify: (session: GatewaySession) => { t: string; d: JsonObject }[];
  /** Called when something a test may wait for happens (identify, resume, close). */
  onChange: () => void;
  /** The fake's clock, for the times identifies are recorded at. */
  now: () => number;
}

/** One accepted IDENTIFY: which shard, when (on the fake's clock), and the session it opened. */
export interface RecordedIdentify {
  readonly shard: readonly [number, number];
  readonly at: number;
  readonly sessionId: string;
}

export class FakeGateway implements Dispatcher {
  private readonly server = new WebSocketServer({ noServer: true });
  private readonly sessions = new Map<string, GatewaySession>();
  private readonly socketSessions = new Map<WebSocket, GatewaySession>();
  private lastIntents: number | undefined;
  private readonly identifyLog: RecordedIdentify[] = [];
  /** Close codes the gateway used, newest last (4014, 4004, ...). */
  readonly closeCodes: number[] = [];

  constructor(private readonly options: GatewayOptions) {
    this.server.on('connection', (socket) => this.onConnection(socket));
  }

  get identifiedIntents(): number | undefined {
    return this.lastIntents;
  }

  /** How many IDENTIFYs got a READY. */
  get identifications(): number {
    return this.identifyLog.length;
  }

  /** Every IDENTIFY that got a READY, oldest first. */
  get identifies(): readonly RecordedIdentify[] {
    return this.identifyLog;
  }

  /** The shards of the sessions with a live socket, one entry per session. */
  get connectedShards(): (readonly [number, number])[] {
    return [...this.sessions.values()]
      .filter((session) => session.socket?.readyState === WebSocket.OPEN)
      .map((session) => session.shard);
  }

  /** Sessions with a live socket. */
  get connectedSessions(): number {
    return [...this.sessions.values()].filter(
      (session) => session.socket?.readyState === WebSocket.OPEN,
    ).length;
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.server.handleUpgrade(request, socket, head, (webSocket) => {
      this.server.emit('connection', webSocket, request);
    });
  }

  dispatch(
    event: string,
    requiredIntent: number | undefined,
    build: (view: ContentView) => JsonObject,
  ): void {
    for (const session of this.sessions.values()) {
      if (requiredIntent !== undefined && (session.intents & requiredIntent) === 0) continue;
      const view = { contentIntent: (session.intents & INTENTS.MessageContent) !== 0 };
      const payload = build(view);
      // Routed by the event's own guild, as Discord does; an event without one is a DM's.
      if (shardOf(payload.guild_id, session.shard[1]) !== session.shard[0]) continue;
      this.sendDispatch(session, event, payload);
    }
  }

  /**
   * Drops every connection with `code`. 4000 (default) keeps the sessions, so discord.js
   * resumes and gets the events it missed; 1000 ends them, so it identifies again.
   */
  disconnect(code = 4000): void {
    for (const [socket, session] of this.socketSessions) {
      if (code === 1000) this.sessions.delete(session.id);
      socket.close(code, 'Fake Discord: disconnect');
    }
  }

  close(): Promise<void> {
    for (const socket of this.server.clients) socket.terminate();
    this.sessions.clear();
    this.socketSessions.clear();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
    });
  }

  private onConnection(socket: WebSocket): void {
    socket.on('error', () => {
      // A client that goes away mid-frame is normal; the close handler cleans up.
    });
    socket.on('message', (data: RawData) => this.onFrame(socket, data));
    socket.on('close', (code: number) => {
      const session = this.socketSessions.get(socket);
      this.socketSessions.delete(socket);
      if (session && session.socket === socket) {
        session.socket = undefined;
        // A clean close by the client ends the session, as on Discord; others may resume.
        if (code === 1000 || code === 1001) this.sessions.delete(session.id);
      }
      this.options.onChange();
    });
    this.send(socket, {
      op: OPCODES.Hello,
      d: { heartbeat_interval: this.options.heartbeatIntervalMs, _trace: ['["fake-gateway"]'] },
      s: null,
      t: null,
    });
  }

  private onFrame(socket: WebSocket, data: RawData): void {
    let frame: unknown;
    try {
      frame = JSON.parse(rawText(data));
    } catch {
      this.closeWith(socket, CLOSE_CODES.DecodeError);
      return;
    }
    if (typeof frame !== 'object' || frame === null) {
      this.closeWith(socket, CLOSE_CODES.DecodeError);
      return;
    }
    const { op, d } = frame as { op?: unknown; d?: unknown };
    const payload = typeof d === 'object' && d !== null ? (d as JsonObject) : {};
    switch (op) {
      case OPCODES.Heartbeat:
        this.send(socket, { op: OPCODES.HeartbeatAck });
        return;
      case OPCODES.Identify:
        this.identify(socket, payload);
        return;
      case OPCODES.Resume:
        this.resume(socket, payload);
        return;
      case OPCODES.PresenceUpdate:
      case OPCODES.VoiceStateUpdate:
      case OPCODES.RequestGuildMembers:
        if (!this.socketSessions.has(socket)) this.closeWith(socket, CLOSE_CODES.NotAuthenticated);
        return;
      default:
        this.closeWith(socket, CLOSE_CODES.UnknownOpcode);
    }
  }

  private identify(socket: WebSocket, payload: JsonObject): void {
    if (this.socketSessions.has(socket)) {
      this.closeWith(socket, CLOSE_CODES.AlreadyAuthenticated);
      return;
    }
    if (stripBot(payload.token) !== this.options.botToken) {
      this.closeWith(socket, CLOSE_CODES.AuthenticationFailed);
      return;
    }
    const intents = payload.intents;
    if (
      typeof intents !== 'number' ||
      !Number.isInteger(intents) ||
      intents < 0 ||
      intents > KNOWN_INTENTS
    ) {
      this.closeWith(socket, CLOSE_CODES.InvalidIntents);
      return;
    }
    this.lastIntents = intents;
    if ((intents & INTENTS.MessageContent) !== 0 && !this.options.messageContentAllowed) {
      this.closeWith(socket, CLOSE_CODES.DisallowedIntents);
      return;
    }
    const shard = readShard(payload.shard);
    if (shard === undefined) {
      this.closeWith(socket, CLOSE_CODES.InvalidShard);
      return;
    }
    const session: GatewaySession = {
      id: randomBytes(16).toString('hex'),
      intents,
      shard,
      sequence: 0,
      socket,
      backlog: [],
    };
    this.sessions.set(session.id, session);
    this.socketSessions.set(socket, session);
    for (const event of this.options.onIdentify(session)) {
      this.sendDispatch(session, event.t, event.d);
    }
    this.identifyLog.push({ shard, at: this.options.now(), sessionId: session.id });
    this.options.onChange();
  }

  private resume(socket: WebSocket, payload: JsonObject): void {
    const session =
      typeof payload.session_id === 'string' ? this.sessions.get(payload.session_id) : undefined;
    const sequence = typeof payload.seq === 'number' ? payload.seq : 0;
    const oldest = session?.backlog[0]?.s ?? Number.POSITIVE_INFINITY;
    const canReplay =
      session !== undefined && (sequence >= session.sequence || oldest <= sequence + 1);
    if (!session || stripBot(payload.token) !== this.options.botToken || !canReplay) {
      // Not resumable: the client must identify again on a new connection.
      this.send(socket, { op: OPCODES.InvalidSession, d: false, s: null, t: null });
      return;
    }
    if (session.socket && session.socket !== socket) session.socket.terminate();
    session.socket = socket;
    this.socketSessions.set(socket, session);
    for (const frame of session.backlog) {
      if (frame.s > sequence) this.send(socket, frame);
    }
    this.sendDispatch(session, 'RESUMED', { _trace: ['["fake-gateway"]'] });
    this.options.onChange();
  }

  private sendDispatch(session: GatewaySession, t: string, d: JsonObject): void {
    session.sequence += 1;
    const frame: DispatchFrame = { op: 0, t, s: session.sequence, d };
    session.backlog.push(frame);
    if (session.backlog.length > BACKLOG_LIMIT) session.backlog.shift();
    if (session.socket) this.send(session.socket, frame);
  }

  private send(socket: WebSocket, frame: unknown): void {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  private closeWith(socket: WebSocket, [code, reason]: readonly [number, string]): void {
    this.closeCodes.push(code);
    socket.close(code, reason);
    this.options.onChange();
  }
}

/** The shard a guild's events go to: `(guild_id >> 22) % count`; DMs (no guild) go to shard 0. */
export function shardOf(guildId: unknown, count: number): number {
  if (typeof guildId !== 'string' || !/^\d+$/.test(guildId) || count <= 1) return 0;
  return Number((BigInt(guildId) >> 22n) % BigInt(count));
}

/** `shard: [id, count]` of an IDENTIFY (absent: the only shard); undefined when invalid (4010). */
function readShard(value: unknown): readonly [number, number] | undefined {
  if (value === undefined || value === null) return [0, 1];
  if (!Array.isArray(value) || value.length !== 2) return undefined;
  const [id, count] = value as unknown[];
  if (!Number.isInteger(id) || !Number.isInteger(count)) return undefined;
  const shardId = id as number;
  const shardCount = count as number;
  return shardCount >= 1 && shardId >= 0 && shardId < shardCount
    ? [shardId, shardCount]
    : undefined;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}

function stripBot(token: unknown): string | undefined {
  return typeof token === 'string' ? token.replace(/^Bot\s+/i, '') : undefined;
}
