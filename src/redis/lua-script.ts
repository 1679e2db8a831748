import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A Lua script read from its `.lua` file, with its includes resolved: ready for EVALSHA. */
export interface LuaScript {
  /** The file name without `.lua`, for errors and logs. */
  name: string;
  text: string;
  /** SHA-1 of `text`, as Redis names the script. */
  sha: string;
}

// `--- @include "name"` pulls in `name.lua` from the same folder, once per script (BullMQ's convention);
// `--- @include "../../redis/lua/name"` one from another folder, relative to the including file's (a helper
// shared by the scripts of several layers lives in the lowest of them).
const includeLine = /^---[ \t]*@include[ \t]+"((?:\.\.\/|[\w-]+\/)*[\w-]+)"[ \t]*$/gm;

/**
 * Reads `<folder>/<name>.lua` once, at load time, resolving `--- @include "helper"` lines. Scripts live in
 * files with a header (keys, arguments, outcomes) so they read as Lua, not as template strings.
 */
export function loadLuaScript(folder: URL, name: string): LuaScript {
  const text = withIncludes(fileURLToPath(folder), name, new Set());
  return { name, text, sha: createHash('sha1').update(text).digest('hex') };
}

/** `included` holds the files already pulled in (full paths), so each helper is defined once. */
function withIncludes(folder: string, name: string, included: Set<string>): string {
  const file = join(folder, `${name}.lua`);
  included.add(file);
  const source = readFileSync(file, 'utf8');
  return source.replace(includeLine, (_line, helper: string) => {
    const helperFile = join(folder, `${helper}.lua`);
    if (included.has(helperFile)) return '';
    return withIncludes(dirname(helperFile), basename(helper), included);
  });
}
