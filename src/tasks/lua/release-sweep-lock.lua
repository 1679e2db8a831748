--[[
  Lets go of the retention sweep's lock, only if this process still holds it.

  Input:
    KEYS[1] the sweep lock

    ARGV[1] this process's token

  Output: 1 when released, 0 when another process holds it (or nobody does).
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
