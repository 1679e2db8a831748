--[[
  Adds one model call's usage to the day's hash of every scope it counts under (person, channel, route,
  all, and its task), and lists the scopes in the day's index; all or none, from any process. Each hash is
  read once and written once (HMGET + HSET: two commands, against five HINCRBY[FLOAT] for its five
  amounts), and a hash is given its expiry only when this call created it. The index is created by the
  day's first call, with the 'all' hash (every call counts under 'all'), and expires with it.

  Input:
    KEYS[1]      the day's index of scopes
    KEYS[1 + i]  the day's hash of the i-th scope; the first one is the 'all' scope

    ARGV[1]      seconds the hashes and the index are kept
    ARGV[2..6]   input, cached, output tokens, cost, calls
    ARGV[6 + i]  name of the i-th scope (as listed in the index)

  Output: 1
]]
local keep = ARGV[1]
local added = {tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])}
local names = {}
local first_of_day = false
for index = 2, #KEYS do
  local key = KEYS[index]
  local found = redis.call('HMGET', key, 'input', 'cached', 'output', 'cost', 'calls')
  local new = true
  for field = 1, 5 do
    if found[field] then new = false end
  end
  local sums = {}
  for field = 1, 5 do sums[field] = (tonumber(found[field]) or 0) + added[field] end
  -- Whole numbers printed whole (tostring would switch to an exponent past 14 digits); the cost with 17
  -- significant digits, as HINCRBYFLOAT would keep it.
  redis.call('HSET', key, 'input', string.format('%d', sums[1]), 'cached', string.format('%d', sums[2]),
    'output', string.format('%d', sums[3]), 'cost', string.format('%.17g', sums[4]),
    'calls', string.format('%d', sums[5]))
  if new then
    redis.call('EXPIRE', key, keep)
    if index == 2 then first_of_day = true end
  end
  names[#names + 1] = ARGV[5 + index]
end
redis.call('SADD', KEYS[1], unpack(names))
if first_of_day then redis.call('EXPIRE', KEYS[1], keep) end
return 1
