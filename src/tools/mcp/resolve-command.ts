import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/**
 * Finds a stdio server's program on Baton's own PATH. The server is started with only the environment its
 * config lists (often no PATH at all), so the lookup cannot be left to the spawned process. A command with
 * a slash is taken as a path (relative to `cwd`); `node` is this very Node.js when not found on PATH.
 */
export function resolveCommand(command: string, cwd: string | null, env: NodeJS.ProcessEnv): string {
  if (command.includes('/')) return path.resolve(cwd ?? process.cwd(), command);
  for (const directory of (env.PATH ?? '').split(path.delimiter)) {
    if (!directory) continue;
    const candidate = path.join(directory, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; the next directory may have it.
    }
  }
  return command === 'node' ? process.execPath : command;
}
