--[[
  Lets go of a session's turn lock only (turns stay queued): on shutdown with turns still waiting, so
  another process may take the session at once.

  KEYS[1] the session's turn lock
  ARGV[1] holder token

  Returns 1.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
