import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LuaScript } from './lua-script.ts';

/** Runs Lua scripts by their SHA (EVALSHA), sending a script's text only when the server does not know it yet. */
export class RedisScriptRunner {
  private readonly hashes = new Map<string, string>();

  constructor(private readonly redis: Redis) {}

  async run<Reply>(script: string | LuaScript, keys: string[], args: (string | number)[]): Promise<Reply> {
    const text = typeof script === 'string' ? script : script.text;
    const hash = typeof script === 'string' ? this.hashOf(script) : script.sha;
    try {
      return (await this.redis.evalsha(hash, keys.length, ...keys, ...args)) as Reply;
    } catch (error) {
      // A restarted or flushed server has forgotten its scripts.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return (await this.redis.eval(text, keys.length, ...keys, ...args)) as Reply;
    }
  }

  private hashOf(script: string): string {
    let hash = this.hashes.get(script);
    if (!hash) {
      hash = createHash('sha1').update(script).digest('hex');
      this.hashes.set(script, hash);
    }
    return hash;
  }
}
