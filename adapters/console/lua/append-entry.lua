--[[
  Appends an entry to a console thread: its id to the thread's order list and its JSON to the entry hash,
  touches the thread index, gives an untitled thread the title offered, and trims the oldest entries past
  the cap. A thread idle for the retention period expires, as its parent session's history does.

  Input:
    KEYS[1] thread index
    KEYS[2] thread hash
    KEYS[3] entry order list
    KEYS[4] entry hash
    KEYS[5] idempotency key ('' for none)

    ARGV[1] thread id
    ARGV[2] entry id
    ARGV[3] entry JSON
    ARGV[4] now (ms)
    ARGV[5] most entries kept
    ARGV[6] title offered ('' for none)
    ARGV[7] default title of a new thread
    ARGV[8] retention in seconds
    ARGV[9] seconds an idempotency key is remembered

  Output: {'appended', the thread's fields as HGETALL's flat list}, or for a repeated idempotency key
    {'existing', earlier entry id, earlier entry JSON ('' once trimmed away)}.
]]
if KEYS[5] ~= '' then
  local earlier = redis.call('GET', KEYS[5])
  if earlier then return {'existing', earlier, redis.call('HGET', KEYS[4], earlier) or ''} end
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'id', ARGV[1], 'title', ARGV[7], 'createdAt', ARGV[4], 'autoTitle', '1')
end
-- New activity brings an archived thread back to the list.
redis.call('HSET', KEYS[2], 'updatedAt', ARGV[4], 'archived', '0')
if ARGV[6] ~= '' and redis.call('HGET', KEYS[2], 'autoTitle') == '1' then
  redis.call('HSET', KEYS[2], 'title', ARGV[6], 'autoTitle', '0')
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
local excess = redis.call('LLEN', KEYS[3]) - tonumber(ARGV[5])
while excess > 0 do
  local oldest = redis.call('LPOP', KEYS[3])
  redis.call('HDEL', KEYS[4], oldest)
  -- Counted, so the page can say that older messages are gone.
  redis.call('HINCRBY', KEYS[2], 'dropped', 1)
  excess = excess - 1
end
if KEYS[5] ~= '' then redis.call('SET', KEYS[5], ARGV[2], 'EX', ARGV[9]) end
for index = 2, 4 do redis.call('EXPIRE', KEYS[index], ARGV[8]) end
return {'appended', redis.call('HGETALL', KEYS[2])}
