--[[
  A worker takes a task: queued becomes running; a running task whose worker died is taken over.
  Replies with what the runner needs to start, so it reads nothing else first. For a task claimed from
  'queued' with an empty inbox, given the event's text, it also records the first step's `step-start`:
  such a run goes straight to its first model call, so this saves it a write.

  Input:
    KEYS[1] task hash
    KEYS[2] events stream
    KEYS[3] inbox stream
    KEYS[4] queued-tasks quota set ('' for none)

    ARGV[1] runner token
    ARGV[2] now (ms)
    ARGV[3] max events
    ARGV[4] first step's event text ('' for none)
    ARGV[5] the prompt round the job resumes ('' for a task's first job): a task that has parked is run
            only by the job of the round it last waited on, so no stale job ever runs it twice

  Output: {outcome, status found, previous runner token, inbox length, task hash after the claim as a JSON
    object (one string is much cheaper for the client to decode than a list of fields), '1' when it
    recorded the first step's start}
    ok, finished (with the status), parked (with the status: waiting for a person), stale (a job of another
    round), missing.
]]
--- @include "add-event"

local pairs_list = redis.call('HGETALL', KEYS[1])
if #pairs_list == 0 then return {'missing'} end
local hash = {}
for index = 1, #pairs_list, 2 do hash[pairs_list[index]] = pairs_list[index + 1] end
local status = hash.status
if not status then return {'missing'} end
if status == 'waiting_input' or status == 'waiting_approval' then return {'parked', status} end
if status ~= 'queued' and status ~= 'running' then return {'finished', status} end
if (hash.promptRound or '') ~= (ARGV[5] or '') then return {'stale', status} end
local previous_runner = hash.runnerToken or ''
local attempts = tostring((tonumber(hash.attempts) or 0) + 1)
if hash.startedAt == '' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'runnerToken', ARGV[1], 'attempts', attempts, 'startedAt', ARGV[2])
  hash.startedAt = ARGV[2]
else
  redis.call('HSET', KEYS[1], 'status', 'running', 'runnerToken', ARGV[1], 'attempts', attempts)
end
hash.status, hash.runnerToken, hash.attempts = 'running', ARGV[1], attempts
if hash.stoppedAt then
  redis.call('HDEL', KEYS[1], 'stoppedAt')
  hash.stoppedAt = nil
end
if KEYS[4] and KEYS[4] ~= '' then redis.call('SREM', KEYS[4], hash.id) end
-- A task admitted with lastSteerId '0-0' has never been steered: its inbox is empty without a look.
local inbox_length = 0
if hash.lastSteerId ~= '0-0' then inbox_length = redis.call('XLEN', KEYS[3]) end
local first_step = ''
if status == 'queued' then
  add_event(KEYS[2], ARGV[3], 'status-change', ARGV[2], 'queued -> running')
  -- A task back from a wait resumes from its checkpoint: its next step's start is the runner's to record.
  if ARGV[4] ~= '' and inbox_length == 0 and not hash.promptRound then
    add_event(KEYS[2], ARGV[3], 'step-start', ARGV[2], ARGV[4])
    first_step = '1'
  end
else
  add_event(KEYS[2], ARGV[3], 'note', ARGV[2], 'resumed on another worker from the last checkpoint')
end
return {'ok', status, previous_runner, inbox_length, cjson.encode(hash), first_step}
