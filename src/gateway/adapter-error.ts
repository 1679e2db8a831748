/**
 * The errors a chat adapter throws itself: a setting or credential it cannot work with, a server it cannot
 * start. Part of the port (like `chat-adapter.ts`); failed posts and edits are `PlatformSendError`s.
 */
import {
  BatonError,
  type BatonErrorCode,
  describeError,
  type FaultCategory,
  listenError,
} from '../errors.ts';

/**
 * `describeError`: anything thrown as one line. `listenError`: why a server could not listen, as one line
 * a person can act on (`listen_failed`, the user's to fix).
 */
export { describeError, listenError };

export type AdapterErrorCode = Extract<BatonErrorCode, 'config_invalid' | 'listen_failed'>;

/**
 * A configuration or start-up failure of an adapter (a bad token, a missing id, a refused connection).
 * A BatonError: with `fault: 'user'` the CLI prints its message alone and exits with status 2.
 */
export class AdapterError extends BatonError {
  constructor(
    code: AdapterErrorCode,
    message: string,
    options: { fault?: FaultCategory; cause?: unknown } = {},
  ) {
    super(code, message, options);
  }
}
