import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadLuaScript } from '../../src/redis/lua-script.ts';

function folderWith(files: Record<string, string>): URL {
  const folder = mkdtempSync(join(tmpdir(), 'baton-lua-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(folder, name), text);
  return pathToFileURL(`${folder}/`);
}

describe('loadLuaScript', () => {
  it('resolves includes once each, in place, and hashes the result as Redis does', () => {
    const folder = folderWith({
      'helper.lua': 'local function helper() return 1 end\n',
      'other.lua': '--- @include "helper"\nlocal function other() return helper() end\n',
      'main.lua': '-- KEYS: none\n--- @include "helper"\n--- @include "other"\nreturn other()\n',
    });
    const script = loadLuaScript(folder, 'main');
    expect(script.name).toBe('main');
    expect(script.text.match(/local function helper/g)).toHaveLength(1);
    expect(script.text.indexOf('function helper')).toBeLessThan(script.text.indexOf('function other'));
    expect(script.text).not.toContain('@include');
    expect(script.sha).toMatch(/^[0-9a-f]{40}$/);
  });

  it('resolves an include from another folder, relative to the including file, once', () => {
    const shared = folderWith({ 'shared.lua': 'local function shared() return 2 end\n' });
    const sharedName = new URL('.', shared).pathname.split('/').filter(Boolean).at(-1);
    const folder = folderWith({
      'helper.lua': `--- @include "../${sharedName}/shared"\nlocal function helper() return shared() end\n`,
      'main.lua': `--- @include "../${sharedName}/shared"\n--- @include "helper"\nreturn helper()\n`,
    });
    const script = loadLuaScript(folder, 'main');
    expect(script.text.match(/local function shared/g)).toHaveLength(1);
    expect(script.text).not.toContain('@include');
  });

  it('names the missing file when an include does not exist', () => {
    const folder = folderWith({ 'main.lua': '--- @include "absent"\nreturn 1\n' });
    expect(() => loadLuaScript(folder, 'main')).toThrow(/absent\.lua/);
  });
});
