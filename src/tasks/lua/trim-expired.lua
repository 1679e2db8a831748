--[[
  Removes from the session, channel and global indexes the scheduled tasks that are due and whose record
  is gone. A due task whose record is still there is never dropped: with an expiry it is rescheduled for
  then (its expiry was set again), without one it left the schedule (it is active again, and its next
  end schedules it anew).

  Input:
    KEYS[1] expiry schedule
    KEYS[2] global task index
    Not declared: each due task's hash, session index and channel index. Which tasks are due is only
    known once the schedule is read, inside the script, and reading and trimming must be one atomic step
    (a task ended again in between must not lose its entries); their names come from the schedule's
    entries. Names must match RedisKeys.task / sessionTasks / channelTasks.

    ARGV[1] now (ms)
    ARGV[2] batch size
    ARGV[3] key prefix

  Output: {entries examined, tasks removed from the indexes}
]]
local prefix = ARGV[3]
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local removed = 0
for _, entry in ipairs(due) do
  local ok, fields = pcall(cjson.decode, entry)
  if not ok or type(fields) ~= 'table' or not fields[1] then
    redis.call('ZREM', KEYS[1], entry)
  else
    local task_id = fields[1]
    local left = redis.call('PTTL', prefix .. ':task:' .. task_id)
    if left == -2 then
      redis.call('ZREM', KEYS[2], task_id)
      redis.call('ZREM', prefix .. ':session:' .. fields[2] .. ':tasks', task_id)
      redis.call('ZREM', prefix .. ':channel:' .. fields[3] .. ':' .. fields[4] .. ':tasks', task_id)
      redis.call('ZREM', KEYS[1], entry)
      removed = removed + 1
    elseif left >= 0 then
      redis.call('ZADD', KEYS[1], now + math.max(left, 1), entry)
    else
      redis.call('ZREM', KEYS[1], entry)
    end
  end
end
return {#due, removed}
