/**
 * Lua scripts that make every task state change atomic in Redis, whichever process runs them.
 * Each returns a short status string the caller maps to an outcome; none throws for expected refusals.
 */

import { scheduleExpiry } from './retention-scripts.ts';

// Compares two stream ids "ms-seq"; true when a is greater than b.
const streamIdGreater = `
local function stream_id_greater(a, b)
  local a_ms, a_seq = string.match(a, '(%d+)-(%d+)')
  local b_ms, b_seq = string.match(b, '(%d+)-(%d+)')
  a_ms, a_seq, b_ms, b_seq = tonumber(a_ms), tonumber(a_seq), tonumber(b_ms), tonumber(b_seq)
  if a_ms ~= b_ms then return a_ms > b_ms end
  return a_seq > b_seq
end
`;

const addEvent = `
local function add_event(events_key, max_events, event_type, at, text)
  redis.call('XADD', events_key, 'MAXLEN', '~', max_events, '*', 'type', event_type, 'at', at, 'text', text)
end
`;

// Top-level tasks (started by a parent agent) are announced in their thread: record their ending durably
// in the same script that ends them, so a crash can never lose a delivery.
const recordEnding = `
local function record_ending(endings_key, task_id, status, parent_task_id)
  if parent_task_id == '' then
    redis.call('XADD', endings_key, 'MAXLEN', '~', 100000, '*', 'taskId', task_id, 'status', status)
  end
end
`;

// Quota sets (see RedisKeys.quota*): the active tasks of each person and each channel, of the whole
// deployment, and the queued ones. Built from the task's origin like session_active_key, so every script
// that admits or ends a task keeps them exact without the caller naming them.
const quotaKeys = `
local function quota_keys(prefix, origin_json)
  local origin = cjson.decode(origin_json or '{}')
  local platform = tostring(origin.platform or '')
  return prefix .. ':quota:user:' .. platform .. ':' .. tostring(origin.user or '') .. ':active',
    prefix .. ':quota:channel:' .. platform .. ':' .. tostring(origin.channel or '') .. ':active',
    prefix .. ':quota:active', prefix .. ':quota:queued'
end
local function release_quota(prefix, task_id, origin_json)
  local user_key, channel_key, active_key, queued_key = quota_keys(prefix, origin_json)
  redis.call('SREM', user_key, task_id)
  redis.call('SREM', channel_key, task_id)
  redis.call('SREM', active_key, task_id)
  redis.call('SREM', queued_key, task_id)
end
`;

/**
 * Admits a batch of new tasks for one session, or none. A repeated dispatch (same idempotency key, e.g. a
 * tool call replayed after a crash) returns the tasks of the first one instead of starting new ones.
 * KEYS: session active set, session task index, parent task hash (or ''), parent children set (or ''),
 *       idempotency key (or ''), channel task index, global task index, then one task hash key per task.
 * ARGV: max active, now, idempotency TTL in seconds, JSON array of flat field lists (one per task),
 *       key prefix (for each task's event stream), max events, signal channel, session key, quotas as JSON
 *       {origin (JSON), user, channel, total, queued} (limits; 0 = none), then the task ids in the order
 *       of the records.
 * Outcomes: ok, existing, over_limit (session), over_user, over_channel, over_total, over_queued (each
 * with the count found), parent_not_running, id_taken. Nothing is written unless all limits hold.
 */
