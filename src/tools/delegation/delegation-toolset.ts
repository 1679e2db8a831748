import type { BatonConfig } from '../../config/schema.ts';
import type { TaskService } from '../../tasks/task-service.ts';
import type { Tool } from '../tool.ts';
import type { WorkspaceStore } from '../workspace/workspace-store.ts';
import { createCancelTaskTool, createMergeTaskTool, createSteerTaskTool } from './control-tools.ts';
import { createDelegateTaskAsyncTool, createDelegateTaskTool } from './dispatch-tools.ts';
import { createCheckTaskTool, createCollectTaskTool, createListTasksTool } from './inspection-tools.ts';

/** The seven delegation tools of the design, their descriptions stating the live limits. */
export function createDelegationTools(
  service: TaskService,
  config: BatonConfig,
  workspaces?: WorkspaceStore,
): Tool[] {
  const delegation = config.delegation;
  // A synchronous delegate_task waits as long as a child may run, plus a margin for queueing.
  const delegateWaitMs = (delegation.child_timeout_s + 120) * 1000;
  return [
    createDelegateTaskTool(service, delegateWaitMs),
    createDelegateTaskAsyncTool(service),
    createCheckTaskTool(service),
    createSteerTaskTool(service),
    createCollectTaskTool(service, delegation.collect_default_timeout_s, delegation.collect_max_timeout_s),
    createCancelTaskTool(service),
    createListTasksTool(service),
    // merge_task is offered where workspaces are configured: elsewhere there is nothing it could merge.
    ...(workspaces && Object.keys(config.workspaces).length > 0
      ? [createMergeTaskTool(service, workspaces)]
      : []),
  ];
}
