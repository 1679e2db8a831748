--- @include "schedule-expiry"

-- Helper: a finished task keeps its record, events, inbox and full summary for the retention period, then
-- they expire; its checkpoint (the whole conversation, the largest thing a task holds) is no longer
-- needed. The indexes that list it cannot expire an entry: it goes on the expiry schedule the retention
-- sweeper reads (trim-expired).
--   keys: {checkpoint key or false (none was written), schedule key, keys to expire...}
local function retire_task(keys, task_id, session_key, origin, seconds, now)
  if keys.checkpoint then redis.call('DEL', keys.checkpoint) end
  for _, key in ipairs(keys.expire) do redis.call('EXPIRE', key, seconds) end
  schedule_expiry(keys.schedule, task_id, session_key, origin, tonumber(now) + tonumber(seconds) * 1000)
end