export const admitTasksScript = `
${addEvent}
${quotaKeys}
local max_active = tonumber(ARGV[1])
local now = ARGV[2]
local records = cjson.decode(ARGV[4])
if KEYS[5] ~= '' then
  local existing = redis.call('GET', KEYS[5])
  if existing then return {'existing', existing} end
end
local active = redis.call('SCARD', KEYS[1])
if active + #records > max_active then
  return {'over_limit', tostring(active)}
end
local quota = cjson.decode(ARGV[9])
local user_key, channel_key, all_active_key, queued_key = quota_keys(ARGV[5], quota.origin)
for _, check in ipairs({{'over_user', user_key, quota.user}, {'over_channel', channel_key, quota.channel},
    {'over_total', all_active_key, quota.total}, {'over_queued', queued_key, quota.queued}}) do
  local limit = tonumber(check[3]) or 0
  if limit > 0 then
    local count = redis.call('SCARD', check[2])
    if count + #records > limit then return {check[1], tostring(count)} end
  end
end
if KEYS[3] ~= '' then
  local parent_status = redis.call('HGET', KEYS[3], 'status')
  if parent_status ~= 'running' then
    return {'parent_not_running', tostring(parent_status)}
  end
end
for index = 1, #records do
  if redis.call('EXISTS', KEYS[7 + index]) == 1 then
    return {'id_taken', tostring(index)}
  end
end
local ids = {}
local scored = {}
for index = 1, #records do
  local task_id = ARGV[9 + index]
  ids[index] = task_id
  scored[2 * index - 1] = now
  scored[2 * index] = task_id
  redis.call('HSET', KEYS[7 + index], unpack(records[index]))
  add_event(ARGV[5] .. ':task:' .. task_id .. ':events', ARGV[6], 'status-change', now, 'queued')
  redis.call('PUBLISH', ARGV[7], cjson.encode({kind = 'queued', taskId = task_id, sessionKey = ARGV[8]}))
end
-- One call per set for the whole batch: each redis.call has a cost of its own.
redis.call('SADD', KEYS[1], unpack(ids))
for _, key in ipairs({user_key, channel_key, all_active_key, queued_key}) do redis.call('SADD', key, unpack(ids)) end
redis.call('ZADD', KEYS[2], unpack(scored))
redis.call('ZADD', KEYS[6], unpack(scored))
redis.call('ZADD', KEYS[7], unpack(scored))
if KEYS[4] ~= '' then redis.call('SADD', KEYS[4], unpack(ids)) end
if KEYS[5] ~= '' then redis.call('SET', KEYS[5], cjson.encode(ids), 'EX', ARGV[3]) end
return {'ok', tostring(active + #records)}
`;

// A finished task keeps its record, events, inbox and full summary for the retention period, then they
// expire; its checkpoint (the whole conversation, the largest thing a task holds) is no longer needed.
// The indexes that list it cannot expire an entry: it goes on the expiry schedule the retention sweeper
// reads (retention-scripts.ts). Key names must match RedisKeys.task*.
const retireTask = `
${scheduleExpiry}
local function retire_task(prefix, task_id, seconds, now)
  local base = prefix .. ':task:' .. task_id
  redis.call('DEL', base .. ':checkpoint')
  for _, suffix in ipairs({'', ':events', ':inbox', ':summary', ':children'}) do
    redis.call('EXPIRE', base .. suffix, seconds)
  end
  schedule_expiry(prefix, task_id, tonumber(now) + tonumber(seconds) * 1000)
end
`;

// The scripts that end a task find the session's active set from the hash, which saves every caller a
// round trip for the session key. That key is not declared in KEYS, which is fine on a standalone Redis
// (what Baton runs on; admitTasksScript already builds event-stream keys the same way) but not on Redis
// Cluster. It must match RedisKeys.sessionActive.
const sessionActiveKey = `
local function session_active_key(prefix, session_key)
  return prefix .. ':session:' .. (session_key or '') .. ':active'
end
`;

// A runner that ends its task is done with it: clearing its token (runnerToken '', stoppedAt) in that
// same script spares it a separate release. `stopped` wakes waitForTasksToStop (cancel_task); a script
// that also publishes the task's `ended` signal needs no `stopped`: the waiter wakes on both, and as
// scripts are atomic, its next read sees the token cleared.
const announceStopped = `
local function announce_stopped(channel, task_id)
  redis.call('PUBLISH', channel, cjson.encode({kind = 'stopped', taskId = task_id}))
end
`;

/**
 * Moves a task to a new status if its current status is one of the allowed ones. With a runner token and
 * the release flag, the runner also lets go of the task (as releaseScript) whether the move is made or
 * refused (a cancel that got there first), as long as it still holds the token; the reply's third item
 * says whether it did.
 * KEYS: task hash, events stream, task endings stream.
 * ARGV: allowed statuses (comma separated), new status, now, max events, event text, signal channel,
 *       runner token required ('' = any), release ('1' or ''), key prefix, retention in seconds, then
 *       field/value pairs to set.
 */
