-- Helper: adds one model call's usage to the day's hash of every scope it counts under (person, channel,
-- route, all, and its task), and lists the scopes in the day's index; the keys and arguments are a
-- UsageWrite built by UsageLedger.write (src/usage/usage-ledger.ts). Used by record-usage (a call counted on
-- its own) and by the task scripts that end a child's step (save-checkpoint, complete-task), so that a
-- child's model call is counted in the write that follows it, without a round trip of its own.
--
-- Each hash is read once and written once (HMGET + HSET: two commands, against five HINCRBY[FLOAT] for its
-- five amounts), and given its expiry only when this call created it. The index is created by the day's
-- first call, with the 'all' hash (every call counts under 'all'), and expires with it.
-- A task's hash, and the day's index of task scopes, live no longer than the task's record (the second
-- argument): nothing of a task is left once its record has expired. The task index is a set of its own, given
-- that expiry whenever a task joins it, so the day's main index holds only people, channels, routes and 'all'.
--   keys: {the day's index of scopes, the day's index of task scopes, the day's hash of each scope, the 'all'
--          scope first}
--   args: {seconds the hashes and the index are kept, seconds a task's hash and the task index are kept, input,
--          cached, output tokens, cost, calls, then the name of each scope (as listed in the index)}
local function add_usage(keys, args)
  local keep = args[1]
  local task_keep = args[2]
  local added = {tonumber(args[3]), tonumber(args[4]), tonumber(args[5]), tonumber(args[6]), tonumber(args[7])}
  local names = {}
  local first_of_day = false
  for index = 3, #keys do
    local key = keys[index]
    local name = args[5 + index]
    local is_task = string.sub(name, 1, 5) == 'task:'
    local found = redis.call('HMGET', key, 'input', 'cached', 'output', 'cost', 'calls')
    local new = true
    for field = 1, 5 do
      if found[field] then new = false end
    end
    local sums = {}
    for field = 1, 5 do sums[field] = (tonumber(found[field]) or 0) + added[field] end
    -- Whole numbers printed whole (tostring would switch to an exponent past 14 digits); the cost with 17
    -- significant digits, as HINCRBYFLOAT would keep it.
    redis.call('HSET', key, 'input', string.format('%d', sums[1]), 'cached', string.format('%d', sums[2]),
      'output', string.format('%d', sums[3]), 'cost', string.format('%.17g', sums[4]),
      'calls', string.format('%d', sums[5]))
    if is_task then
      if new then
        redis.call('EXPIRE', key, task_keep)
        redis.call('SADD', keys[2], name)
        redis.call('EXPIRE', keys[2], task_keep)
      end
    else
      if new then
        redis.call('EXPIRE', key, keep)
        if index == 3 then first_of_day = true end
      end
      names[#names + 1] = name
    end
  end
  redis.call('SADD', keys[1], unpack(names))
  if first_of_day then redis.call('EXPIRE', keys[1], keep) end
end
