import { createHash } from 'node:crypto';

/** Providers' rule for function names: at most 64 characters of letters, digits, `_` and `-`. */
export const maxToolNameChars = 64;
const invalidCharacters = /[^A-Za-z0-9_-]/g;

/**
 * The name a server's tool has for the model: `<server>__<tool>`, within the providers' rule. Characters
 * outside it become `_`; a name too long, or one that would repeat another, is cut and given a short hash of
 * the original, so two tools never share a name. `taken` holds the names already given (and gets this one).
 */
export function modelToolName(serverName: string, toolName: string, taken: Set<string>): string {
  let name = `${serverName}__${toolName}`.replace(invalidCharacters, '_');
  if (name.length > maxToolNameChars || taken.has(name)) {
    const hash = createHash('sha256').update(`${serverName}\u0000${toolName}`).digest('hex').slice(0, 8);
    name = `${name.slice(0, maxToolNameChars - hash.length - 1)}_${hash}`;
  }
  taken.add(name);
  return name;
}
