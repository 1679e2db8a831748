--[[
  Workers take tasks: a batch of one or more, each on its own terms (TaskStore gathers the claims asked for in
  one turn of its process's event loop; see TaskStore.claim). Queued becomes running; a running task whose
  worker died is taken over. Replies with what each runner needs to start, so it reads nothing else first.
  For a task claimed from 'queued' with an empty inbox, given the event's text, it also records the first
  step's `step-start`: such a run goes straight to its first model call, so this saves it a write.

  Input: three keys per task, in turn, then one:
    KEYS[3i - 2]  the i-th task's hash
    KEYS[3i - 1]  its events stream
    KEYS[3i]      its inbox stream
    KEYS[#KEYS]   the queued-tasks quota set

    ARGV[1] JSON: a list with one object per task, in the order of the keys, every value a string:
            {runnerToken, now (ms), maxEvents, firstStep (the first step's event text; '' for none),
             round (the prompt round the job resumes; '' for a task's first job: a task that has parked is
             run only by the job of the round it last waited on, so no stale job ever runs it twice)}

  Output: a list with one reply per task: {outcome, status found, previous runner token, inbox length, task
    hash after the claim as a JSON object (one string is much cheaper for the client to decode than a list of
    fields), '1' when it recorded the first step's start}
    ok, finished (with the status), parked (with the status: waiting for a person), stale (a job of another
    round), missing.
]]
--- @include "add-event"

local requests = cjson.decode(ARGV[1])
-- The tasks claimed leave the queued-tasks quota set: one SREM for the whole batch.
local claimed = {}

local function claim_task(keys, request)
  local pairs_list = redis.call('HGETALL', keys[1])
  if #pairs_list == 0 then return {'missing'} end
  local hash = {}
  for index = 1, #pairs_list, 2 do hash[pairs_list[index]] = pairs_list[index + 1] end
  local status = hash.status
  if not status then return {'missing'} end
  if status == 'waiting_input' or status == 'waiting_approval' then return {'parked', status} end
  if status ~= 'queued' and status ~= 'running' then return {'finished', status} end
  if (hash.promptRound or '') ~= request.round then return {'stale', status} end
  local previous_runner = hash.runnerToken or ''
  local attempts = tostring((tonumber(hash.attempts) or 0) + 1)
  if hash.startedAt == '' then
    redis.call('HSET', keys[1], 'status', 'running', 'runnerToken', request.runnerToken, 'attempts', attempts,
      'startedAt', request.now)
    hash.startedAt = request.now
  else
    redis.call('HSET', keys[1], 'status', 'running', 'runnerToken', request.runnerToken, 'attempts', attempts)
  end
  hash.status, hash.runnerToken, hash.attempts = 'running', request.runnerToken, attempts
  if hash.stoppedAt then
    redis.call('HDEL', keys[1], 'stoppedAt')
    hash.stoppedAt = nil
  end
  claimed[#claimed + 1] = hash.id
  -- A task admitted with lastSteerId '0-0' has never been steered: its inbox is empty without a look.
  local inbox_length = 0
  if hash.lastSteerId ~= '0-0' then inbox_length = redis.call('XLEN', keys[3]) end
  local first_step = ''
  if status == 'queued' then
    add_event(keys[2], request.maxEvents, 'status-change', request.now, 'queued -> running')
    -- A task back from a wait resumes from its checkpoint: its next step's start is the runner's to record.
    if request.firstStep ~= '' and inbox_length == 0 and not hash.promptRound then
      add_event(keys[2], request.maxEvents, 'step-start', request.now, request.firstStep)
      first_step = '1'
    end
  else
    add_event(keys[2], request.maxEvents, 'note', request.now,
      'resumed on another worker from the last checkpoint')
  end
  return {'ok', status, previous_runner, inbox_length, cjson.encode(hash), first_step}
end

local replies = {}
for index, request in ipairs(requests) do
  replies[index] = claim_task({KEYS[3 * index - 2], KEYS[3 * index - 1], KEYS[3 * index]}, request)
end
if #claimed > 0 then redis.call('SREM', KEYS[#KEYS], unpack(claimed)) end
return replies
