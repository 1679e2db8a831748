import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** One of the console's Lua scripts (lua/<name>.lua), read once at load time. */
export interface ConsoleScript {
  name: string;
  text: string;
  /** SHA-1 of `text`, as Redis names the script. */
  sha: string;
}

/** Reads `lua/<name>.lua` next to this file (the console's scripts include no helpers). */
export function consoleScript(name: string): ConsoleScript {
  const text = readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
  return { name, text, sha: createHash('sha1').update(text).digest('hex') };
}

/** Runs a script by its SHA (EVALSHA), sending its text only when the server does not know it yet. */
export async function runConsoleScript<Reply>(
  redis: Redis,
  script: ConsoleScript,
  keys: string[],
  args: (string | number)[],
): Promise<Reply> {
  try {
    return (await redis.evalsha(script.sha, keys.length, ...keys, ...args)) as Reply;
  } catch (error) {
    // A restarted or flushed server has forgotten its scripts.
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return (await redis.eval(script.text, keys.length, ...keys, ...args)) as Reply;
  }
}
