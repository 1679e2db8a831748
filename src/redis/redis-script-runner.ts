import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Runs Lua scripts by their SHA (EVALSHA), sending a script's text only when the server does not know it yet. */
export class RedisScriptRunner {
  private readonly hashes = new Map<string, string>();

  constructor(private readonly redis: Redis) {}

  async run<Reply>(script: string, keys: string[], args: (string | number)[]): Promise<Reply> {
    let hash = this.hashes.get(script);
    if (!hash) {
      hash = createHash('sha1').update(script).digest('hex');
      this.hashes.set(script, hash);
    }
    try {
      return (await this.redis.evalsha(hash, keys.length, ...keys, ...args)) as Reply;
    } catch (error) {
      // A restarted or flushed server has forgotten its scripts.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return (await this.redis.eval(script, keys.length, ...keys, ...args)) as Reply;
    }
  }
}
