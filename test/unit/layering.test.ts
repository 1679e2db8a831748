import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const sourceRoot = path.resolve(import.meta.dirname, '../../src');

/**
 * The core's layers, from the ground up: a folder may import its own files and those of lower layers,
 * never one of its own layer or above (that arrow would run up, and two such arrows make a loop).
 */
const layers: string[][] = [
  ['errors.ts', 'well-formed-text.ts', 'until-aborted.ts', 'process-alive.ts', 'text', 'logging', 'net'],
  ['config', 'redis'],
  ['llm'],
  ['tasks', 'sessions'],
  ['tools', 'usage'],
  ['agent', 'demo'],
  ['worker'],
  ['runtime'],
  ['gateway'],
  ['observability'],
  ['cli'],
];
const layerOf = new Map(layers.flatMap((names, layer) => names.map((name) => [name, layer] as const)));

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** The top-level folder (or file) of src/ that a path lies in. */
const unitOf = (file: string) => path.relative(sourceRoot, file).split(path.sep)[0]!;

describe('the import graph of src/', () => {
  it('has every folder in a layer', () => {
    const units = new Set(sourceFiles(sourceRoot).map(unitOf));
    expect([...units].filter((unit) => !layerOf.has(unit))).toEqual([]);
  });

  it('has no arrow that runs up or sideways between folders', () => {
    const upward: string[] = [];
    for (const file of sourceFiles(sourceRoot)) {
      const from = unitOf(file);
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(
        /^(?:import|export)[^;]*?from '(\.[^']+)'/gms,
      )) {
        const to = unitOf(path.resolve(path.dirname(file), specifier!));
        if (to === from || !layerOf.has(to)) continue;
        if (layerOf.get(to)! >= layerOf.get(from)!)
          upward.push(`${path.relative(sourceRoot, file)} -> ${specifier}`);
      }
    }
    expect(upward).toEqual([]);
  });
});

const adaptersRoot = path.resolve(import.meta.dirname, '../../adapters');

/**
 * What an adapter may import from src/: the port (the adapter interface, its errors, the console's reads) and
 * a few leaf helpers. The composition root wires the rest: adapters never reach stores, Redis helpers or tools.
 */
const adapterMayImport = [
  'gateway/chat-adapter.ts',
  'gateway/platform-send-error.ts',
  'gateway/adapter-error.ts',
  'gateway/console-reads.ts',
  'logging/',
  'config/schema.ts',
  'well-formed-text.ts',
  'text/cut-text.ts',
];

/** Each `adapters/… -> src/…` import of the adapters' code (public/ holds the console's browser files). */
function adapterImports(): Array<{ from: string; to: string; typeOnly: boolean }> {
  const found: Array<{ from: string; to: string; typeOnly: boolean }> = [];
  const files = sourceFiles(adaptersRoot).filter((file) => !file.includes(`${path.sep}public${path.sep}`));
  for (const file of files) {
    for (const [statement, specifier] of readFileSync(file, 'utf8').matchAll(
      /^(?:import|export)[^;]*?from '(\.[^']+)'/gms,
    )) {
      const target = path.resolve(path.dirname(file), specifier!);
      if (!target.startsWith(sourceRoot + path.sep)) continue;
      found.push({
        from: path.relative(adaptersRoot, file).split(path.sep).join('/'),
        to: path.relative(sourceRoot, target).split(path.sep).join('/'),
        typeOnly: /^(?:import|export) type /.test(statement),
      });
    }
  }
  return found;
}

describe('the adapters', () => {
  it('import from src/ only the port and the modules listed', () => {
    const outside = adapterImports()
      .filter(
        ({ to }) =>
          !adapterMayImport.some(
            (allowed) => to === allowed || (allowed.endsWith('/') && to.startsWith(allowed)),
          ),
      )
      .map(({ from, to }) => `${from} -> ${to}`);
    expect([...new Set(outside)].sort()).toEqual([]);
  });

  it('take only types from the config schema', () => {
    const valueImports = adapterImports().filter(
      ({ to, typeOnly }) => to === 'config/schema.ts' && !typeOnly,
    );
    expect(valueImports).toEqual([]);
  });
});
