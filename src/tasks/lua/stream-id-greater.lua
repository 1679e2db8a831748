-- Helper: compares two stream ids "ms-seq"; true when a is greater than b.
local function stream_id_greater(a, b)
  local a_ms, a_seq = string.match(a, '(%d+)-(%d+)')
  local b_ms, b_seq = string.match(b, '(%d+)-(%d+)')
  a_ms, a_seq, b_ms, b_seq = tonumber(a_ms), tonumber(a_seq), tonumber(b_ms), tonumber(b_seq)
  if a_ms ~= b_ms then return a_ms > b_ms end
  return a_seq > b_seq
end
