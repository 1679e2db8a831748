--[[
  Appends a turn to a session's pending turns and marks the session pending.

  KEYS[1] the session's turn list
  KEYS[2] pending sessions set
  ARGV[1] turn (JSON)
  ARGV[2] session key

  Returns the list's length after the push.
]]
local length = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return length
