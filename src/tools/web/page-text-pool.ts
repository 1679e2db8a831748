import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { BatonError, describeError } from '../../errors.ts';
import type { PageTextResult, PageTextTask } from './page-text-worker.ts';

/** Heap of one page-text thread; a page whose DOM needs more ends that thread, not the process. */
const threadHeapMb = 256;
/** An idle thread above the first exits after this long. */
const idleThreadMs = 30_000;

// Run from source (tsx, vitest) the worker is TypeScript too and each thread registers tsx itself; run as the
// compiled build (the Docker image) it is the JavaScript beside this file and needs no loader. The loader is
// resolved from this file, so it does not depend on the working directory (`npx baton` from anywhere).
const runFromSource = import.meta.url.endsWith('.ts');
const workerFile = fileURLToPath(
  new URL(`./page-text-worker.${runFromSource ? 'ts' : 'js'}`, import.meta.url),
);
const workerExecArgv = runFromSource
  ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href]
  : [];

let pool: Piscina | null = null;

/** The process's one pool, created on first use: a process that never fetches a page starts no thread. */
function sharedPool(): Piscina {
  pool ??= new Piscina({
    filename: workerFile,
    execArgv: workerExecArgv,
    minThreads: 1,
    maxThreads: Math.max(2, Math.min(4, availableParallelism())),
    idleTimeout: idleThreadMs,
    // Below the event loop's thread: on a busy machine the conversions wait, not lock renewal and the chat.
    niceIncrement: 10,
    resourceLimits: { maxOldGenerationSizeMb: threadHeapMb, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
  });
  return pool;
}

export interface PageTextOptions {
  /** Time limit of the conversion, queueing included; the thread is terminated when it runs out. */
  timeoutMs: number;
  /** The caller's signal: an abort ends the conversion (and its thread) too. */
  signal: AbortSignal;
}

/**
 * Converts HTML to readable text on a worker thread. html-to-text is synchronous and slow on hostile
 * input (26 s on 1.5 MB of deep nesting, then a stack overflow): on the event loop it would freeze the
 * process, BullMQ's lock renewal included, and a fetch time-out cannot interrupt synchronous work. A thread
 * that runs out of time or memory is terminated; the caller gets a BatonError.
 */
export async function convertPageText(task: PageTextTask, options: PageTextOptions): Promise<PageTextResult> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = AbortSignal.any([options.signal, timeout]);
  try {
    // A body with a buffer of its own moves to the thread instead of being copied; the caller is done with it.
    const { body } = task;
    const movable =
      body.buffer instanceof ArrayBuffer &&
      body.byteOffset === 0 &&
      body.buffer.byteLength === body.byteLength;
    return await sharedPool().run(task, {
      signal,
      ...(movable ? { transferList: [body.buffer as ArrayBuffer] } : {}),
    });
  } catch (error) {
    if (options.signal.aborted) throw options.signal.reason ?? error;
    if (timeout.aborted) {
      throw new BatonError(
        'fetch_failed',
        `converting the page to text took longer than ${formatSeconds(options.timeoutMs)} ` +
          '(it is too large or too deeply nested, or many pages were being converted at once); try another page',
        { fault: 'model', cause: error },
      );
    }
    throw new BatonError('fetch_failed', `could not convert the page to text: ${conversionFailure(error)}`, {
      fault: 'model',
      cause: error,
    });
  }
}

function conversionFailure(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ERR_WORKER_OUT_OF_MEMORY') return `it needs more than ${threadHeapMb} MB of memory`;
  if (error instanceof RangeError) return 'it is nested too deeply';
  return describeError(error);
}

function formatSeconds(milliseconds: number): string {
  return `${Number((milliseconds / 1000).toFixed(3))} s`;
}

/**
 * Ends the pool's threads (on shutdown). Idle threads are unref'd and never keep the process alive; this
 * stops running ones. A later conversion starts a new pool.
 */
export async function closePageTextPool(): Promise<void> {
  const closing = pool;
  pool = null;
  await closing?.destroy();
}
