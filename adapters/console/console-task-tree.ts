import type {
  ConsoleReads,
  TaskTreeSnapshot as GatewayTaskTreeSnapshot,
  TaskTreeNode,
  TaskTreeSession,
} from '../../src/gateway/console-reads.ts';
import type { ConsoleStore } from './console-store.ts';

export type { TaskTreeNode };

/** The tasks of one session (one chat thread on any platform), named as the console shows it. */
export interface ConsoleTaskTreeSession extends TaskTreeSession {
  /** The console thread's id when the session is a console thread. */
  consoleThreadId: string | null;
  /** The console thread's title; null for other platforms. */
  title: string | null;
}

/** The task tree of every session as the page draws it: the gateway's, with console threads named. */
export interface TaskTreeSnapshot extends Omit<GatewayTaskTreeSnapshot, 'sessions'> {
  sessions: ConsoleTaskTreeSession[];
}

/** Reads the tree through the console's read port and names the sessions that are console threads. */
export class TaskTreeReader {
  constructor(
    private readonly reads: ConsoleReads,
    private readonly consoleStore: ConsoleStore,
  ) {}

  async snapshot(): Promise<TaskTreeSnapshot> {
    const tree = await this.reads.taskTree();
    const consoleThreads = tree.sessions
      .filter((session) => session.origin.platform === 'console')
      .map((session) => session.origin.thread);
    const titles = await this.consoleStore.threadTitles([...new Set(consoleThreads)]);
    return {
      ...tree,
      sessions: tree.sessions.map((session) => {
        const isConsole = session.origin.platform === 'console';
        return {
          sessionKey: session.sessionKey,
          origin: session.origin,
          consoleThreadId: isConsole ? session.origin.thread : null,
          title: isConsole ? (titles.get(session.origin.thread) ?? null) : null,
          activeCount: session.activeCount,
          tasks: session.tasks,
        };
      }),
    };
  }
}
