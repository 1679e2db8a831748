--[[
  Replaces a transcript entry only while it still exists (it may have been trimmed away).

  Input:
    KEYS[1] entry hash

    ARGV[1] entry id
    ARGV[2] entry JSON

  Output: 1 when replaced, 0 when the entry is gone.
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
