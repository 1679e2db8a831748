import { type FakeOpenAIServer, textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { eventually } from './baton-harness.ts';
import { botTexts, createConsoleThread, postConsoleMessage } from './console-client.ts';
import { goalOf, messagesOf, toolResultsOf } from './model-scripts.ts';

/*
 * A parent that starts many children at once in a console thread, and how to count their posted results:
 * the fault tests (Redis restarted, unreachable, failed over) run it across real processes.
 */

/** Config overrides that let one thread run `count` children at once. */
export function manyChildrenLimits(count: number) {
  return {
    delegation: { max_concurrent_children: count * 2 },
    quotas: { max_active_tasks_per_user: count * 2, max_active_tasks_per_channel: count * 2 },
    worker: { concurrency: count },
  };
}

/** The parent starts `count` children (`child 0`, …) at once; each answers "result of child N." after 0.5–4 s. */
export function scriptManyChildren(fake: FakeOpenAIServer, count: number): void {
  const goals = Array.from({ length: count }, (_, index) => `child ${index}`);
  fake.setHandler(async (request) => {
    const goal = goalOf(request);
    if (goal !== null) {
      await new Promise((resolve) => setTimeout(resolve, 500 + Math.random() * 3500));
      return textReply(`result of ${goal}.`);
    }
    return messagesOf(request).at(-1)?.role === 'tool'
      ? textReply(`Started ${count} tasks.`)
      : toolCallReply(goals.map((child) => ({ name: 'delegate_task_async', arguments: { goal: child } })));
  });
}

/** Opens a console thread and asks the parent there to start the children. */
export async function startManyChildren(fake: FakeOpenAIServer, consoleUrl: string, count: number) {
  scriptManyChildren(fake, count);
  const thread = await createConsoleThread(consoleUrl, `${count} children`);
  await postConsoleMessage(consoleUrl, thread, `start ${count} things`);
  return thread;
}

/** How many times each child's result was posted in the thread. */
export async function postedCounts(consoleUrl: string, thread: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const text of await botTexts(consoleUrl, thread)) {
    for (const [, goal] of text.matchAll(/result of (child \d+)\./g))
      counts.set(goal!, (counts.get(goal!) ?? 0) + 1);
  }
  return counts;
}

/** What the thread and the model saw, for a failure's message. */
export async function describeRun(
  fake: FakeOpenAIServer,
  consoleUrl: string,
  thread: string,
): Promise<string> {
  const texts = await botTexts(consoleUrl, thread).catch((error: unknown) => [String(error)]);
  const childCalls = fake.requests.filter((request) => goalOf(request) !== null).length;
  const lastParent = fake.requests.filter((request) => goalOf(request) === null).at(-1);
  const toolResults = lastParent ? JSON.stringify(toolResultsOf(lastParent)).slice(0, 600) : 'none';
  return (
    `${childCalls} child model calls (of ${fake.requests.length}); parent's tool results: ${toolResults}; ` +
    `thread:\n${texts.map((text) => text.slice(0, 300)).join('\n')}`
  );
}

/** Waits until at least `count` results are posted (so the fault strikes mid-run). */
export async function waitForResults(
  fake: FakeOpenAIServer,
  consoleUrl: string,
  thread: string,
  count: number,
  timeoutMs = 120_000,
): Promise<void> {
  try {
    await eventually(
      async () => ((await postedCounts(consoleUrl, thread)).size >= count ? true : undefined),
      timeoutMs,
      `${count} results`,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}: ${await describeRun(fake, consoleUrl, thread)}`);
  }
}
