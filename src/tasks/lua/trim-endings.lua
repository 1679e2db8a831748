--[[
  Trims the stream of task endings to the retention period (an ending older than that points to a record
  that has expired), and deletes it when it is left empty with no consumer group (no gateway reads it).

  Input:
    KEYS[1] task endings stream

    ARGV[1] oldest id to keep ("ms-0")

  Output: how many entries it removed.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local trimmed = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
if redis.call('XLEN', KEYS[1]) == 0 and #redis.call('XINFO', 'GROUPS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
end
return trimmed
