--[[
  Appends entries to a thread's history once per (record key, field): a retried delivery or a replayed
  turn must not add the same messages twice. The check and the append are one atomic script.

  KEYS[1] history list
  KEYS[2] record hash (a turn record or a delivery's progress)
  ARGV[1] record field marking the append
  ARGV[2] most entries kept
  ARGV[3] history TTL (seconds)
  ARGV[4] record TTL (seconds)
  ARGV[5..] entries (JSON)

  Returns 1 when appended, 0 when this record had appended already.
]]
if redis.call('HSETNX', KEYS[2], ARGV[1], '1') == 0 then return 0 end
redis.call('EXPIRE', KEYS[2], ARGV[4])
for index = 5, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[index]) end
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
