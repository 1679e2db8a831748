--[[
  A parked task's prompt is settled: a person answered or decided, or its time ran out. The response is
  kept on the task and the task goes back to the queue (its resume job is promoted by the caller, or is the
  one running this at its time-out), counted again as active. Only the round the task waits on is settled,
  once: a second answer, or a late one to an earlier round, changes nothing. The settlement is recorded in
  the announcements outbox (the task endings stream) with the prompt and the response, so a gateway edits
  the posted prompt to show the outcome exactly once, even across restarts and after the task parks again.

  Input:
    KEYS[1] task hash
    KEYS[2] events stream
    KEYS[3] the session's active set
    KEYS[4] the session's parked set
    KEYS[5] quota: the person's active set
    KEYS[6] quota: the channel's active set
    KEYS[7] quota: all active tasks
    KEYS[8] quota: queued tasks
    KEYS[9] task endings stream (the delivery outbox)

    ARGV[1] JSON, every value a string: {round, status (the waiting status expected; '' = either),
            response (JSON), now, maxEvents, channel (signals), eventType, eventText}

  Output: {outcome, detail}
    ok, refused (status found: not waiting as expected), stale (the round it waits on), missing.
  Signals: `queued`.
]]
--- @include "add-event"

local request = cjson.decode(ARGV[1])
local current = redis.call('HMGET', KEYS[1], 'status', 'id', 'sessionKey', 'promptRound', 'parkedAt',
  'parkedMs', 'prompt')
local status, task_id = current[1], current[2]
if not status then return {'missing'} end
local waiting = status == 'waiting_input' or status == 'waiting_approval'
if not waiting or (request.status ~= '' and status ~= request.status) then return {'refused', status} end
if (current[4] or '') ~= request.round then return {'stale', tostring(current[4])} end
local now = request.now
local parked_ms = (tonumber(current[6]) or 0) + math.max(0, tonumber(now) - (tonumber(current[5]) or tonumber(now)))
redis.call('HSET', KEYS[1], 'status', 'queued', 'promptResponse', request.response,
  'parkedMs', string.format('%d', parked_ms))
redis.call('SREM', KEYS[4], task_id)
for key_index = 5, 8 do redis.call('SADD', KEYS[key_index], task_id) end
redis.call('SADD', KEYS[3], task_id)
add_event(KEYS[2], request.maxEvents, request.eventType, now, request.eventText)
add_event(KEYS[2], request.maxEvents, 'status-change', now, status .. ' -> queued')
redis.call('XADD', KEYS[9], 'MAXLEN', '~', 100000, '*', 'taskId', task_id, 'status', 'queued',
  'round', request.round, 'settled', '1', 'prompt', current[7] or '', 'response', request.response)
redis.call('PUBLISH', request.channel, cjson.encode({kind = 'queued', taskId = task_id, sessionKey = current[3]}))
return {'ok', status}
