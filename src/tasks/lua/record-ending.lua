-- Helper: top-level tasks (started by a parent agent) are announced in their thread: their ending is
-- recorded durably in the same script that ends them, so a crash can never lose a delivery (the outbox
-- the gateway's delivery reads).
local function record_ending(endings_key, task_id, status, parent_task_id)
  if parent_task_id == '' then
    redis.call('XADD', endings_key, 'MAXLEN', '~', 100000, '*', 'taskId', task_id, 'status', status)
  end
end
