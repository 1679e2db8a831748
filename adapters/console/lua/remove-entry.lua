--[[
  Removes a transcript entry: its JSON from the entry hash and its id from the thread's order list.

  Input:
    KEYS[1] entry hash
    KEYS[2] entry order list

    ARGV[1] entry id

  Output: 1 when removed, 0 when the entry was already gone.
]]
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('LREM', KEYS[2], 0, ARGV[1])
return 1
