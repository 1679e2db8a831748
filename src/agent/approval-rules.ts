import type { BatonConfig } from '../config/schema.ts';
import type { Tool } from '../tools/tool.ts';

/**
 * Which tool calls need a person's approval before they run: tools named in approvals.required_for (for
 * `terminal` with tools.terminal.approve_patterns, only commands matching one), and MCP tools listed under
 * their server's `approval`. The patterns are compiled once (the config checked them when it loaded).
 */
export class ApprovalRules {
  private readonly requiredFor: ReadonlySet<string>;
  private readonly terminalPatterns: RegExp[];

  constructor(config: Pick<BatonConfig, 'approvals' | 'tools'>) {
    this.requiredFor = new Set(config.approvals.required_for);
    this.terminalPatterns = config.tools.terminal.approve_patterns.map((source) => new RegExp(source));
  }

  /** Whether this call (its validated arguments) must wait for a person's approval. */
  needsApproval(tool: Tool, input: unknown): boolean {
    if (tool.needsApproval === true) return true;
    if (!this.requiredFor.has(tool.name)) return false;
    if (tool.name === 'terminal' && this.terminalPatterns.length > 0) {
      const command = (input as { command?: unknown } | null)?.command;
      return typeof command === 'string' && this.terminalPatterns.some((pattern) => pattern.test(command));
    }
    return true;
  }
}
