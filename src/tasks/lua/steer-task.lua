--[[
  Queues a steering message for a task that has not finished (a parked one reads it when it resumes). With an idempotency key (a replayed
  steer_task tool call), a second call returns the first message's id instead of queuing it again. The
  message's id is also kept in the hash (lastSteerId), which complete-tasks and claim-tasks read instead of
  the inbox.

  Input:
    KEYS[1] task hash
    KEYS[2] inbox stream
    KEYS[3] events stream
    KEYS[4] idempotency key ('' for none)

    ARGV[1] sender
    ARGV[2] text
    ARGV[3] now (ms)
    ARGV[4] max events
    ARGV[5] signal channel
    ARGV[6] seconds an idempotency key is remembered
    ARGV[7] the event's line (the text cut in TypeScript, where a cut cannot split a character)

  Output: {outcome, message id or status found}: ok, refused (finished), missing.
  Signals: `steer`.
]]
--- @include "add-event"

if KEYS[4] ~= '' then
  local earlier = redis.call('GET', KEYS[4])
  if earlier then return {'ok', earlier} end
end
local current = redis.call('HMGET', KEYS[1], 'status', 'id')
local status, task_id = current[1], current[2]
if not status then return {'missing'} end
-- A parked task keeps its steers for when it resumes.
if status ~= 'queued' and status ~= 'running' and status ~= 'waiting_input' and status ~= 'waiting_approval' then
  return {'refused', status}
end
local message_id = redis.call('XADD', KEYS[2], '*', 'from', ARGV[1], 'text', ARGV[2], 'at', ARGV[3])
redis.call('HSET', KEYS[1], 'lastSteerId', message_id)
if KEYS[4] ~= '' then redis.call('SET', KEYS[4], message_id, 'EX', ARGV[6]) end
add_event(KEYS[3], ARGV[4], 'steer-queued', ARGV[3], ARGV[7])
redis.call('PUBLISH', ARGV[5], cjson.encode({kind = 'steer', taskId = task_id, messageId = message_id}))
return {'ok', message_id}
