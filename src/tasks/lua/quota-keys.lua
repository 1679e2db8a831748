-- Helper: the quota sets (see RedisKeys.quota*) of a task: the active tasks of its person and its channel,
-- of the whole deployment, and the queued ones.
--
-- transition-task (cancel, time-outs, failures) is called with the task id alone, so it finds the person's
-- and the channel's sets from the origin stored in the task hash. These two keys are therefore built here
-- and not declared in KEYS: declaring them would cost every such caller a read of the record first.
-- (complete-task's runner holds the record from its claim, and declares them.) Fine on a standalone Redis
-- (what Baton runs on); on Redis Cluster they would need a hash tag shared with the task. Names must match
-- RedisKeys.quotaUserActive / quotaChannelActive / quotaActive / quotaQueued.
local function quota_keys(prefix, origin)
  local platform = tostring(origin.platform or '')
  return prefix .. ':quota:user:' .. platform .. ':' .. tostring(origin.user or '') .. ':active',
    prefix .. ':quota:channel:' .. platform .. ':' .. tostring(origin.channel or '') .. ':active',
    prefix .. ':quota:active', prefix .. ':quota:queued'
end

-- An ending task leaves the active sets, and the queued one unless the caller knows it already left it
-- (`in_queued` false: a task that was claimed, as claim-task takes it out of that set).
local function release_quota(prefix, task_id, origin, in_queued)
  local user_key, channel_key, active_key, queued_key = quota_keys(prefix, origin)
  redis.call('SREM', user_key, task_id)
  redis.call('SREM', channel_key, task_id)
  redis.call('SREM', active_key, task_id)
  if in_queued then redis.call('SREM', queued_key, task_id) end
end
