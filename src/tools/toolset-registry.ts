import { BatonError, describeError } from '../errors.ts';
import type { Tool } from './tool.ts';

/** A toolset whose tools are known only once something answers: an MCP server's, listed when it starts. */
export type LoadTools = (signal?: AbortSignal) => Promise<Tool[]>;

type Toolset = { kind: 'built'; tools: () => Tool[] } | { kind: 'loaded'; load: LoadTools };

/** A toolset a run could not get, and why; the run goes on without it. */
export interface UnavailableToolset {
  toolset: string;
  reason: string;
}

/**
 * The toolsets children draw their tools from, by name. A built toolset's tools are created once, when
 * first resolved, and shared by every run: a child does not rebuild them (nor their HTTP agents and
 * schemas). A loaded toolset (an MCP server's) is asked for its tools each run, and caches them itself.
 */
export class ToolsetRegistry {
  private readonly toolsets = new Map<string, Toolset>();

  register(name: string, createTools: () => Tool[]): void {
    let tools: Tool[] | undefined;
    this.toolsets.set(name, {
      kind: 'built',
      tools: () => {
        tools ??= createTools();
        return tools;
      },
    });
  }

  registerLoaded(name: string, load: LoadTools): void {
    this.toolsets.set(name, { kind: 'loaded', load });
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

  /** The tools of the named built toolsets, each tool once; a loaded toolset needs resolveForRun. */
  resolve(names: string[]): Tool[] {
    this.validate(names);
    const byName = new Map<string, Tool>();
    for (const name of names) {
      const toolset = this.toolsets.get(name)!;
      if (toolset.kind === 'loaded') throw new Error(`toolset ${name} is loaded: use resolveForRun`);
      for (const tool of toolset.tools()) byName.set(tool.name, tool);
    }
    return [...byName.values()];
  }

  /**
   * The tools of the named toolsets for one run, loaded ones included. A loaded toolset that cannot be
   * had (its server does not start) is left out and reported, so the run goes on with the rest. Runs that
   * name no loaded toolset never wait for one.
   */
  async resolveForRun(
    names: string[],
    signal?: AbortSignal,
  ): Promise<{ tools: Tool[]; unavailable: UnavailableToolset[] }> {
    this.validate(names);
    const unavailable: UnavailableToolset[] = [];
    const lists = await Promise.all(
      names.map(async (name) => {
        const toolset = this.toolsets.get(name)!;
        if (toolset.kind === 'built') return toolset.tools();
        try {
          return await toolset.load(signal);
        } catch (error) {
          if (signal?.aborted) throw signal.reason ?? error;
          unavailable.push({ toolset: name, reason: describeError(error) });
          return [];
        }
      }),
    );
    const byName = new Map<string, Tool>();
    for (const tools of lists) for (const tool of tools) byName.set(tool.name, tool);
    return { tools: [...byName.values()], unavailable };
  }
}
