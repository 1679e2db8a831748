/** Who is at fault for a failure: decides whether it is retried, shown to the user, or logged as a bug. */
export type FaultCategory = 'user' | 'model' | 'system' | 'platform';

export type BatonErrorCode =
  | 'config_invalid'
  | 'redis_unavailable'
  | 'unknown_task'
  | 'task_finished'
  | 'task_not_steerable'
  | 'task_not_waiting'
  | 'limit_concurrent_children'
  | 'limit_quota'
  | 'budget_exhausted'
  | 'limit_batch_size'
  | 'limit_spawn_depth'
  | 'unknown_toolset'
  | 'unknown_route'
  | 'unknown_workspace'
  | 'workspace_failed'
  | 'merge_conflict'
  | 'invalid_arguments'
  | 'tool_failed'
  | 'model_request_failed'
  | 'model_rate_limited'
  | 'model_timeout'
  | 'model_missing_key'
  | 'fetch_refused'
  | 'fetch_failed'
  | 'output_schema_invalid'
  | 'mcp_unavailable'
  | 'mcp_call_failed'
  | 'mcp_tool_error'
  | 'approval_required'
  | 'checkpoint_invalid'
  | 'task_record_invalid'
  | 'platform_send_failed'
  | 'platform_rate_limited'
  | 'access_denied'
  | 'instance_running'
  | 'listen_failed'
  | 'aborted';

/** The one error type of Baton: a stable `code` to branch on, and who is at fault. */
export class BatonError extends Error {
  readonly code: BatonErrorCode;
  readonly fault: FaultCategory;

  constructor(
    code: BatonErrorCode,
    message: string,
    options: { fault?: FaultCategory; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'BatonError';
    this.code = code;
    this.fault = options.fault ?? 'system';
  }
}

export function isBatonError(error: unknown, code?: BatonErrorCode): error is BatonError {
  return error instanceof BatonError && (code === undefined || error.code === code);
}

/** A readable one-line description of anything thrown, for tool results and logs. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Why a server could not listen, as one line a person can act on (no stack trace). */
export function listenError(
  what: string,
  host: string,
  port: number,
  hint: string,
  error: unknown,
): BatonError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason =
    code === 'EADDRINUSE'
      ? 'the port is already in use'
      : code === 'EACCES'
        ? 'permission denied'
        : code === 'EADDRNOTAVAIL'
          ? 'no such local address'
          : String((error as Error | undefined)?.message ?? error);
  return new BatonError('listen_failed', `${what} cannot listen on ${host}:${port}: ${reason}; ${hint}`, {
    fault: 'user',
    cause: error,
  });
}
