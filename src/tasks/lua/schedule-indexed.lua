--[[
  For indexes written before the expiry schedule existed: of the given tasks of the global index, drops
  those whose record is gone and schedules those that will expire.

  Input:
    KEYS[1] global task index
    KEYS[2] expiry schedule
    KEYS[2 + i] hash of the i-th task

    ARGV[1] now (ms)
    ARGV[i + 1] id of the i-th task

  Output: how many it dropped.
]]
--- @include "schedule-expiry"

local now = tonumber(ARGV[1])
local dropped = 0
for index = 2, #ARGV do
  local task_id = ARGV[index]
  local task_key = KEYS[index + 1]
  local left = redis.call('PTTL', task_key)
  if left == -2 then
    redis.call('ZREM', KEYS[1], task_id)
    dropped = dropped + 1
  elseif left >= 0 then
    local found = redis.call('HMGET', task_key, 'sessionKey', 'origin')
    schedule_expiry(KEYS[2], task_id, found[1], cjson.decode(found[2] or '{}'), now + left)
  end
end
return dropped
