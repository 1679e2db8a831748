-- Helper: top-level tasks (started by a parent agent) are announced in their thread: their ending is
-- recorded durably in the same script that ends them, so a crash can never lose a delivery (the outbox
-- the gateway's delivery reads). `round` (the task's `followUpRound` field; false or nil before any reopen) tells a
-- reopened task's later results apart from its first.
local function record_ending(endings_key, task_id, status, parent_task_id, round)
  if parent_task_id == '' and round then
    redis.call('XADD', endings_key, 'MAXLEN', '~', 100000, '*', 'taskId', task_id, 'status', status,
      'followUpRound', round)
  elseif parent_task_id == '' then
    redis.call('XADD', endings_key, 'MAXLEN', '~', 100000, '*', 'taskId', task_id, 'status', status)
  end
end
