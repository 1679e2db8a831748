--[[
  Ends running tasks as completed: a batch of one or more, each on its own terms (TaskStore gathers the
  completions asked for in one turn of its process's event loop; see TaskStore.complete). A task is ended
  unless a steer arrived that its child has not read yet. Its checkpoint is kept (expiring with the record)
  for a follow-up that reopens it (reopen-task). The runner is done with the task once it is completed, so
  this also releases it: its token is cleared, and the `ended` signal stands for `stopped` (see
  announce-stopped). Given the usage of the model call that gave an answer, it counts it first, whatever
  that task's outcome: the call was made (see add-usage, which sums a batch's calls per scope).

  Input: the keys of each task in turn, then the keys of its usage write (none when not given):
    +1  task hash
    +2  events stream
    +3  inbox stream
    +4  full summary
    +5  task endings stream (the delivery outbox)
    +6  checkpoint
    +7  children set
    +8  expiry schedule
    +9  the session's active set
    +10 quota: the person's active set
    +11 quota: the channel's active set
    +12 quota: all active tasks
    +13.. the usage write's keys (the day's index, then its scope hashes)
    Every key is declared: the runner has the task's record (session and origin) from its claim.

    ARGV[1] JSON: a list with one object per task, in the order of the keys, every value a string but
            `usage`: {runnerToken, inboxCursor, now, maxEvents, channel (signals), summary, fullText, steps,
            usage (JSON: the task's tokens), retentionSeconds, usageKeys (how many of its keys are the usage
            write's), usageArgs? (the usage write's arguments: a list of strings),
            structured? (JSON: the answer checked against the task's output_schema; only tasks with one)}

  Output: a list with one {outcome, status found} per task:
    ok, refused (not running), lost (another runner holds it), pending_steer (a steer after the cursor).
  Signals: `ended` (completed) per task ended, all in one message (a list).
]]
--- @include "stream-id-greater"
--- @include "add-event"
--- @include "record-ending"
--- @include "retire-task"
--- @include "../../redis/lua/add-usage"

local requests = cjson.decode(ARGV[1])
local task_keys, writes = {}, {}
local next_key = 1
for index, request in ipairs(requests) do
  local usage_keys = tonumber(request.usageKeys)
  task_keys[index] = {unpack(KEYS, next_key, next_key + 11)}
  if usage_keys > 0 then
    writes[#writes + 1] = {keys = {unpack(KEYS, next_key + 12, next_key + 11 + usage_keys)}, args = request.usageArgs}
  end
  next_key = next_key + 12 + usage_keys
end
if #writes > 0 then add_usage(writes) end

-- The ended tasks' signals, published as one message (a list) at the end.
local ended = {}
-- The sets the ended tasks leave, with their members (see list_under): one SREM per set for the whole batch.
local leaving, leaving_order = {}, {}

local function complete_task(keys, request)
  local current = redis.call('HMGET', keys[1], 'status', 'runnerToken', 'id', 'sessionKey', 'parentTaskId', 'origin',
    'lastSteerId', 'steps', 'checkpointed', 'hasChildren', 'followUpRound')
  local status, task_id = current[1], current[3]
  if status ~= 'running' then return {'refused', tostring(status)} end
  if current[2] ~= request.runnerToken then return {'lost', status} end
  -- The newest steer's id is kept in the hash (steer-task); a record admitted before it was has none, and
  -- the inbox itself is read.
  local last_steer = current[7]
  if not last_steer then
    local newest = redis.call('XREVRANGE', keys[3], '+', '-', 'COUNT', 1)
    last_steer = #newest > 0 and newest[1][1] or '0-0'
  end
  if last_steer ~= '0-0' and stream_id_greater(last_steer, request.inboxCursor) then
    return {'pending_steer', status}
  end
  local now = request.now
  redis.call('HSET', keys[1], 'status', 'completed', 'endedAt', now, 'summary', request.summary,
    'steps', request.steps, 'usage', request.usage, 'runnerToken', '', 'stoppedAt', now)
  if request.structured then redis.call('HSET', keys[1], 'structured', request.structured) end
  -- The full text gets a key of its own only when the summary had to be cut (see TaskStore.fullSummary);
  -- it is written with its expiry.
  if request.fullText ~= request.summary then
    redis.call('SET', keys[4], request.fullText, 'EX', request.retentionSeconds)
  elseif current[11] then
    -- A reopened task's earlier round may have left a longer answer there.
    redis.call('DEL', keys[4])
  end
  local origin = cjson.decode(current[6] or '{}')
  -- A running task left the queued-tasks quota set when it was claimed.
  for key_index = 9, 12 do list_under(leaving, leaving_order, keys[key_index], task_id) end
  add_event(keys[2], request.maxEvents, 'status-change', now, 'running -> completed')
  record_ending(keys[5], task_id, 'completed', current[5], current[11])
  -- Only keys that exist need an expiry or a delete: an unsteered task has no inbox, a task that started no
  -- child has no children set (admit-tasks marks the parent; a record admitted before lastSteerId existed may
  -- have one unmarked), and a task that never saved a checkpoint (save-checkpoint marks it; steps > 0 covers
  -- records checkpointed before the mark) has none to delete.
  local to_expire = {keys[1], keys[2]}
  if last_steer ~= '0-0' then to_expire[#to_expire + 1] = keys[3] end
  if current[10] == '1' or not current[7] then to_expire[#to_expire + 1] = keys[7] end
  -- A completed task keeps its conversation for the retention period: a steer may reopen it (reopen-task).
  local checkpointed = current[9] == '1' or (current[8] or '') ~= '0'
  if checkpointed then to_expire[#to_expire + 1] = keys[6] end
  retire_task({checkpoint = false, schedule = keys[8], expire = to_expire},
    task_id, current[4], origin, request.retentionSeconds, now)
  ended[#ended + 1] = {kind = 'ended', taskId = task_id, status = 'completed'}
  return {'ok', status}
end

local replies = {}
for index, request in ipairs(requests) do replies[index] = complete_task(task_keys[index], request) end
for _, key in ipairs(leaving_order) do redis.call('SREM', key, unpack(leaving[key])) end
if #ended > 0 then redis.call('PUBLISH', requests[1].channel, cjson.encode(ended)) end
return replies
