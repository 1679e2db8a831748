/**
 * Child processes of the benchmarks (worker, fake model): started with a clean environment, watched for a
 * ready line, spoken to over stdin/stdout JSON lines, and always stopped — SIGKILLed on any exit of the
 * benchmark process that Node can see.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { benchApiKey, benchApiKeyEnv, type CleanupStack, sleep, withTimeout } from './support.ts';

/** The repository root; child processes run there so `--import tsx` and relative paths resolve. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Variables that would override the benchmark's own config inside a Baton process. */
const inheritedOverrides = [
  'REDIS_URL',
  'OPENAI_BASE_URL',
  'BATON_MODEL',
  'BATON_CONFIG',
  'BATON_CONSOLE_PORT',
  'LOG_LEVEL',
];

export function childEnvironment(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of inheritedOverrides) delete env[name];
  return { ...env, ...extra };
}

export interface ManagedProcess {
  child: ChildProcess;
  pid: number;
  /** The last few kilobytes of stdout and stderr, for error messages. */
  output(): string;
  /** Resolves with the next stdout JSON line for which `match` is true. */
  nextMessage<T = Record<string, unknown>>(match: (message: T) => boolean, timeoutMs: number): Promise<T>;
  /** Writes one line to stdin. */
  send(line: string): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  label: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** True for the stdout JSON line or the output text that says the process is ready. */
  isReady: (line: string) => boolean;
  readyTimeoutMs?: number;
}

const keptOutputChars = 8000;

/** Starts `node <args>` and waits for its ready line. */
export async function startProcess(options: StartOptions): Promise<ManagedProcess> {
  const child = spawn(process.execPath, options.args, {
    cwd: projectRoot,
    env: options.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      live.delete(child);
      resolve();
    });
  });
  let output = '';
  const keep = (text: string) => {
    output = (output + text).slice(-keptOutputChars);
  };
  const listeners = new Set<(message: Record<string, unknown>) => void>();
  let ready: () => void = () => undefined;
  const readyOnce = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const onLine = (line: string) => {
    keep(`${line}\n`);
    if (options.isReady(line)) ready();
    if (!line.startsWith('{')) return;
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    for (const listener of listeners) listener(message);
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  child.stdin!.on('error', () => undefined);

  const managed: ManagedProcess = {
    child,
    pid: child.pid!,
    output: () => output,
    nextMessage<T>(match: (message: T) => boolean, timeoutMs: number): Promise<T> {
      let listener: (message: Record<string, unknown>) => void = () => undefined;
      const found = new Promise<T>((resolve) => {
        listener = (message) => {
          if (match(message as T)) resolve(message as T);
        };
        listeners.add(listener);
      });
      return withTimeout(found, timeoutMs, `${options.label}: waiting for a message`).finally(() =>
        listeners.delete(listener),
      );
    },
    send(line: string) {
      child.stdin!.write(`${line}\n`);
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
      if (killed) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };

  const failedEarly = exited.then(() => {
    throw new Error(`${options.label} exited before it was ready:\n${output}`);
  });
  try {
    await withTimeout(
      Promise.race([readyOnce, failedEarly]),
      options.readyTimeoutMs ?? 30_000,
      options.label,
    );
  } catch (error) {
    await managed.stop(1000);
    throw error;
  } finally {
    failedEarly.catch(() => undefined);
  }
  return managed;
}

export interface FakeModelProcess {
  process: ManagedProcess;
  baseURL: string;
  stats(): Promise<{ received: number; answered: number; aborted: number }>;
}

/** The fake OpenAI server in its own process (bench/fake-model-process.ts), answering after `latencyMs`. */
export async function startFakeModelProcess(
  latencyMs: number,
  extraArgs: string[] = [],
): Promise<FakeModelProcess> {
  const managed = await startProcess({
    label: 'fake model process',
    args: ['--import', 'tsx', 'bench/fake-model-process.ts', '--latency-ms', String(latencyMs), ...extraArgs],
    env: childEnvironment({}),
    isReady: (line) => line.includes('"event":"ready"'),
  });
  const ready = JSON.parse(
    managed
      .output()
      .split('\n')
      .find((line) => line.includes('"event":"ready"'))!,
  ) as {
    baseURL: string;
  };
  return {
    process: managed,
    baseURL: ready.baseURL,
    async stats() {
      const answer = managed.nextMessage<{
        event: string;
        received: number;
        answered: number;
        aborted: number;
      }>((message) => message.event === 'stats', 5000);
      managed.send('stats');
      return answer;
    },
  };
}

/**
 * The soak's fake model: each answer after 50 to 500 ms, 2% of calls answered with 429 or 500, each child's
 * goal echoed in its result.
 */
export function startSoakModelProcess(): Promise<FakeModelProcess> {
  return startFakeModelProcess(50, ['--latency-max-ms', '500', '--error-rate', '0.02', '--echo-goal']);
}

/** What bench/worker-with-probe.ts answers to `sample`: its event-loop lag, memory, and locks it lost. */
export interface ProbeSample {
  event: 'sample';
  count: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  rssMb: number;
  heapUsedMb: number;
  /** V8 heap committed, and memory of C++ objects bound to JS (buffers): what RSS holds besides the used heap. */
  heapTotalMb: number;
  externalMb: number;
  lockRenewalFailures: number;
  failedJobs: number;
}

export interface ProbeWorker {
  process: ManagedProcess;
  /** Clears the worker's event-loop histogram. */
  reset(): Promise<void>;
  /** A full garbage collection in the worker (started with `exposeGc`; otherwise a no-op). */
  collectGarbage(): Promise<void>;
  sample(): Promise<ProbeSample>;
}

/**
 * `baton worker` plus its event-loop probe (bench/worker-with-probe.ts) in its own process, on `configFile`.
 * Stopped by `cleanup` with SIGTERM: the worker drains, and after shutdown_grace_s aborts the children it
 * holds, which go back to the queue (nobody else consumes the benchmark's prefix).
 */
export async function startProbeWorker(
  cleanup: CleanupStack,
  redisUrl: string,
  configFile: string,
  options: { exposeGc?: boolean } = {},
): Promise<ProbeWorker> {
  const worker = await startProcess({
    label: 'probe worker',
    args: [...(options.exposeGc ? ['--expose-gc'] : []), '--import', 'tsx', 'bench/worker-with-probe.ts'],
    env: childEnvironment({ REDIS_URL: redisUrl, BATON_CONFIG: configFile, [benchApiKeyEnv]: benchApiKey }),
    isReady: (line) => line.includes('"event":"ready"'),
  });
  cleanup.add('stop probe worker', () => worker.stop(15_000));
  const ask = <T extends { event: string }>(command: 'sample' | 'reset' | 'gc'): Promise<T> => {
    const answer = worker.nextMessage<T>((message) => message.event === command, 10_000);
    worker.send(command);
    return answer;
  };
  return {
    process: worker,
    reset: async () => {
      await ask('reset');
    },
    collectGarbage: async () => {
      await ask('gc');
    },
    sample: () => ask<ProbeSample>('sample'),
  };
}
