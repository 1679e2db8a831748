import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isProcessAlive } from '../../process-alive.ts';

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
      removeOrphans(root);
      return root;
    } catch {
      // Not writable here (an unprivileged user, a read-only cgroup mount in a container).
    }
  }
  return null;
}

/** Cgroups named after a process that is gone (it died holding them) are removed; live processes' are kept. */
function removeOrphans(root: string): void {
  for (const entry of readdirSync(root)) {
    const owner = /^p(\d+)_/.exec(entry)?.[1];
    if (!owner || isProcessAlive(Number(owner))) continue;
    try {
      rmdirSync(path.join(root, entry));
    } catch {
      // Still holds a process, or another worker removed it first.
    }
  }
}

/** Empty cgroups kept for the next commands: creating and removing one per command costs more than the command. */
const idle: ProcessCgroup[] = [];
const maxIdle = 16;
let created = 0;
/** How long a release waits for the killed processes to leave before finishing in the background, in ms. */
const releaseWaitMs = 500;

/**
 * A pids cgroup of one command at a time: a hard cap on its processes and threads that holds for root too
 * (for whom RLIMIT_NPROC is not enforced), and a list of every process it left behind, to kill them all.
 * Cgroups are reused: one is handed out only once it is empty again.
 */
export class ProcessCgroup {
  private constructor(readonly directory: string) {}

  /** An empty cgroup capped at `maxProcesses`, or null where the machine offers no writable pids controller. */
  static acquire(maxProcesses: number): ProcessCgroup | null {
    pidsRoot ??= findPidsRoot();
    if (!pidsRoot) return null;
    while (idle.length > 0) {
      const reused = idle.pop()!;
      // Gone when removed from outside (a cleanup): then a fresh one.
      if (reused.setLimit(maxProcesses)) return reused;
    }
    created += 1;
    const directory = path.join(pidsRoot, `p${process.pid}_${created}`);
    try {
      mkdirSync(directory);
    } catch {
      return null;
    }
    const cgroup = new ProcessCgroup(directory);
    return cgroup.setLimit(maxProcesses) ? cgroup : null;
  }

  private setLimit(maxProcesses: number): boolean {
    try {
      writeFileSync(path.join(this.directory, 'pids.max'), String(maxProcesses));
      return true;
    } catch {
      return false;
    }
  }

  /** The file a process writes its pid to, to enter the cgroup (before it forks anything). */
  get procsFile(): string {
    return path.join(this.directory, 'cgroup.procs');
  }

  private members(): string[] | null {
    try {
      return readFileSync(this.procsFile, 'utf8').split('\n').filter(Boolean);
    } catch {
      return null;
    }
  }

  /** SIGKILLs every process still in the cgroup. */
  killAll(): void {
    for (const pid of this.members() ?? []) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  /**
   * Kills what is left and waits (polling every millisecond or so: a sandbox's processes take a few ms to
   * go once its PID namespace dies) until the cgroup is empty, then keeps it for the next command. What
   * does not go within `releaseWaitMs` is finished in the background, and that cgroup is removed, not reused.
   */
  async release(): Promise<void> {
    const deadline = performance.now() + releaseWaitMs;
    while (performance.now() < deadline) {
      const members = this.members();
      if (members === null) return;
      if (members.length === 0) {
        if (idle.length < maxIdle) idle.push(this);
        else this.remove();
        return;
      }
      this.killAll();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    void this.removeLater();
  }

  private remove(): boolean {
    try {
      rmdirSync(this.directory);
      return true;
    } catch {
      return false;
    }
  }

  private async removeLater(): Promise<void> {
    for (let attempt = 0; attempt < 200; attempt += 1) {
      this.killAll();
      if (this.remove()) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
