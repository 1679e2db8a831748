/**
 * Lua scripts that make every task state change atomic in Redis, whichever process runs them. Each lives in
 * its own file under `lua/` with a header (KEYS, ARGV, outcomes); the helpers they share (add-event,
 * retire-task, record-ending, …) are pulled in with `--- @include`. Each returns a short status string the
 * caller maps to an outcome; none throws for expected refusals.
 */

import { type LuaScript, loadLuaScript } from '../redis/lua-script.ts';

const folder = new URL('./lua/', import.meta.url);
const taskScript = (name: string): LuaScript => loadLuaScript(folder, name);

export const admitTasksScript = taskScript('admit-tasks');
export const transitionScript = taskScript('transition-task');
export const claimScript = taskScript('claim-tasks');
export const checkpointScript = taskScript('save-checkpoint');
export const completeScript = taskScript('complete-tasks');
export const steerScript = taskScript('steer-task');
export const reopenScript = taskScript('reopen-task');
export const releaseScript = taskScript('release-task');
export const parkScript = taskScript('park-task');
export const settlePromptScript = taskScript('settle-prompt');
