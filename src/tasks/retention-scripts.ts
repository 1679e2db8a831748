/**
 * Lua scripts that keep the task indexes as short-lived as the records they list. A task record expires on
 * its own (EXPIRE, set when the task ends); an index entry cannot, so each finished task also goes on an
 * expiry schedule (lua/schedule-expiry.lua), and the retention sweeper removes its entries once the
 * record is gone. Headers (KEYS, ARGV, outcomes) are in the `.lua` files.
 */

import { loadLuaScript } from '../redis/lua-script.ts';

const folder = new URL('./lua/', import.meta.url);

export const trimExpiredScript = loadLuaScript(folder, 'trim-expired');
export const scheduleIndexedScript = loadLuaScript(folder, 'schedule-indexed');
export const dropMissingScript = loadLuaScript(folder, 'drop-missing');
export const trimEndingsScript = loadLuaScript(folder, 'trim-endings');
export const releaseSweepLockScript = loadLuaScript(folder, 'release-sweep-lock');

/** A task as its expiry schedule entry names it (see lua/schedule-expiry.lua): what finding its indexes takes. */
export interface ExpiryEntry {
  /** The entry as stored (the schedule's member). */
  entry: string;
  taskId: string;
  sessionKey: string;
  platform: string;
  channel: string;
}

/** Reads a schedule entry (a JSON array [task id, session key, platform, channel]); null when malformed. */
export function readExpiryEntry(entry: string): ExpiryEntry | null {
  let fields: unknown;
  try {
    fields = JSON.parse(entry);
  } catch {
    return null;
  }
  if (!Array.isArray(fields) || typeof fields[0] !== 'string' || fields[0] === '') return null;
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  return {
    entry,
    taskId: fields[0],
    sessionKey: text(fields[1]),
    platform: text(fields[2]),
    channel: text(fields[3]),
  };
}
