--[[
  Marks that the runner holding a task has stopped (its processor returned).

  Input:
    KEYS[1] task hash

    ARGV[1] runner token
    ARGV[2] now (ms)
    ARGV[3] signal channel

  Output: {outcome}: ok, lost (another runner holds it, or none).
  Signals: `stopped`.
]]
--- @include "announce-stopped"

local current = redis.call('HMGET', KEYS[1], 'runnerToken', 'id')
if current[1] ~= ARGV[1] then return {'lost'} end
redis.call('HSET', KEYS[1], 'runnerToken', '', 'stoppedAt', ARGV[2])
announce_stopped(ARGV[3], current[2])
return {'ok'}
