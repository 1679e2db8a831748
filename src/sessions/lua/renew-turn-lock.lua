--[[
  Extends a session's turn lock while this process still holds it.

  KEYS[1] the session's turn lock
  ARGV[1] holder token
  ARGV[2] lease (ms)

  Returns 1 when renewed, 0 when the lock is not ours.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
