#!/usr/bin/env node
// Second half of `npm run build`: tsc emits JavaScript only, so the files the code reads beside itself at run
// time are copied into dist/ at the same relative places (Lua scripts, the console's page, the default config,
// package.json for the version).
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');

/** Every folder named `lua` under a source folder (Node 20 has no fs.globSync). */
function luaFolders(folder) {
  return readdirSync(path.join(root, folder), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => {
      const child = path.join(folder, entry.name);
      return entry.name === 'lua' ? [child] : luaFolders(child);
    });
}

const assets = [
  'package.json',
  'config',
  'adapters/console/public',
  ...luaFolders('src'),
  ...luaFolders('adapters'),
];
for (const asset of assets) {
  mkdirSync(path.dirname(path.join(dist, asset)), { recursive: true });
  cpSync(path.join(root, asset), path.join(dist, asset), { recursive: true });
}
process.stdout.write(`build: copied ${assets.length} asset folders and files into dist/\n`);
