--[[
  Admits a batch of new tasks for one session, or none. A repeated dispatch (same idempotency key, e.g. a
  tool call replayed after a crash) returns the tasks of the first one instead of starting new ones.

  Input:
    KEYS[1]  session active set
    KEYS[2]  session task index
    KEYS[3]  parent task hash ('' for none)
    KEYS[4]  parent children set ('' for none)
    KEYS[5]  idempotency key ('' for none)
    KEYS[6]  channel task index
    KEYS[7]  global task index
    KEYS[8]  quota: the person's active set
    KEYS[9]  quota: the channel's active set
    KEYS[10] quota: all active tasks
    KEYS[11] quota: queued tasks
    KEYS[11 + i]      hash of the i-th task (i = 1..n)
    KEYS[11 + n + i]  event stream of the i-th task

    ARGV[1]  JSON: {maxActive, now (string), idempotencySeconds, maxEvents, channel (signals),
             sessionKey, quotas: {user, channel, total, queued} (limits; 0 = none),
             records: [flat field list per task], ids: [task id per record]}

  Output: {outcome, detail}
    ok (active count after), existing (JSON ids of the first dispatch), over_limit (session), over_user,
    over_channel, over_total, over_queued (each with the count found), parent_not_running (its status),
    id_taken (index). Nothing is written unless all limits hold.
  Signals: one `queued` per task, all in one message (a list).
]]
--- @include "add-event"
--- @include "over-quota"

local request = cjson.decode(ARGV[1])
local records, ids = request.records, request.ids
local count = #records
local now = request.now
if KEYS[5] ~= '' then
  local existing = redis.call('GET', KEYS[5])
  if existing then return {'existing', existing} end
end
local active = redis.call('SCARD', KEYS[1])
if active + count > tonumber(request.maxActive) then
  return {'over_limit', tostring(active)}
end
local refused = over_quota({KEYS[8], KEYS[9], KEYS[10], KEYS[11]}, request.quotas, count)
if refused then return refused end
if KEYS[3] ~= '' then
  local parent_status = redis.call('HGET', KEYS[3], 'status')
  if parent_status ~= 'running' then
    return {'parent_not_running', tostring(parent_status)}
  end
end
-- A drawn id is taken when the global index lists it: every task is listed there for as long as its record
-- exists (the retention sweeper and the readers drop an entry only once the record is gone), so one ZMSCORE
-- answers for the whole batch instead of an EXISTS per task.
local listed = redis.call('ZMSCORE', KEYS[7], unpack(ids))
for index = 1, count do
  if listed[index] then return {'id_taken', tostring(index)} end
end
local scored, queued = {}, {}
for index = 1, count do
  local task_id = ids[index]
  scored[2 * index - 1] = now
  scored[2 * index] = task_id
  local fields = records[index]
  -- No steer yet: complete-tasks and claim-tasks read this instead of the inbox stream.
  fields[#fields + 1] = 'lastSteerId'
  fields[#fields + 1] = '0-0'
  redis.call('HSET', KEYS[11 + index], unpack(fields))
  add_event(KEYS[11 + count + index], request.maxEvents, 'status-change', now, 'queued')
  queued[index] = {kind = 'queued', taskId = task_id, sessionKey = request.sessionKey}
end
-- The batch's signals in one message (TaskSignals takes a list as well as a single signal).
redis.call('PUBLISH', request.channel, cjson.encode(queued))
-- One call per set for the whole batch: each redis.call has a cost of its own.
redis.call('SADD', KEYS[1], unpack(ids))
for key_index = 8, 11 do redis.call('SADD', KEYS[key_index], unpack(ids)) end
redis.call('ZADD', KEYS[2], unpack(scored))
redis.call('ZADD', KEYS[6], unpack(scored))
redis.call('ZADD', KEYS[7], unpack(scored))
if KEYS[4] ~= '' then
  redis.call('SADD', KEYS[4], unpack(ids))
  -- Marks that the parent has a children set, so that the parent's end expires it only then (complete-tasks).
  redis.call('HSET', KEYS[3], 'hasChildren', '1')
end
if KEYS[5] ~= '' then redis.call('SET', KEYS[5], cjson.encode(ids), 'EX', request.idempotencySeconds) end
return {'ok', tostring(active + count)}
