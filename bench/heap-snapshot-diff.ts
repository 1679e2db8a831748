/**
 * Compares two V8 heap snapshots (.heapsnapshot, from bench/worker-memory.ts with MEMORY_SNAPSHOTS): objects
 * counted by type and constructor name in each, and the groups that grew most, by count and by size.
 *
 *   node --import tsx bench/heap-snapshot-diff.ts before.heapsnapshot after.heapsnapshot [rows]
 *
 * Strings are grouped by their first 60 characters, so a string repeated per task shows as one row.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

interface Group {
  count: number;
  bytes: number;
}

function groupsOf(file: string): Map<string, Group> {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, Group>();
  const { nodes, strings } = snapshot;
  for (let offset = 0; offset < nodes.length; offset += width) {
    const type = types[nodes[offset + typeAt]!]!;
    const rawName = strings[nodes[offset + nameAt]!] ?? '';
    const name =
      type === 'string' || type === 'concatenated string' || type === 'sliced string'
        ? JSON.stringify(rawName.slice(0, 60))
        : rawName.slice(0, 80);
    const key = `${type} ${name}`;
    const group = groups.get(key) ?? { count: 0, bytes: 0 };
    group.count += 1;
    group.bytes += nodes[offset + sizeAt]!;
    groups.set(key, group);
  }
  return groups;
}

const [beforeFile, afterFile, rowsText] = process.argv.slice(2);
if (!beforeFile || !afterFile) {
  process.stderr.write('usage: heap-snapshot-diff.ts before.heapsnapshot after.heapsnapshot [rows]\n');
  process.exit(2);
}
const rows = Number(rowsText ?? 40);
const before = groupsOf(beforeFile);
const after = groupsOf(afterFile);
const total = (groups: Map<string, Group>) =>
  [...groups.values()].reduce(
    (sum, group) => ({ count: sum.count + group.count, bytes: sum.bytes + group.bytes }),
    { count: 0, bytes: 0 },
  );
const deltas = [...new Set([...before.keys(), ...after.keys()])].map((key) => {
  const was = before.get(key) ?? { count: 0, bytes: 0 };
  const now = after.get(key) ?? { count: 0, bytes: 0 };
  return { key, count: now.count - was.count, bytes: now.bytes - was.bytes, now };
});
const print = (title: string, list: typeof deltas) => {
  process.stdout.write(`\n${title}\n`);
  for (const delta of list.slice(0, rows))
    process.stdout.write(
      `${String(delta.count).padStart(9)} ${String(delta.bytes).padStart(11)} B  (now ${delta.now.count})  ${delta.key}\n`,
    );
};
const [totalBefore, totalAfter] = [total(before), total(after)];
process.stdout.write(
  `before: ${totalBefore.count} objects, ${totalBefore.bytes} B; after: ${totalAfter.count} objects, ${totalAfter.bytes} B\n`,
);
print(
  'grew most by count (count, bytes):',
  [...deltas].sort((a, b) => b.count - a.count),
);
print(
  'grew most by size (count, bytes):',
  [...deltas].sort((a, b) => b.bytes - a.bytes),
);
