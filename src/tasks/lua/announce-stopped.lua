-- Helper: a runner that ends its task is done with it: clearing its token (runnerToken '', stoppedAt) in
-- that same script spares it a separate release. `stopped` wakes waitForTasksToStop (cancel_task); a
-- script that also publishes the task's `ended` signal needs no `stopped`: the waiter wakes on both, and
-- as scripts are atomic, its next read sees the token cleared.
local function announce_stopped(channel, task_id)
  redis.call('PUBLISH', channel, cjson.encode({kind = 'stopped', taskId = task_id}))
end