export const transitionScript = `
${addEvent}
${recordEnding}
${retireTask}
${sessionActiveKey}
${announceStopped}
${quotaKeys}
local current = redis.call('HMGET', KEYS[1], 'status', 'runnerToken', 'id', 'sessionKey', 'parentTaskId', 'origin')
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
for index = 11, #ARGV do fields[#fields + 1] = ARGV[index] end
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
if terminal then
  redis.call('SREM', session_active_key(ARGV[9], current[4]), task_id)
  release_quota(ARGV[9], task_id, current[6])
end
add_event(KEYS[2], ARGV[4], 'status-change', ARGV[3], status .. ' -> ' .. new_status .. ARGV[5])
if terminal then
  record_ending(KEYS[3], task_id, new_status, current[5])
  retire_task(ARGV[9], task_id, ARGV[10], ARGV[3])
  redis.call('PUBLISH', ARGV[6], cjson.encode({kind = 'ended', taskId = task_id, status = new_status}))
elseif release then
  announce_stopped(ARGV[6], task_id)
end
return {'ok', status, release and '1' or ''}
`;

/**
 * A worker takes a task: queued becomes running; a running task whose worker died is taken over.
 * Replies with what the runner needs to start, so it reads nothing else first: the status found, the
 * previous runner's token, the inbox length, the task hash (after the claim) as a JSON object (one string
 * is much cheaper for the client to decode than a list of fields), and '1' when
 * it recorded the first step's start. It does that for a task claimed from 'queued' with an empty inbox,
 * given the event's text: such a run goes straight to its first model call, so this saves it a write.
 * KEYS: task hash, events stream, inbox stream, queued-tasks quota set (or '').
 * ARGV: runner token, now, max events, first step's text.
 */
export const claimScript = `
${addEvent}
local current = redis.call('HMGET', KEYS[1], 'status', 'runnerToken', 'startedAt', 'attempts', 'stoppedAt')
local status = current[1]
if not status then return {'missing'} end
if status ~= 'queued' and status ~= 'running' then return {'finished', status} end
local attempts = tostring((tonumber(current[4]) or 0) + 1)
if current[3] == '' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'runnerToken', ARGV[1], 'attempts', attempts, 'startedAt', ARGV[2])
else
  redis.call('HSET', KEYS[1], 'status', 'running', 'runnerToken', ARGV[1], 'attempts', attempts)
end
if current[5] then redis.call('HDEL', KEYS[1], 'stoppedAt') end
if KEYS[4] and KEYS[4] ~= '' then redis.call('SREM', KEYS[4], redis.call('HGET', KEYS[1], 'id')) end
local inbox_length = redis.call('XLEN', KEYS[3])
local first_step = ''
if status == 'queued' then
  add_event(KEYS[2], ARGV[3], 'status-change', ARGV[2], 'queued -> running')
  if ARGV[4] ~= '' and inbox_length == 0 then
    add_event(KEYS[2], ARGV[3], 'step-start', ARGV[2], ARGV[4])
    first_step = '1'
  end
else
  add_event(KEYS[2], ARGV[3], 'note', ARGV[2], 'resumed on another worker from the last checkpoint')
end
local hash = {}
local pairs_list = redis.call('HGETALL', KEYS[1])
for index = 1, #pairs_list, 2 do hash[pairs_list[index]] = pairs_list[index + 1] end
return {'ok', status, current[2] or '', inbox_length, cjson.encode(hash), first_step}
`;

/**
 * Saves the child's conversation after a finished step, only while this runner still owns the task.
 * KEYS: task hash, checkpoint key.  ARGV: runner token, checkpoint JSON, steps, usage JSON.
 */
export const checkpointScript = `
local current = redis.call('HMGET', KEYS[1], 'status', 'runnerToken')
local status = current[1]
if status ~= 'running' then return {'refused', tostring(status)} end
if current[2] ~= ARGV[1] then return {'lost', status} end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'steps', ARGV[3], 'usage', ARGV[4])
return {'ok', status}
`;

