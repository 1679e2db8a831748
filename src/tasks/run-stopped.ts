/** Why a run was stopped from outside; carried as the abort reason of the run's signal. */
export type StopReason = 'cancel' | 'timeout' | 'shutdown' | 'lost';

export class RunStopped extends Error {
  constructor(readonly reason: StopReason) {
    super(`run stopped: ${reason}`);
    this.name = 'RunStopped';
  }
}

/** True when an abort only interrupts the run (shutdown, lost ownership): it resumes elsewhere, so keep its work. */
export function isInterruption(reason: unknown): boolean {
  return reason instanceof RunStopped && (reason.reason === 'shutdown' || reason.reason === 'lost');
}
