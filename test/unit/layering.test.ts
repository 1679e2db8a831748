import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const sourceRoot = path.resolve(import.meta.dirname, '../../src');

/**
 * The core's layers, from the ground up: a folder may import its own files and those of lower layers,
 * never one of its own layer or above (that arrow would run up, and two such arrows make a loop).
 */
const layers: string[][] = [
  ['errors.ts', 'well-formed-text.ts', 'until-aborted.ts', 'text', 'logging', 'net'],
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
