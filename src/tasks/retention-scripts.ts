/**
 * Lua scripts that keep the task indexes as short-lived as the records they list. A task record expires on
 * its own (EXPIRE, set when the task ends); an index entry cannot, so each finished task also goes on an
 * expiry schedule, and the retention sweeper removes its entries once the record is gone.
 * Key names must match RedisKeys (task, sessionTasks, channelTasks, allTasks, taskExpirySchedule).
 */

/**
 * Puts a task on the expiry schedule: scored by when its record expires (ms), as a JSON array
 * [task id, session key, platform, channel] — what finding its indexes takes once the record is gone.
 */
export const scheduleExpiry = `
local function schedule_expiry(prefix, task_id, expires_at)
  local found = redis.call('HMGET', prefix .. ':task:' .. task_id, 'sessionKey', 'origin')
  local origin = cjson.decode(found[2] or '{}')
  local entry = cjson.encode({task_id, found[1] or '', origin.platform or '', origin.channel or ''})
  redis.call('ZADD', prefix .. ':tasks:expiring', expires_at, entry)
end
`;

/**
 * Removes from the session, channel and global indexes the scheduled tasks that are due and whose record
 * is gone. A due task whose record is still there is never dropped: with an expiry it is rescheduled for
 * then (its expiry was set again), without one it left the schedule (it is active again, and its next
 * end schedules it anew).
 * KEYS: expiry schedule, global index.  ARGV: now (ms), batch size, key prefix.
 * Returns {entries examined, tasks removed from the indexes}.
 */
export const trimExpiredScript = `
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
`;

/**
 * For indexes written before the expiry schedule existed: of the given ids of the global index, drops
 * those whose record is gone and schedules those that will expire.
 * KEYS: global index.  ARGV: now (ms), key prefix, then task ids.  Returns how many it dropped.
 */
export const scheduleIndexedScript = `
${scheduleExpiry}
local prefix = ARGV[2]
local now = tonumber(ARGV[1])
local dropped = 0
for index = 3, #ARGV do
  local task_id = ARGV[index]
  local left = redis.call('PTTL', prefix .. ':task:' .. task_id)
  if left == -2 then
    redis.call('ZREM', KEYS[1], task_id)
    dropped = dropped + 1
  elseif left >= 0 then
    schedule_expiry(prefix, task_id, now + left)
  end
end
return dropped
`;

/**
 * Drops from one index the given ids whose record is gone (the session and channel indexes of tasks that
 * expired before the expiry schedule existed). KEYS: an index.  ARGV: key prefix, then task ids.
 */
export const dropMissingScript = `
local dropped = 0
for index = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ':task:' .. ARGV[index]) == 0 then
    redis.call('ZREM', KEYS[1], ARGV[index])
    dropped = dropped + 1
  end
end
return dropped
`;

/**
 * Trims the stream of task endings to the retention period (an ending older than that points to a record
 * that has expired), and deletes it when it is left empty with no consumer group (no gateway reads it).
 * KEYS: task endings stream.  ARGV: oldest id to keep ("ms-0").  Returns how many entries it removed.
 */
export const trimEndingsScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local trimmed = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
if redis.call('XLEN', KEYS[1]) == 0 and #redis.call('XINFO', 'GROUPS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
end
return trimmed
`;
