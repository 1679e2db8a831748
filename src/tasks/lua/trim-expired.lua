--[[
  Removes from the session, channel and global indexes the given due tasks of the expiry schedule whose
  record is gone. A due task whose record is still there is never dropped: with an expiry it is rescheduled
  for then (its expiry was set again), without one it left the schedule (it is active again, and its next
  end schedules it anew).

  The sweeper reads the due entries first (ZRANGEBYSCORE) and passes each with the keys its task is listed
  under, so every key this touches is declared. An entry that is no longer due when this runs (its task
  ended again and was rescheduled, or another sweep took it) is left alone: reading and trimming need not
  be one step.

  Input:
    KEYS[1] expiry schedule
    KEYS[2] global task index
    KEYS[3i], KEYS[3i + 1], KEYS[3i + 2] (i = 1..n) the i-th task's hash, session index, channel index

    ARGV[1] now (ms)
    ARGV[2i], ARGV[2i + 1] (i = 1..n) the i-th schedule entry (as stored), its task id

  Output: tasks removed from the indexes
]]
local now = tonumber(ARGV[1])
local removed = 0
for index = 1, (#ARGV - 1) / 2 do
  local entry, task_id = ARGV[2 * index], ARGV[2 * index + 1]
  local score = redis.call('ZSCORE', KEYS[1], entry)
  if score and tonumber(score) <= now then
    local left = redis.call('PTTL', KEYS[3 * index])
    if left == -2 then
      redis.call('ZREM', KEYS[2], task_id)
      redis.call('ZREM', KEYS[3 * index + 1], task_id)
      redis.call('ZREM', KEYS[3 * index + 2], task_id)
      redis.call('ZREM', KEYS[1], entry)
      removed = removed + 1
    elseif left >= 0 then
      redis.call('ZADD', KEYS[1], now + math.max(left, 1), entry)
    else
      redis.call('ZREM', KEYS[1], entry)
    end
  end
end
return removed
