--[[
  Moves a task to a new status if its current status is one of the allowed ones. With a runner token and
  the release flag, the runner also lets go of the task (as release-task) whether the move is made or
  refused (a cancel that got there first), as long as it still holds the token.

  Input:
    KEYS[1] task hash
    KEYS[2] events stream
    KEYS[3] task endings stream (the delivery outbox)
    KEYS[4] checkpoint
    KEYS[5] inbox stream
    KEYS[6] children set
    KEYS[7] expiry schedule
    KEYS[8] the session's active set
    KEYS[9] quota: the person's active set
    KEYS[10] quota: the channel's active set
    KEYS[11] quota: all active tasks
    KEYS[12] quota: queued tasks
    KEYS[13] the session's parked set
    Every key is declared: the caller passes the task's record (session and origin), which it has or reads.

    ARGV[1]  allowed statuses (comma separated)
    ARGV[2]  new status
    ARGV[3]  now (ms)
    ARGV[4]  max events
    ARGV[5]  event text suffix
    ARGV[6]  signal channel
    ARGV[7]  runner token required ('' = any)
    ARGV[8]  release ('1' or '')
    ARGV[9]  retention in seconds
    ARGV[10..] field/value pairs to set

  A parked task that ends (cancelled while it waits) also records its prompt as settled in the outbox, so a
  gateway edits the posted prompt to say so (see settle-prompt.lua).

  Output: {outcome, status found, '1' when released}
    ok, refused (status not allowed), lost (another runner holds it), missing.
  Signals: `ended` for a terminal status, else `stopped` when released.
]]
--- @include "add-event"
--- @include "record-ending"
--- @include "retire-task"
--- @include "announce-stopped"

local current = redis.call('HMGET', KEYS[1], 'status', 'runnerToken', 'id', 'sessionKey', 'parentTaskId', 'origin',
  'followUpRound', 'promptRound', 'prompt')
local status, runner, task_id = current[1], current[2], current[3]
if not status then return {'missing'} end
local holds = ARGV[7] ~= '' and runner == ARGV[7]
local release = holds and ARGV[8] == '1'
local allowed = false
for candidate in string.gmatch(ARGV[1], '[^,]+') do
  if candidate == status then allowed = true end
end
if not allowed then
  if release then
    redis.call('HSET', KEYS[1], 'runnerToken', '', 'stoppedAt', ARGV[3])
    announce_stopped(ARGV[6], task_id)
  end
  return {'refused', status, release and '1' or ''}
end
if ARGV[7] ~= '' and not holds then return {'lost', status} end
local new_status = ARGV[2]
local terminal = new_status == 'completed' or new_status == 'failed' or new_status == 'cancelled'
  or new_status == 'timed_out'
local fields = {'status', new_status}
for index = 10, #ARGV do fields[#fields + 1] = ARGV[index] end
if terminal then
  fields[#fields + 1] = 'endedAt'
  fields[#fields + 1] = ARGV[3]
end
if release then
  fields[#fields + 1] = 'runnerToken'
  fields[#fields + 1] = ''
  fields[#fields + 1] = 'stoppedAt'
  fields[#fields + 1] = ARGV[3]
end
redis.call('HSET', KEYS[1], unpack(fields))
local origin = cjson.decode(current[6] or '{}')
if terminal then
  -- The session's and the quota sets; always the queued set too: a task can be moved to running without a
  -- claim (see claim-tasks); and the parked set (a cancelled waiting task).
  for key_index = 8, 13 do redis.call('SREM', KEYS[key_index], task_id) end
end
add_event(KEYS[2], ARGV[4], 'status-change', ARGV[3], status .. ' -> ' .. new_status .. ARGV[5])
if terminal then
  record_ending(KEYS[3], task_id, new_status, current[5], current[7])
  if (status == 'waiting_input' or status == 'waiting_approval') and current[8] and current[9] then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'taskId', task_id, 'status', new_status,
      'round', current[8], 'settled', '1', 'prompt', current[9], 'note', string.sub(ARGV[5], 3))
  end
  -- The full summary key is only written by complete-tasks, so it has nothing to expire here.
  retire_task({checkpoint = KEYS[4], schedule = KEYS[7], expire = {KEYS[1], KEYS[2], KEYS[5], KEYS[6]}},
    task_id, current[4], origin, ARGV[9], ARGV[3])
  redis.call('PUBLISH', ARGV[6], cjson.encode({kind = 'ended', taskId = task_id, status = new_status}))
elseif release then
  announce_stopped(ARGV[6], task_id)
end
return {'ok', status, release and '1' or ''}
