import type { Hono } from 'hono';
import { taskIdPattern } from '../../src/gateway/chat-adapter.ts';
import type { ConsoleReads } from '../../src/gateway/console-reads.ts';

/** `GET /api/tasks/:id/diff`: a task's workspace change as files and hunks (the detail panel's diff view). */
export function consoleDiffRoute(reads: Pick<ConsoleReads, 'taskDiff'>) {
  return (app: Hono) => {
    app.get('/api/tasks/:id/diff', async (context) => {
      const taskId = context.req.param('id');
      if (!taskIdPattern.test(taskId)) return context.json({ error: 'no such task' }, 404);
      return context.json({ files: await reads.taskDiff(taskId) });
    });
  };
}
