-- Helper: puts a task on the expiry schedule (KEY RedisKeys.taskExpirySchedule), scored by when its record
-- expires (ms), as a JSON array [task id, session key, platform, channel]: what finding its indexes takes
-- once the record is gone (see trim-expired). `origin` is the decoded origin of the task.
local function schedule_expiry(schedule_key, task_id, session_key, origin, expires_at)
  local entry = cjson.encode({task_id, session_key or '', origin.platform or '', origin.channel or ''})
  redis.call('ZADD', schedule_key, expires_at, entry)
end
