import type { Hono } from 'hono';
import { taskIdPattern } from '../../src/gateway/chat-adapter.ts';
import { parseUnifiedDiff } from '../../src/tools/workspace/parse-diff.ts';
import type { WorkspaceStore } from '../../src/tools/workspace/workspace-store.ts';

/** `GET /api/tasks/:id/diff`: a task's workspace change as files and hunks (the detail panel's diff view). */
export function consoleDiffRoute(workspaces: WorkspaceStore) {
  return (app: Hono) => {
    app.get('/api/tasks/:id/diff', async (context) => {
      const taskId = context.req.param('id');
      if (!taskIdPattern.test(taskId)) return context.json({ error: 'no such task' }, 404);
      const diff = await workspaces.diff(taskId);
      return context.json({ files: diff === null ? null : parseUnifiedDiff(diff) });
    });
  };
}
