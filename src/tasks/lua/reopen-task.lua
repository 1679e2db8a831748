--[[
  A follow-up to a finished task: a steer for a completed task reopens it for another round. The message is
  queued in its inbox as any steer, and the task goes back to queued (completed -> queued is legal only
  here), its keys kept (no longer expiring) and counted as active again. A task that is unfinished again by
  now (another reopen won the race) just gets the steer, so concurrent reopens queue one round.
  With an idempotency key (a replayed steer_task call), a second call returns the first message's id.

  Input:
    KEYS[1]  task hash
    KEYS[2]  inbox stream
    KEYS[3]  events stream
    KEYS[4]  idempotency key ('' for none)
    KEYS[5]  checkpoint
    KEYS[6]  children set
    KEYS[7]  the session's active set
    KEYS[8]  quota: the person's active set
    KEYS[9]  quota: the channel's active set
    KEYS[10] quota: all active tasks
    KEYS[11] quota: queued tasks

    ARGV[1] JSON: {from, text, now (string), maxEvents, channel (signals), idempotencySeconds,
            eventLine (the steer's event text, cut in TypeScript), maxActive (the session's limit),
            quotas: {user, channel, total, queued} (limits; 0 = none)}

  Output: {outcome, detail, round}
    reopened (message id, the new round), steered (message id: it was unfinished again by then),
    refused (the status found: failed, cancelled, timed_out), missing, over_limit (session), over_user,
    over_channel, over_total, over_queued (each with the count found). Nothing is written when refused.
  Signals: `queued` (reopened), `steer`.
]]
--- @include "add-event"
--- @include "over-quota"

local request = cjson.decode(ARGV[1])
if KEYS[4] ~= '' then
  local earlier = redis.call('GET', KEYS[4])
  if earlier then return {'steered', earlier} end
end
local current = redis.call('HMGET', KEYS[1], 'status', 'id', 'sessionKey', 'followUpRound', 'steps',
  'lastSteerId', 'promptRound')
local status, task_id = current[1], current[2]
if not status then return {'missing'} end
local reopen = status == 'completed'
local unfinished = status == 'queued' or status == 'running' or status == 'waiting_input'
  or status == 'waiting_approval'
if not reopen and not unfinished then return {'refused', status} end
local round = (tonumber(current[4]) or 1) + 1
if reopen then
  local active = redis.call('SCARD', KEYS[7])
  if active + 1 > tonumber(request.maxActive) then return {'over_limit', tostring(active)} end
  local refused = over_quota({KEYS[8], KEYS[9], KEYS[10], KEYS[11]}, request.quotas, 1)
  if refused then return refused end
end
local now = request.now
local message_id = redis.call('XADD', KEYS[2], '*', 'from', request.from, 'text', request.text, 'at', now)
redis.call('HSET', KEYS[1], 'lastSteerId', message_id)
if KEYS[4] ~= '' then redis.call('SET', KEYS[4], message_id, 'EX', request.idempotencySeconds) end
if reopen then
  -- Every steer up to the previous one was applied before the task completed (complete-tasks refuses
  -- otherwise): the new round starts reading after it, even without a checkpoint that says so.
  redis.call('HSET', KEYS[1], 'status', 'queued', 'followUpRound', tostring(round), 'roundStartSteps', current[5] or '0',
    'roundInboxCursor', current[6] or '0-0', 'followUpPromptRound', current[7] or '0', 'startedAt', '',
    'endedAt', '', 'error', '', 'runnerToken', '')
  redis.call('HDEL', KEYS[1], 'structured')
  -- The finished task's keys were set to expire after the retention period; a running task's do not.
  for _, key in ipairs({KEYS[1], KEYS[2], KEYS[3], KEYS[5], KEYS[6]}) do redis.call('PERSIST', key) end
  for key_index = 7, 11 do redis.call('SADD', KEYS[key_index], task_id) end
  add_event(KEYS[3], request.maxEvents, 'status-change', now, 'completed -> queued (round ' .. round .. ')')
end
add_event(KEYS[3], request.maxEvents, 'steer-queued', now, request.eventLine)
if reopen then
  redis.call('PUBLISH', request.channel,
    cjson.encode({kind = 'queued', taskId = task_id, sessionKey = current[3]}))
end
redis.call('PUBLISH', request.channel, cjson.encode({kind = 'steer', taskId = task_id, messageId = message_id}))
if reopen then return {'reopened', message_id, tostring(round)} end
return {'steered', message_id}
