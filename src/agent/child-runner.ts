import { RunStopped, type StopReason } from '../tasks/run-stopped.ts';
import { isParked } from '../tasks/task-record.ts';
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
  round?: number,
): Promise<ChildRunResult> {
  const { store, signals, config, logger } = dependencies;
  await signals.start();
  // A resume job that finds its task still waiting came due by itself: nobody answered in time.
  if (round !== undefined) await expirePrompt(dependencies, taskId, round);
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
    claim = await store.claim(taskId, runnerToken, {
      firstStepEvent: stepStartText(1),
      ...(round === undefined ? {} : { round }),
    });
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
  // Time spent parked, waiting for a person, is not running time.
  const ranMs = Date.now() - (record.startedAt ?? Date.now()) - (record.parkedMs ?? 0);
  const remainingMs = config.delegation.child_timeout_s * 1000 - ranMs;
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

/** Settles the prompt of `round` as timed out, if the task still waits on it; otherwise changes nothing. */
async function expirePrompt(
  dependencies: ChildRunnerDependencies,
  taskId: string,
  round: number,
): Promise<void> {
  const record = await dependencies.store.get(taskId);
  const prompt = record?.prompt;
  if (!record || !prompt || prompt.round !== round || !isParked(record.status)) return;
  const seconds = Math.round((Date.now() - prompt.askedAt) / 1000);
  await dependencies.store.settlePrompt(
    record,
    null,
    { round, kind: prompt.kind, timedOut: true, at: Date.now() },
    {
      type: prompt.kind === 'question' ? 'answer-given' : 'approval-decided',
      text:
        prompt.kind === 'question'
          ? `no answer within ${seconds} s`
          : `no decision within ${seconds} s: denied (approvals.timeout_s)`,
    },
  );
}
