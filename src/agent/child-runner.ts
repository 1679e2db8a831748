import { RunStopped, type StopReason } from '../tasks/run-stopped.ts';
import type { ClaimResult } from '../tasks/task-store.ts';
import { ChildRun, type ChildRunnerDependencies, type ChildRunResult, stepStartText } from './child-run.ts';

/**
 * Runs (or resumes) one child task to its end: claims it, then hands it to a ChildRun whose signal aborts on
 * a cancel, on the wall-clock limit and on shutdown. `jobSignal` is the BullMQ job's signal: it aborts on
 * shutdown. `isDraining` says the worker is shutting down, so the child stops at its next step boundary.
 */
export async function runChildTask(
  dependencies: ChildRunnerDependencies,
  taskId: string,
  runnerToken: string,
  jobSignal: AbortSignal | undefined,
  isDraining: () => boolean,
): Promise<ChildRunResult> {
  const { store, signals, config, logger } = dependencies;
  await signals.start();
  const controller = new AbortController();
  const stop = (reason: StopReason) => {
    if (!controller.signal.aborted) controller.abort(new RunStopped(reason));
  };
  // Listening before the claim, on the process's one subscription (already confirmed by start()): a cancel
  // written before the claim makes the claim refuse, and one written after it is published after it, so
  // it reaches this listener. No read of the task is needed in between.
  const unsubscribe = signals.onTask(taskId, (signal) => {
    if (signal.kind === 'cancel') stop('cancel');
  });
  let claim: ClaimResult;
  try {
    claim = await store.claim(taskId, runnerToken, { firstStepEvent: stepStartText(1) });
  } catch (error) {
    unsubscribe();
    throw error;
  }
  if (claim.outcome !== 'ok') {
    unsubscribe();
    return { kind: 'not-runnable', reason: `${claim.outcome} ${claim.previous ?? ''}` };
  }
  const { record } = claim;
  const onJobAbort = () => stop('shutdown');
  jobSignal?.addEventListener('abort', onJobAbort, { once: true });
  const remainingMs =
    config.delegation.child_timeout_s * 1000 - (Date.now() - (record.startedAt ?? Date.now()));
  const wallClock = setTimeout(() => stop('timeout'), Math.max(0, remainingMs));
  try {
    if (jobSignal?.aborted) stop('shutdown');
    const run = new ChildRun(dependencies, claim, {
      runnerToken,
      signal: controller.signal,
      isDraining,
      logger: logger.child({ taskId, attempt: record.attempts }),
    });
    return await run.run();
  } finally {
    clearTimeout(wallClock);
    unsubscribe();
    jobSignal?.removeEventListener('abort', onJobAbort);
  }
}
