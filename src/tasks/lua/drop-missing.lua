--[[
  Drops from one index the given tasks whose record is gone (the session and channel indexes of tasks
  that expired before the expiry schedule existed).

  Input:
    KEYS[1] an index
    KEYS[1 + i] hash of the i-th task

    ARGV[i] id of the i-th task

  Output: how many it dropped.
]]
local dropped = 0
for index = 1, #ARGV do
  if redis.call('EXISTS', KEYS[index + 1]) == 0 then
    redis.call('ZREM', KEYS[1], ARGV[index])
    dropped = dropped + 1
  end
end
return dropped
