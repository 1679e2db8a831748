import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A Lua script read from its `.lua` file, with its includes resolved: ready for EVALSHA. */
export interface LuaScript {
  /** The file name without `.lua`, for errors and logs. */
  name: string;
  text: string;
  /** SHA-1 of `text`, as Redis names the script. */
  sha: string;
}

// `--- @include "name"` pulls in `name.lua` from the same folder, once per script (BullMQ's convention).
const includeLine = /^---[ \t]*@include[ \t]+"([\w-]+)"[ \t]*$/gm;

/**
 * Reads `<folder>/<name>.lua` once, at load time, resolving `--- @include "helper"` lines. Scripts live in
 * files with a header (keys, arguments, outcomes) so they read as Lua, not as template strings.
 */
export function loadLuaScript(folder: URL, name: string): LuaScript {
  const text = withIncludes(fileURLToPath(folder), name, new Set());
  return { name, text, sha: createHash('sha1').update(text).digest('hex') };
}

function withIncludes(folder: string, name: string, included: Set<string>): string {
  included.add(name);
  const source = readFileSync(join(folder, `${name}.lua`), 'utf8');
  return source.replace(includeLine, (_line, helper: string) =>
    included.has(helper) ? '' : withIncludes(folder, helper, included),
  );
}
