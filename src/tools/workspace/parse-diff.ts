/** One hunk of a file's diff: its `@@` header and its lines, each marked added, removed or context. */
export interface DiffHunk {
  header: string;
  lines: { kind: 'added' | 'removed' | 'context'; text: string }[];
}

export interface DiffFile {
  path: string;
  added: number;
  removed: number;
  hunks: DiffHunk[];
}

/** A unified diff (`git diff`) as files and hunks, for a diff view. */
export function parseUnifiedDiff(diff: string): DiffFile[] {
  const files: DiffFile[] = [];
  let file: DiffFile | null = null;
  let hunk: DiffHunk | null = null;
  for (const line of diff.split('\n')) {
    const header = /^diff --git a\/(.*) b\/(.*)$/.exec(line);
    if (header) {
      file = { path: header[2]!, added: 0, removed: 0, hunks: [] };
      files.push(file);
      hunk = null;
      continue;
    }
    if (!file) continue;
    if (line.startsWith('@@')) {
      hunk = { header: line, lines: [] };
      file.hunks.push(hunk);
      continue;
    }
    if (!hunk) continue;
    if (line.startsWith('+')) {
      hunk.lines.push({ kind: 'added', text: line.slice(1) });
      file.added += 1;
    } else if (line.startsWith('-')) {
      hunk.lines.push({ kind: 'removed', text: line.slice(1) });
      file.removed += 1;
    } else if (line.startsWith(' ')) {
      hunk.lines.push({ kind: 'context', text: line.slice(1) });
    }
  }
  return files;
}
