-- Helper: adds model calls' usage to the day's hash of every scope they count under (person, channel,
-- route, all, and its task), and lists the scopes in the day's indexes; each write is a UsageWrite built by
-- UsageLedger.write (src/usage/usage-ledger.ts). Used by record-usage (a call counted on its own) and by the
-- task scripts that end a child's step (save-checkpoint, complete-tasks), so that a child's model call is
-- counted in the write that follows it, without a round trip of its own. complete-tasks ends many tasks at
-- once: the calls of a batch are summed per scope first, so a hash they share ('all', a person, a channel,
-- a route) is read and written once for the whole batch.
--
-- Each hash is read once and written once (HMGET + HSET: two commands, against five HINCRBY[FLOAT] for its
-- five amounts), and given its expiry only when this call created it. The index is created by the day's
-- first call, with the 'all' hash (every call counts under 'all'), and expires with it.
-- A task's hash, and the day's index of task scopes, live no longer than the task's record (the second
-- argument): nothing of a task is left once its record has expired. The task index is a set of its own, given
-- that expiry whenever a task joins it, so the day's main index holds only people, channels, routes and 'all'.
--   writes: a list of {keys = ..., args = ...}, each
--     keys: {the day's index of scopes, the day's index of task scopes, the day's hash of each scope, the
--            'all' scope first}
--     args: {seconds the hashes and the index are kept, seconds a task's hash and the task index are kept,
--            input, cached, output tokens, cost, calls, then the name of each scope (as listed in the index)}

-- Appends `name` to the list kept for `key` in `lists` (first seen, first listed), creating it.
local function list_under(lists, order, key, name)
  local list = lists[key]
  if not list then
    list = {}
    lists[key] = list
    order[#order + 1] = key
  end
  list[#list + 1] = name
end

local function add_usage(writes)
  local scopes, scope_order = {}, {}
  for _, write in ipairs(writes) do
    local keys, args = write.keys, write.args
    for index = 3, #keys do
      local key = keys[index]
      local scope = scopes[key]
      if not scope then
        local name = args[5 + index]
        scope = {key = key, name = name, is_task = string.sub(name, 1, 5) == 'task:', is_all = index == 3,
          index = keys[1], task_index = keys[2], keep = args[1], task_keep = args[2], sums = {0, 0, 0, 0, 0}}
        scopes[key] = scope
        scope_order[#scope_order + 1] = scope
      end
      for field = 1, 5 do scope.sums[field] = scope.sums[field] + tonumber(args[2 + field]) end
    end
  end
  local names, name_order = {}, {}
  local task_names, task_name_order = {}, {}
  local keep_of, first_of_day = {}, {}
  for _, scope in ipairs(scope_order) do
    local key = scope.key
    local found = redis.call('HMGET', key, 'input', 'cached', 'output', 'cost', 'calls')
    local new = true
    for field = 1, 5 do
      if found[field] then new = false end
    end
    local sums = {}
    for field = 1, 5 do sums[field] = (tonumber(found[field]) or 0) + scope.sums[field] end
    -- Whole numbers printed whole (tostring would switch to an exponent past 14 digits); the cost with 17
    -- significant digits, as HINCRBYFLOAT would keep it.
    redis.call('HSET', key, 'input', string.format('%d', sums[1]), 'cached', string.format('%d', sums[2]),
      'output', string.format('%d', sums[3]), 'cost', string.format('%.17g', sums[4]),
      'calls', string.format('%d', sums[5]))
    if scope.is_task then
      if new then
        redis.call('EXPIRE', key, scope.task_keep)
        list_under(task_names, task_name_order, scope.task_index, scope.name)
        keep_of[scope.task_index] = scope.task_keep
      end
    else
      if new then
        redis.call('EXPIRE', key, scope.keep)
        if scope.is_all then first_of_day[scope.index] = scope.keep end
      end
      list_under(names, name_order, scope.index, scope.name)
    end
  end
  for _, index in ipairs(name_order) do
    redis.call('SADD', index, unpack(names[index]))
    if first_of_day[index] then redis.call('EXPIRE', index, first_of_day[index]) end
  end
  for _, index in ipairs(task_name_order) do
    redis.call('SADD', index, unpack(task_names[index]))
    redis.call('EXPIRE', index, keep_of[index])
  end
end
