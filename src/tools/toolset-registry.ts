import { BatonError } from '../errors.ts';
import type { Tool } from './tool.ts';

/**
 * The toolsets children draw their tools from, by name. A toolset's tools are created once, when first
 * resolved, and shared by every run: a child does not rebuild them (nor their HTTP agents and schemas).
 */
export class ToolsetRegistry {
  private readonly toolsets = new Map<string, () => Tool[]>();

  register(name: string, createTools: () => Tool[]): void {
    let tools: Tool[] | undefined;
    this.toolsets.set(name, () => {
      tools ??= createTools();
      return tools;
    });
  }

  has(name: string): boolean {
    return this.toolsets.has(name);
  }

  names(): string[] {
    return [...this.toolsets.keys()];
  }

  /** Refuses unknown names with the list of known ones, so the model can correct itself. */
  validate(names: string[]): void {
    const unknown = names.filter((name) => !this.toolsets.has(name));
    if (unknown.length > 0) {
      throw new BatonError(
        'unknown_toolset',
        `unknown toolset(s): ${unknown.join(', ')}; available: ${this.names().join(', ') || 'none'}`,
        { fault: 'model' },
      );
    }
  }

  /** The tools of the named toolsets, each tool once. */
  resolve(names: string[]): Tool[] {
    this.validate(names);
    const byName = new Map<string, Tool>();
    for (const name of names) for (const tool of this.toolsets.get(name)!()) byName.set(tool.name, tool);
    return [...byName.values()];
  }
}
