--[[
  Ends a running task as completed, unless a steer arrived that the child has not read yet. Its checkpoint
  is kept (expiring with the record) for a follow-up that reopens it (reopen-task). The runner is
  done with the task once it is completed, so this also releases it: its token is cleared, and the `ended`
  signal stands for `stopped` (see announce-stopped). Given the usage of the model call that gave the answer,
  it counts it first, whatever the outcome: the call was made (see add-usage).

  Input:
    KEYS[1] task hash
    KEYS[2] events stream
    KEYS[3] inbox stream
    KEYS[4] full summary
    KEYS[5] task endings stream (the delivery outbox)
    KEYS[6] checkpoint
    KEYS[7] children set
    KEYS[8] expiry schedule
    KEYS[9] the session's active set
    KEYS[10] quota: the person's active set
    KEYS[11] quota: the channel's active set
    KEYS[12] quota: all active tasks
    KEYS[13..] the usage write's keys (the day's index, then its scope hashes); none when not given
    Every key is declared: the runner has the task's record (session and origin) from its claim.

    ARGV[1] JSON, every value a string: {runnerToken, inboxCursor, now, maxEvents, channel (signals),
            summary, fullText, steps, usage (JSON), retentionSeconds,
            structured? (JSON: the answer checked against the task's output_schema; only tasks with one)}
    ARGV[2..] the usage write's arguments

  Output: {outcome, status found}
    ok, refused (not running), lost (another runner holds it), pending_steer (a steer after the cursor).
  Signals: `ended` (completed).
]]
--- @include "stream-id-greater"
--- @include "add-event"
--- @include "record-ending"
--- @include "retire-task"
--- @include "../../redis/lua/add-usage"

if #KEYS > 12 then add_usage({unpack(KEYS, 13)}, {unpack(ARGV, 2)}) end
local request = cjson.decode(ARGV[1])
local current = redis.call('HMGET', KEYS[1], 'status', 'runnerToken', 'id', 'sessionKey', 'parentTaskId', 'origin',
  'lastSteerId', 'steps', 'checkpointed', 'hasChildren', 'followUpRound')
local status, task_id = current[1], current[3]
if status ~= 'running' then return {'refused', tostring(status)} end
if current[2] ~= request.runnerToken then return {'lost', status} end
-- The newest steer's id is kept in the hash (steer-task); a record admitted before it was has none, and
-- the inbox itself is read.
local last_steer = current[7]
if not last_steer then
  local newest = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  last_steer = #newest > 0 and newest[1][1] or '0-0'
end
if last_steer ~= '0-0' and stream_id_greater(last_steer, request.inboxCursor) then
  return {'pending_steer', status}
end
local now = request.now
redis.call('HSET', KEYS[1], 'status', 'completed', 'endedAt', now, 'summary', request.summary,
  'steps', request.steps, 'usage', request.usage, 'runnerToken', '', 'stoppedAt', now)
if request.structured then redis.call('HSET', KEYS[1], 'structured', request.structured) end
-- The full text gets a key of its own only when the summary had to be cut (see TaskStore.fullSummary);
-- it is written with its expiry.
if request.fullText ~= request.summary then
  redis.call('SET', KEYS[4], request.fullText, 'EX', request.retentionSeconds)
elseif current[11] then
  -- A reopened task's earlier round may have left a longer answer there.
  redis.call('DEL', KEYS[4])
end
local origin = cjson.decode(current[6] or '{}')
-- A running task left the queued-tasks quota set when it was claimed.
for key_index = 9, 12 do redis.call('SREM', KEYS[key_index], task_id) end
add_event(KEYS[2], request.maxEvents, 'status-change', now, 'running -> completed')
record_ending(KEYS[5], task_id, 'completed', current[5], current[11])
-- Only keys that exist need an expiry or a delete: an unsteered task has no inbox, a task that started no
-- child has no children set (admit-tasks marks the parent; a record admitted before lastSteerId existed may
-- have one unmarked), and a task that never saved a checkpoint (save-checkpoint marks it; steps > 0 covers
-- records checkpointed before the mark) has none to delete.
local to_expire = {KEYS[1], KEYS[2]}
if last_steer ~= '0-0' then to_expire[#to_expire + 1] = KEYS[3] end
if current[10] == '1' or not current[7] then to_expire[#to_expire + 1] = KEYS[7] end
-- A completed task keeps its conversation for the retention period: a steer may reopen it (reopen-task).
local checkpointed = current[9] == '1' or (current[8] or '') ~= '0'
if checkpointed then to_expire[#to_expire + 1] = KEYS[6] end
retire_task({checkpoint = false, schedule = KEYS[8], expire = to_expire},
  task_id, current[4], origin, request.retentionSeconds, now)
redis.call('PUBLISH', request.channel, cjson.encode({kind = 'ended', taskId = task_id, status = 'completed'}))
return {'ok', status}
