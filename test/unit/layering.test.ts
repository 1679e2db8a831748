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

/** What an adapter may import from src/: the port and a few leaf helpers (the composition root wires the rest). */
const adapterMayImport = [
  'gateway/chat-adapter.ts',
  'gateway/platform-send-error.ts',
  'logging/',
  'config/schema.ts',
  'well-formed-text.ts',
  'text/cut-text.ts',
];

/**
 * Imports not yet behind the port, each to be moved (the list may only shrink): config errors use
 * BatonError, and the console reads the task store, usage and workspaces for its pages.
 */
const notYetBehindThePort = [
  'console/console-adapter.ts -> errors.ts',
  'console/console-adapter.ts -> redis/redis-keys.ts',
  'console/console-adapter.ts -> tasks/task-signals.ts',
  'console/console-adapter.ts -> tasks/task-store.ts',
  'console/console-adapter.ts -> usage/usage-ledger.ts',
  'console/console-diff-route.ts -> tools/workspace/parse-diff.ts',
  'console/console-diff-route.ts -> tools/workspace/workspace-store.ts',
  'console/console-live-events.ts -> tasks/task-signals.ts',
  'console/console-routes.ts -> tasks/task-record.ts',
  'console/console-routes.ts -> tasks/task-store.ts',
  'console/console-routes.ts -> tasks/task-views.ts',
  'console/console-routes.ts -> usage/usage-cost.ts',
  'console/console-routes.ts -> usage/usage-ledger.ts',
  'console/console-store.ts -> redis/key-lifetimes.ts',
  'console/console-store.ts -> redis/lua-script.ts',
  'console/console-store.ts -> redis/redis-keys.ts',
  'console/console-store.ts -> redis/redis-script-runner.ts',
  'console/console-task-tree.ts -> tasks/task-record.ts',
  'console/console-task-tree.ts -> tasks/task-store.ts',
  'console/console-task-tree.ts -> tasks/task-views.ts',
  'console/console-task-tree.ts -> usage/usage-ledger.ts',
  'console/console-usage-route.ts -> usage/usage-ledger.ts',
  'console/console-usage-route.ts -> usage/usage-report.ts',
  'discord/discord-adapter-from-env.ts -> errors.ts',
  'discord/discord-commands.ts -> errors.ts',
  'slack/slack-adapter.ts -> errors.ts',
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
  it('import from src/ only the port and the modules listed (the list of exceptions only shrinks)', () => {
    const outside = adapterImports()
      .filter(
        ({ to }) =>
          !adapterMayImport.some(
            (allowed) => to === allowed || (allowed.endsWith('/') && to.startsWith(allowed)),
          ),
      )
      .map(({ from, to }) => `${from} -> ${to}`);
    expect([...new Set(outside)].sort()).toEqual([...notYetBehindThePort].sort());
  });

  it('take only types from the config schema', () => {
    const valueImports = adapterImports().filter(
      ({ to, typeOnly }) => to === 'config/schema.ts' && !typeOnly,
    );
    expect(valueImports).toEqual([]);
  });
});
