import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const projectRoot = path.resolve(import.meta.dirname, '../..');

/**
 * Every file and package `entry` loads at start, following static imports only (`import type` is erased;
 * a dynamic `import()` loads when it runs, so it is not followed).
 */
function staticImportsOf(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [path.resolve(projectRoot, entry)];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    const specifiers = [
      ...source.matchAll(/^(?:import|export)(?!\s+type\s)[^;]*?\sfrom\s+'([^']+)'/gms),
      ...source.matchAll(/^import\s+'([^']+)'/gm),
    ].map((match) => match[1]!);
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) {
        const target = path.resolve(path.dirname(file), specifier);
        if (target.endsWith('.ts')) pending.push(target);
      } else if (!specifier.startsWith('node:')) {
        const parts = specifier.split('/');
        packages.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
      }
    }
  }
  return { files, packages };
}

describe('what a `baton worker` process loads at start', () => {
  const { files, packages } = staticImportsOf('src/cli/main.ts');

  it('follows the import graph (the walk itself works)', () => {
    expect(files.has(path.join(projectRoot, 'src/runtime/baton-runtime.ts'))).toBe(true);
    expect(packages).toContain('bullmq');
    // The gateway's wiring is reached through the dynamic import of the gateway commands only.
    expect(staticImportsOf('src/cli/compose-gateway.ts').packages).toContain('discord.js');
  });

  it('holds no chat adapter and no history tokenizer (some 50 MB of heap a worker never uses)', () => {
    const adapters = [...files].filter((file) => file.startsWith(path.join(projectRoot, 'adapters')));
    expect(adapters.map((file) => path.relative(projectRoot, file))).toEqual([]);
    for (const name of ['discord.js', '@slack/bolt', 'gpt-tokenizer'])
      expect([...packages], name).not.toContain(name);
  });
});
