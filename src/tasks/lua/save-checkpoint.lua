--[[
  Saves the child's conversation after a finished step, only while this runner still owns the task. It
  also marks the hash `checkpointed`, so that complete-tasks deletes a checkpoint only when one exists.
  Given the usage of the model call that led here, it counts it first, whatever the outcome: the call was
  made (see add-usage).

  Input:
    KEYS[1] task hash
    KEYS[2] checkpoint
    KEYS[3..] the usage write's keys (the day's index, then its scope hashes); none when not given

    ARGV[1] runner token
    ARGV[2] checkpoint JSON
    ARGV[3] steps
    ARGV[4] usage JSON (the task's tokens so far)
    ARGV[5..] the usage write's arguments

  Output: {outcome, status found}: ok, refused (not running), lost (another runner holds it).
]]
--- @include "../../redis/lua/add-usage"

if #KEYS > 2 then add_usage({{keys = {unpack(KEYS, 3)}, args = {unpack(ARGV, 5)}}}) end
local current = redis.call('HMGET', KEYS[1], 'status', 'runnerToken')
local status = current[1]
if status ~= 'running' then return {'refused', tostring(status)} end
if current[2] ~= ARGV[1] then return {'lost', status} end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'steps', ARGV[3], 'usage', ARGV[4], 'checkpointed', '1')
return {'ok', status}
