--[[
  Parks a running task that waits for a person (ask_user, or a tool call needing approval): it becomes
  waiting_input or waiting_approval, the runner lets go of it, and it leaves the session's active set and
  the quota sets (a parked task holds no worker slot and counts only against the parked cap). The prompt
  to post is recorded in the announcements outbox (the task endings stream) in the same script, so the
  gateway posts it exactly once even across restarts.

  Input:
    KEYS[1] task hash
    KEYS[2] events stream
    KEYS[3] task endings stream (the delivery outbox)
    KEYS[4] the session's active set
    KEYS[5] the session's parked set
    KEYS[6] quota: the person's active set
    KEYS[7] quota: the channel's active set
    KEYS[8] quota: all active tasks

    ARGV[1] JSON, every value a string: {runnerToken, status (waiting_input | waiting_approval), round,
            prompt (JSON), maxParked, now, maxEvents, channel (signals), eventText}

  Output: {outcome, detail}
    ok, over_parked (parked count found), refused (status found: not running), lost (another runner holds
    it), missing.
  Signals: `parked`.
]]
--- @include "add-event"

local request = cjson.decode(ARGV[1])
local current = redis.call('HMGET', KEYS[1], 'status', 'runnerToken', 'id', 'sessionKey')
local status, task_id = current[1], current[3]
if not status then return {'missing'} end
if status ~= 'running' then return {'refused', status} end
if current[2] ~= request.runnerToken then return {'lost', status} end
local parked = redis.call('SCARD', KEYS[5])
if parked >= tonumber(request.maxParked) then return {'over_parked', tostring(parked)} end
local now = request.now
redis.call('HSET', KEYS[1], 'status', request.status, 'prompt', request.prompt, 'promptRound', request.round,
  'parkedAt', now, 'runnerToken', '', 'stoppedAt', now)
redis.call('HDEL', KEYS[1], 'promptResponse')
for _, key_index in ipairs({4, 6, 7, 8}) do redis.call('SREM', KEYS[key_index], task_id) end
redis.call('SADD', KEYS[5], task_id)
add_event(KEYS[2], request.maxEvents, 'status-change', now, 'running -> ' .. request.status)
add_event(KEYS[2], request.maxEvents, 'prompt-asked', now, request.eventText)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'taskId', task_id, 'status', request.status,
  'round', request.round)
redis.call('PUBLISH', request.channel, cjson.encode({kind = 'parked', taskId = task_id,
  sessionKey = current[4], status = request.status}))
return {'ok', tostring(parked + 1)}
