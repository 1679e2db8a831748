--[[
  Moves a session on: drops the finished head turn (when ARGV[3] is '1'), then returns the next turn, or
  releases the session when its turn list is empty, all only while this process still holds the session.
  One script for both, so a turn pushed while the holder was finishing is never stranded, and each turn
  costs one round trip.

  KEYS[1] the session's turn lock
  KEYS[2] the session's turn list
  KEYS[3] pending sessions set
  ARGV[1] holder token
  ARGV[2] session key
  ARGV[3] drop the head first: '1' or '0'

  Returns {'lost'} (the lock is not ours), {'released'} or {'next', turn}.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'lost'} end
if ARGV[3] == '1' then redis.call('LPOP', KEYS[2]) end
local head = redis.call('LINDEX', KEYS[2], 0)
if head then return {'next', head} end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[2])
return {'released'}
