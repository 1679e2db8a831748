import { z } from 'zod';
import { defineTool, type Tool } from '../tools/tool.ts';
import { demoProgressToolName } from './demo-replies.ts';

/** Name the offline demo registers its toolset under (`delegation.default_toolsets` of the demo config). */
export const demoToolsetName = 'demo';

/**
 * The `demo` toolset: `note_progress`, which the offline demo model's children call once a step so their
 * progress shows in task events and steering can land between steps. It has no effects.
 */
export function createDemoTools(): Tool[] {
  return [
    defineTool({
      name: demoProgressToolName,
      retrySafe: true,
      description:
        'Record a short note on your progress; people watching the task see it. Has no other effect.',
      inputSchema: z.object({
        note: z.string().trim().min(1).max(500).describe('What you did or are about to do, in one line.'),
      }),
      async execute() {
        return { ok: true };
      },
    }),
  ];
}
