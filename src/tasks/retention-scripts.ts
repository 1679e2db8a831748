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
