--[[
  Turns the plain set the threads index used to be into the sorted set it is now, scoring every thread
  with the time of the migration (so each keeps a whole retention period). A no-op once migrated, so
  several processes may race to it.

  KEYS[1] threads index
  ARGV[1] now (ms)

  Returns how many threads it moved.
]]
if redis.call('TYPE', KEYS[1]).ok ~= 'set' then return 0 end
local members = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
for first = 1, #members, 500 do
  local scored = {}
  for index = first, math.min(first + 499, #members) do
    scored[#scored + 1] = ARGV[1]
    scored[#scored + 1] = members[index]
  end
  redis.call('ZADD', KEYS[1], unpack(scored))
end
return #members