/**
 * Ends a running task as completed, unless a steer arrived that the child has not read yet. The runner
 * is done with the task once it is completed, so this also releases it: its token is cleared, and the
 * `ended` signal stands for `stopped` (see announceStopped).
 * KEYS: task hash, events stream, inbox stream, full summary key, task endings stream.
 * ARGV: runner token, inbox cursor, now, max events, signal channel, summary, full text, steps, usage JSON,
 *       key prefix, retention in seconds.
 */
export const completeScript = `
${streamIdGreater}
${addEvent}
${recordEnding}
${retireTask}
${sessionActiveKey}
${quotaKeys}
local current = redis.call('HMGET', KEYS[1], 'status', 'runnerToken', 'id', 'sessionKey', 'parentTaskId', 'origin')
local status, task_id = current[1], current[3]
if status ~= 'running' then return {'refused', tostring(status)} end
if current[2] ~= ARGV[1] then return {'lost', status} end
local newest = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if #newest > 0 and stream_id_greater(newest[1][1], ARGV[2]) then return {'pending_steer', status} end
redis.call('HSET', KEYS[1], 'status', 'completed', 'endedAt', ARGV[3], 'summary', ARGV[6], 'steps', ARGV[8],
  'usage', ARGV[9], 'runnerToken', '', 'stoppedAt', ARGV[3])
-- The full text gets a key of its own only when the summary had to be cut (see TaskStore.fullSummary).
if ARGV[7] ~= ARGV[6] then redis.call('SET', KEYS[4], ARGV[7]) end
redis.call('SREM', session_active_key(ARGV[10], current[4]), task_id)
release_quota(ARGV[10], task_id, current[6])
add_event(KEYS[2], ARGV[4], 'status-change', ARGV[3], 'running -> completed')
record_ending(KEYS[5], task_id, 'completed', current[5])
retire_task(ARGV[10], task_id, ARGV[11], ARGV[3])
redis.call('PUBLISH', ARGV[5], cjson.encode({kind = 'ended', taskId = task_id, status = 'completed'}))
return {'ok', status}
`;

/**
 * Queues a steering message for a task that has not finished. With an idempotency key (a replayed
 * steer_task tool call), a second call returns the first message's id instead of queuing it again.
 * KEYS: task hash, inbox stream, events stream, idempotency key (or '').  ARGV: sender, text, now, max events, signal channel.
 */
export const steerScript = `
${addEvent}
if KEYS[4] ~= '' then
  local earlier = redis.call('GET', KEYS[4])
  if earlier then return {'ok', earlier} end
end
local current = redis.call('HMGET', KEYS[1], 'status', 'id')
local status, task_id = current[1], current[2]
if not status then return {'missing'} end
if status ~= 'queued' and status ~= 'running' then return {'refused', status} end
local message_id = redis.call('XADD', KEYS[2], '*', 'from', ARGV[1], 'text', ARGV[2], 'at', ARGV[3])
if KEYS[4] ~= '' then redis.call('SET', KEYS[4], message_id, 'EX', 604800) end
add_event(KEYS[3], ARGV[4], 'steer-queued', ARGV[3], 'from ' .. ARGV[1] .. ': ' .. string.sub(ARGV[2], 1, 200))
redis.call('PUBLISH', ARGV[5], cjson.encode({kind = 'steer', taskId = task_id, messageId = message_id}))
return {'ok', message_id}
`;

/**
 * Marks that the runner holding a task has stopped (its processor returned).
 * KEYS: task hash.  ARGV: runner token, now, signal channel.
 */
export const releaseScript = `
${announceStopped}
local current = redis.call('HMGET', KEYS[1], 'runnerToken', 'id')
if current[1] ~= ARGV[1] then return {'lost'} end
redis.call('HSET', KEYS[1], 'runnerToken', '', 'stoppedAt', ARGV[2])
announce_stopped(ARGV[3], current[2])
return {'ok'}
`;
