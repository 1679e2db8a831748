import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { BatonError } from '../../errors.ts';

/** The directories of one overlay: a shared read-only `lower`, this checkout's `upper` and `work`, seen at `merged`. */
export interface OverlayDirectories {
  lower: string;
  upper: string;
  work: string;
  merged: string;
}

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, (error, _stdout, stderr) => {
      if (error)
        reject(new BatonError('workspace_failed', `${file} failed: ${stderr.trim() || error.message}`));
      else resolve();
    });
  });
}

/** Characters overlay's mount options cannot carry in a path (they separate options and layers). */
const unsafeInOptions = /[,:\\\s]/;

/** Whether the kernel takes overlay's `volatile` option (Linux 5.10+); learnt on the first mount. */
let volatileAccepted = true;

/**
 * Mounts the overlay (kernel overlayfs; needs CAP_SYS_ADMIN, i.e. root here). `volatile` where the kernel
 * has it: the upper layer is disposable (a task's durable record is its step commits), so syncs of it are
 * skipped, and an unmount does not wait for a sync of the whole file system under it.
 */
export async function mountOverlay(directories: OverlayDirectories): Promise<void> {
  const { lower, upper, work, merged } = directories;
  await Promise.all([mkdir(upper, { recursive: true }), mkdir(work, { recursive: true })]);
  await mkdir(merged, { recursive: true });
  const options = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
  if (volatileAccepted) {
    try {
      await run('mount', ['-t', 'overlay', 'overlay', '-o', `volatile,${options}`, merged]);
      return;
    } catch {
      volatileAccepted = false;
    }
  }
  await run('mount', ['-t', 'overlay', 'overlay', '-o', options, merged]);
}

/**
 * Unmounts `merged`. `lazy` detaches a mount still in use (a dead worker's, whose sandbox may not be gone
 * yet): it disappears from the tree at once and goes when its last user does.
 */
export async function unmount(merged: string, lazy = false): Promise<void> {
  await run('umount', lazy ? ['-l', merged] : [merged]);
}

/** Mount points in this process's mount namespace, as `/proc/self/mountinfo` lists them (escapes decoded). */
export async function mountPoints(): Promise<{ point: string; options: string }[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const decode = (value: string) =>
    value.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ');
      return { point: decode(fields[4]!), options: decode(fields.at(-1)!) };
    });
}

/** The overlay mount points under `root`, with the lower directory each one reads. */
export async function overlaysUnder(root: string): Promise<{ merged: string; lower: string | null }[]> {
  const prefix = root.endsWith(path.sep) ? root : root + path.sep;
  return (await mountPoints())
    .filter((mount) => mount.point.startsWith(prefix) && /(^|,)upperdir=/.test(mount.options))
    .map((mount) => ({
      merged: mount.point,
      lower: /(?:^|,)lowerdir=([^,]*)/.exec(mount.options)?.[1] ?? null,
    }));
}

/**
 * Why overlay checkouts cannot be used under `root`, or null when they can: tried once for real (a mount
 * of an empty overlay, then its unmount), as only the kernel knows (overlay support, privileges, an upper
 * file system that overlay accepts).
 */
export async function overlayUnavailableReason(root: string): Promise<string | null> {
  if (process.platform !== 'linux') return 'overlayfs is Linux only';
  if (unsafeInOptions.test(root)) return `the path ${root} holds a character overlay options cannot carry`;
  const probe = path.join(root, `.overlay-probe-${process.pid}-${randomUUID().slice(0, 8)}`);
  const directories = {
    lower: path.join(probe, 'lower'),
    upper: path.join(probe, 'upper'),
    work: path.join(probe, 'work'),
    merged: path.join(probe, 'merged'),
  };
  try {
    await mkdir(directories.lower, { recursive: true });
    await mountOverlay(directories);
    await unmount(directories.merged);
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await rm(probe, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Whether a path can be named in overlay's mount options. */
export function isOverlaySafePath(location: string): boolean {
  return !unsafeInOptions.test(location);
}
