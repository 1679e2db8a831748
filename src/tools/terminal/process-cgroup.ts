import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where a pids controller can be written to, found once per process; null when there is none. */
let pidsRoot: string | null | undefined;

function findPidsRoot(): string | null {
  const candidates = ['/sys/fs/cgroup/pids', '/sys/fs/cgroup'];
  for (const mount of candidates) {
    const controllers = path.join(mount, 'cgroup.controllers');
    const isV1Pids = existsSync(path.join(mount, 'pids.max')) || existsSync(path.join(mount, 'tasks'));
    const isV2WithPids =
      existsSync(controllers) && readFileSync(controllers, 'utf8').split(/\s+/).includes('pids');
    if (!isV1Pids && !isV2WithPids) continue;
    if (mount === '/sys/fs/cgroup' && !isV2WithPids) continue;
    try {
      const root = path.join(mount, 'baton');
      mkdirSync(root, { recursive: true });
      if (isV2WithPids) writeFileSync(path.join(mount, 'cgroup.subtree_control'), '+pids');
      if (!existsSync(path.join(root, 'pids.max'))) continue;
      return root;
    } catch {
      // Not writable here (an unprivileged user, a read-only cgroup mount in a container).
    }
  }
  return null;
}

/**
 * A pids cgroup of one command: a hard cap on its processes and threads that holds for root too (for whom
 * RLIMIT_NPROC is not enforced), and a list of every process it left behind, to kill them all.
 */
export class ProcessCgroup {
  private constructor(readonly directory: string) {}

  /** A fresh cgroup capped at `maxProcesses`, or null where the machine offers no writable pids controller. */
  static create(name: string, maxProcesses: number): ProcessCgroup | null {
    pidsRoot ??= findPidsRoot();
    if (!pidsRoot) return null;
    const directory = path.join(pidsRoot, name);
    try {
      mkdirSync(directory);
      writeFileSync(path.join(directory, 'pids.max'), String(maxProcesses));
      return new ProcessCgroup(directory);
    } catch {
      return null;
    }
  }

  /** The file a process writes its pid to, to enter the cgroup (before it forks anything). */
  get procsFile(): string {
    return path.join(this.directory, 'cgroup.procs');
  }

  /** SIGKILLs every process still in the cgroup. */
  killAll(): void {
    let pids: string[];
    try {
      pids = readFileSync(this.procsFile, 'utf8').split('\n').filter(Boolean);
    } catch {
      return;
    }
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  /** Removes the cgroup once it is empty; a few tries, as the last processes are reaped. */
  async remove(): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      try {
        rmdirSync(this.directory);
        return;
      } catch {
        this.killAll();
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
  }
}
