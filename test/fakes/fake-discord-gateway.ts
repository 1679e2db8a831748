import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

/**
 * The websocket half of the fake Discord: HELLO → IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME
 * with replay of what a dropped connection missed, and dispatches in sequence, the way discord.js
 * (through @discordjs/ws, JSON encoding, no compression) expects them.
 */

const opcodes = {
  dispatch: 0,
  heartbeat: 1,
  identify: 2,
  resume: 6,
  invalidSession: 9,
  hello: 10,
  heartbeatAck: 11,
} as const;

interface LoggedDispatch {
  s: number;
  t: string;
  d: unknown;
}

interface GatewaySession {
  id: string;
  sequence: number;
  log: LoggedDispatch[];
  socket: WebSocket | null;
  intents: number;
}

export interface FakeGatewayStats {
  /** Every websocket the client opened, with the URL it used (`/?v=10…` or the resume URL). */
  connections: string[];
  identifies: number;
  resumes: number;
  /** The intents of the last IDENTIFY. */
  lastIntents: number | null;
  /** Dispatches replayed on RESUME, in total. */
  replayed: number;
}

export interface FakeGatewayOptions {
  token: string;
  heartbeatIntervalMs: number;
  /** The `d` of READY for a new session. */
  readyPayload(sessionId: string): Record<string, unknown>;
  /** GUILD_CREATE payloads sent after READY (discord.js drops guild messages without them). */
  guildPayloads(): Record<string, unknown>[];
  newId(): string;
}

/** Keeps this many dispatches per session for replay on RESUME. */
const replayLogLength = 1000;

export class FakeDiscordGateway {
  readonly stats: FakeGatewayStats = {
    connections: [],
    identifies: 0,
    resumes: 0,
    lastIntents: null,
    replayed: 0,
  };
  private readonly sessions = new Map<string, GatewaySession>();
  private readonly server = new WebSocketServer({ noServer: true });
  private readonly sockets = new Set<WebSocket>();
  /** How many already-delivered dispatches the next RESUME replays again (Discord delivers at least once). */
  private replayOverlap = 0;

  constructor(private readonly options: FakeGatewayOptions) {}

  handleUpgrade(request: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.server.handleUpgrade(request, socket, head, (connection) =>
      this.onConnection(connection, request.url ?? '/'),
    );
  }

  /** Sends a dispatch to every live session (a dropped one logs it for replay on RESUME). */
  dispatch(type: string, data: unknown): void {
    for (const session of this.sessions.values()) this.sendDispatch(session, type, data);
  }

  /** Whether some session has a connected, identified socket. */
  isConnected(): boolean {
    return [...this.sessions.values()].some((session) => session.socket?.readyState === 1);
  }

  /**
   * Drops every connection: 4000 closes with that code (discord.js resumes), 1006 destroys the socket
   * without a close frame (an abnormal drop). `replayOverlap` dispatches already delivered are sent again
   * on the RESUME that follows.
   */
  drop(code: 4000 | 1006 = 4000, replayOverlap = 0): void {
    this.replayOverlap = replayOverlap;
    for (const session of this.sessions.values()) {
      const socket = session.socket;
      session.socket = null;
      if (!socket) continue;
      if (code === 1006) socket.terminate();
      else socket.close(code, 'fake gateway dropped the connection');
    }
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(socket: WebSocket, url: string): void {
    this.stats.connections.push(url);
    this.sockets.add(socket);
    let session: GatewaySession | null = null;
    socket.on('close', (code) => {
      this.sockets.delete(socket);
      // A normal close by the client ends its session (Client#destroy); other codes leave it resumable.
      if (session && session.socket === socket) {
        session.socket = null;
        if (code === 1000) this.sessions.delete(session.id);
      }
    });
    socket.on('message', (raw) => {
      let payload: { op?: number; d?: Record<string, unknown> | null };
      try {
        payload = JSON.parse(String(raw));
      } catch {
        socket.close(4002, 'Error while decoding payload.');
        return;
      }
      switch (payload.op) {
        case opcodes.heartbeat:
          socket.send(JSON.stringify({ op: opcodes.heartbeatAck }));
          return;
        case opcodes.identify:
          session = this.identify(socket, payload.d ?? {});
          return;
        case opcodes.resume:
          session = this.resume(socket, payload.d ?? {});
          return;
        default:
          return;
      }
    });
    socket.send(
      JSON.stringify({ op: opcodes.hello, d: { heartbeat_interval: this.options.heartbeatIntervalMs } }),
    );
  }

  private identify(socket: WebSocket, data: Record<string, unknown>): GatewaySession | null {
    if (data.token !== this.options.token) {
      socket.close(4004, 'Authentication failed.');
      return null;
    }
    this.stats.identifies += 1;
    this.stats.lastIntents = Number(data.intents ?? 0);
    const session: GatewaySession = {
      id: this.options.newId(),
      sequence: 0,
      log: [],
      socket,
      intents: Number(data.intents ?? 0),
    };
    this.sessions.set(session.id, session);
    this.sendDispatch(session, 'READY', this.options.readyPayload(session.id));
    for (const guild of this.options.guildPayloads()) this.sendDispatch(session, 'GUILD_CREATE', guild);
    return session;
  }

  private resume(socket: WebSocket, data: Record<string, unknown>): GatewaySession | null {
    const session = this.sessions.get(String(data.session_id));
    if (!session || data.token !== this.options.token) {
      socket.send(JSON.stringify({ op: opcodes.invalidSession, d: false }));
      return null;
    }
    this.stats.resumes += 1;
    session.socket = socket;
    const after = Number(data.seq ?? 0) - this.replayOverlap;
    this.replayOverlap = 0;
    for (const entry of session.log.filter((logged) => logged.s > after && logged.t !== 'READY')) {
      this.stats.replayed += 1;
      socket.send(JSON.stringify({ op: opcodes.dispatch, s: entry.s, t: entry.t, d: entry.d }));
    }
    this.sendDispatch(session, 'RESUMED', {});
    return session;
  }

  private sendDispatch(session: GatewaySession, type: string, data: unknown): void {
    session.sequence += 1;
    const entry = { s: session.sequence, t: type, d: data };
    session.log.push(entry);
    if (session.log.length > replayLogLength) session.log.shift();
    if (session.socket?.readyState === 1) {
      session.socket.send(JSON.stringify({ op: opcodes.dispatch, ...entry }));
    }
  }
}
