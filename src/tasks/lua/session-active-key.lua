-- Helper: the session's set of active tasks, found from the session key stored in the task hash.
-- transition-task is called with the task id alone (see quota-keys for why), so this key is built here
-- rather than declared in KEYS. Must match RedisKeys.sessionActive.
local function session_active_key(prefix, session_key)
  return prefix .. ':session:' .. (session_key or '') .. ':active'
end
