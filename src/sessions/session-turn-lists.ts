import type { Redis } from 'ioredis';
import { loadLuaScript } from '../redis/lua-script.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisScriptRunner } from '../redis/redis-script-runner.ts';

const luaFolder = new URL('./lua/', import.meta.url);
const enqueueScript = loadLuaScript(luaFolder, 'enqueue-turn');
const advanceScript = loadLuaScript(luaFolder, 'advance-turns');
const renewScript = loadLuaScript(luaFolder, 'renew-turn-lock');
const releaseLockOnlyScript = loadLuaScript(luaFolder, 'release-turn-lock');

/** What moving a session on found: the lock lost, the session released (no turn left), or the next turn. */
export type TurnAdvance = ['lost'] | ['released'] | ['next', string];

/**
 * Each session's pending turns (a Redis list of JSON turns, oldest first), the set of sessions with turns
 * pending, and the lock whose holder runs a session's turns. The order and scheduling live in
 * SessionTurnQueue; this is its state. (A task's steering stream is its "inbox"; a session has turns.)
 */
export class SessionTurnLists {
  private readonly scripts: RedisScriptRunner;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    this.scripts = new RedisScriptRunner(redis);
  }

  /** Appends a turn and marks the session pending; returns the list's length after it. */
  async push(sessionKey: string, turn: string): Promise<number> {
    return this.scripts.run<number>(
      enqueueScript,
      [this.keys.sessionTurns(sessionKey), this.keys.pendingSessions()],
      [turn, sessionKey],
    );
  }

  async pendingSessions(): Promise<string[]> {
    return this.redis.smembers(this.keys.pendingSessions());
  }

  /** Takes the session's lock for `token` unless another holds it. */
  async tryLock(sessionKey: string, token: string, leaseMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.sessionTurnLock(sessionKey), token, 'PX', leaseMs, 'NX')) === 'OK';
  }

  async renewLock(sessionKey: string, token: string, leaseMs: number): Promise<boolean> {
    return (
      (await this.scripts.run<number>(
        renewScript,
        [this.keys.sessionTurnLock(sessionKey)],
        [token, leaseMs],
      )) === 1
    );
  }

  /** Lets go of the lock only: the turns stay for the next holder. */
  async releaseLock(sessionKey: string, token: string): Promise<void> {
    await this.scripts.run(releaseLockOnlyScript, [this.keys.sessionTurnLock(sessionKey)], [token]);
  }

  /** Drops the finished head (when `dropHead`), then returns the next turn or releases the session. */
  async advance(sessionKey: string, token: string, dropHead: boolean): Promise<TurnAdvance> {
    return this.scripts.run<TurnAdvance>(
      advanceScript,
      [
        this.keys.sessionTurnLock(sessionKey),
        this.keys.sessionTurns(sessionKey),
        this.keys.pendingSessions(),
      ],
      [token, sessionKey, dropHead ? '1' : '0'],
    );
  }
}
