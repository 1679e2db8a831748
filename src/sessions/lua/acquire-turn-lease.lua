--[[
  Takes (or renews) a lease on one of a person's turn slots. Leases are members of a sorted set scored by
  their expiry, so a gateway that dies mid-turn frees its lease when it lapses; a replayed turn (same id)
  renews the lease it already had instead of taking a second one.

  KEYS[1] the person's turn set
  ARGV[1] turn id
  ARGV[2] now (ms)
  ARGV[3] lease (ms)
  ARGV[4] most turns at once

  Returns {'ok'} or {'over', count}.
]]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local expiry = tonumber(ARGV[2]) + tonumber(ARGV[3])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local count = redis.call('ZCARD', KEYS[1])
  if count >= tonumber(ARGV[4]) then return {'over', tostring(count)} end
end
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'ok'}
