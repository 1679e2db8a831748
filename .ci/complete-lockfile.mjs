// Adds lockfile entries for the other platforms' optional native packages of @biomejs/biome and
// msgpackr-extract. The package mirror this project is built against lacks them, so `npm install` leaves
// them out, and then `npm ci` refuses the lockfile on every machine. Each entry carries its os/cpu, so npm
// skips it wherever it does not apply. Run after changing dependencies: node .ci/complete-lockfile.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;

function add(name, version, os, cpu, libc) {
  const key = `node_modules/${name}`;
  if (packages[key]) return;
  packages[key] = { version, cpu: [cpu], optional: true, os: [os], ...(libc ? { libc: [libc] } : {}) };
}

const biome = packages['node_modules/@biomejs/biome'];
if (biome) {
  for (const [suffix, os, cpu, libc] of [
    ['android-arm64', 'android', 'arm64'],
    ['android-x64', 'android', 'x64'],
    ['darwin-arm64', 'darwin', 'arm64'],
    ['darwin-x64', 'darwin', 'x64'],
    ['linux-arm64', 'linux', 'arm64', 'glibc'],
    ['linux-arm64-musl', 'linux', 'arm64', 'musl'],
    ['linux-x64-musl', 'linux', 'x64', 'musl'],
    ['win32-arm64', 'win32', 'arm64'],
    ['win32-x64', 'win32', 'x64'],
  ]) {
    add(`@biomejs/cli-${suffix}`, biome.version, os, cpu, libc);
  }
}

const extract = packages['node_modules/msgpackr-extract'];
if (extract?.optionalDependencies) {
  const platforms = {
    'darwin-arm64': ['darwin', 'arm64'],
    'darwin-x64': ['darwin', 'x64'],
    'linux-arm': ['linux', 'arm'],
    'linux-arm64': ['linux', 'arm64'],
    'linux-x64': ['linux', 'x64'],
    'win32-x64': ['win32', 'x64'],
  };
  for (const [name, version] of Object.entries(extract.optionalDependencies)) {
    const platform = platforms[name.replace('@msgpackr-extract/msgpackr-extract-', '')];
    if (platform) add(name, version, ...platform);
  }
}

lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
