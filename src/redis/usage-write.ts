/**
 * One model call's usage as the keys and arguments of the `add_usage` Lua helper (lua/add-usage.lua), built
 * by UsageLedger.write. The task scripts that end a child's step take one along, so the call is counted in
 * the same script (and round trip) as the step's checkpoint or the task's completion.
 */
export interface UsageWrite {
  /** The day's index of scopes, then the day's hash of each scope (the 'all' scope first). */
  keys: string[];
  /** Seconds kept, input, cached, output tokens, cost, calls, then each scope's name. */
  args: string[];
}
