import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { loadConfig, mergeLayers } from '../../src/config/load-config.ts';
import type { BatonConfig } from '../../src/config/schema.ts';
import { AccessPolicy } from '../../src/gateway/access-policy.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { TaskActor } from '../../src/tasks/task-access.ts';
import type { TaskOrigin } from '../../src/tasks/task-record.ts';
import type { TaskCaller } from '../../src/tasks/task-service.ts';
import type { ToolContext } from '../../src/tools/tool.ts';
import type { FakeOpenAIServer } from '../fakes/fake-openai-server.ts';
import { uniquePrefix } from './redis.ts';

export const testApiKey = 'sk-test-key-0123456789abcdef';

/** Config for tests: a fresh key prefix, the fake model as the default route, fast worker timings. */
export function testConfigLayer(fake: FakeOpenAIServer, overrides: unknown = {}): Record<string, unknown> {
  return mergeLayers(
    {
      redis: { prefix: uniquePrefix('baton') },
      models: {
        retry_base_delay_ms: 20,
        retry_max_delay_ms: 200,
        routes: { default: { model: 'fake-model', base_url: fake.baseURL, api_key_env: ['BATON_TEST_KEY'] } },
      },
      delegation: { default_toolsets: [], cancel_wait_s: 5 },
      worker: { concurrency: 20, lock_duration_ms: 2000, stalled_interval_ms: 500, shutdown_grace_s: 1 },
      // Replies stream by default, and a reply still unfinished after one stream interval becomes a stream:
      // on a loaded machine a test about something else would see a stream where it waits for a post. Tests
      // get one post per reply unless they turn streaming on (the streaming tests do).
      gateway: { stream_replies: false },
      log: { level: 'silent' },
    },
    overrides,
  ) as Record<string, unknown>;
}

export const testEnv = (): NodeJS.ProcessEnv => ({ BATON_TEST_KEY: testApiKey });

export function buildTestConfig(layer: Record<string, unknown>): BatonConfig {
  return loadConfig({ env: testEnv(), overrides: layer });
}

export async function createTestRuntime(
  redisUrl: string,
  config: BatonConfig,
  env: NodeJS.ProcessEnv = testEnv(),
): Promise<BatonRuntime> {
  const runtime = new BatonRuntime({
    config,
    redisUrl,
    logger: createSilentLogger(),
    env,
    authorizer: new AccessPolicy(config.access),
  });
  await runtime.start();
  return runtime;
}

export const testOrigin: TaskOrigin = {
  platform: 'test',
  channel: 'c1',
  thread: 'th1',
  user: 'u1',
  userName: 'Ada',
};

/** Ada, the person behind most tests' parent turns. */
export const testActor: TaskActor = { id: 'u1', name: 'Ada', roleIds: [] };

/** Ada's parent agent in `thread` of channel c1: who dispatches, steers and cancels in most tests. */
export function testCaller(thread = testOrigin.thread): TaskCaller {
  return {
    sessionKey: `test:c1:${thread}`,
    origin: { ...testOrigin, thread },
    callerTaskId: null,
    depth: 0,
    displayName: 'Ada',
    actor: testActor,
  };
}

export function parentContext(
  sessionKey = 'test:c1:th1',
  signal = new AbortController().signal,
): ToolContext {
  return { sessionKey, origin: testOrigin, callerTaskId: null, depth: 0, signal, actor: testActor };
}

/**
 * The Baton processes a test file starts (push each one): after every test a failed test prints what they said,
 * and those still running are SIGKILLed and awaited. Register other clean-up (Redis servers) before calling
 * this, so the processes stop first.
 */
export function trackBatonProcesses(): BatonProcess[] {
  const processes: BatonProcess[] = [];
  afterEach(async (context) => {
    if (context.task.result?.state === 'fail')
      for (const started of processes) process.stderr.write(`--- pid ${started.pid}:\n${started.output()}\n`);
    for (const started of processes.splice(0)) {
      if (started.child.exitCode === null && started.child.signalCode === null) {
        started.child.kill('SIGKILL');
        await started.exited;
      }
    }
  });
  return processes;
}

export interface BatonProcess {
  child: ChildProcess;
  pid: number;
  /** Resolves when the process exits. */
  exited: Promise<number | null>;
  output(): string;
  /** The console URL a gateway logged when it became ready. */
  consoleUrl: string | null;
}

/** @deprecated name kept for the worker tests. */
export type WorkerProcess = BatonProcess;

/** Starts `baton <command>` as a real separate process sharing the test's Redis and fake model. */
export async function spawnBatonProcess(
  command: 'worker' | 'gateway' | 'start',
  redisUrl: string | null,
  layer: Record<string, unknown>,
  extraEnv: NodeJS.ProcessEnv = {},
  args: string[] = [],
  options: { detached?: boolean } = {},
): Promise<BatonProcess> {
  const directory = mkdtempSync(path.join(os.tmpdir(), `baton-${command}-`));
  const configFile = path.join(directory, 'baton.yaml');
  writeFileSync(configFile, toYaml(mergeLayers(layer, { log: { level: 'info' } })));
  const child = spawn(process.execPath, [path.resolve('bin/baton.js'), command, ...args], {
    env: {
      ...process.env,
      ...testEnv(),
      ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
      BATON_CONFIG: configFile,
      LOG_LEVEL: 'info',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a test can signal the group as a terminal's Ctrl-C does.
    detached: options.detached === true,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const readyLine =
    command === 'worker' ? 'worker ready' : command === 'gateway' ? 'gateway ready' : 'baton ready';
  // Generous: on a shared, loaded machine node alone can take many seconds to load the sources.
  const deadline = Date.now() + 90_000;
  while (!output.includes(readyLine)) {
    if (child.exitCode !== null) throw new Error(`baton ${command} exited early: ${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`baton ${command} did not start: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const consoleMatch = /"console":"(http:[^"]+)"/.exec(output);
  return { child, pid: child.pid!, exited, output: () => output, consoleUrl: consoleMatch?.[1] ?? null };
}

/** Starts `baton worker` as a real separate process sharing the test's Redis and fake model. */
export function spawnWorkerProcess(redisUrl: string, layer: Record<string, unknown>): Promise<BatonProcess> {
  return spawnBatonProcess('worker', redisUrl, layer);
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The config file `spawnBatonProcess` would write, for commands run to their end with `runBatonCommand`. */
export function writeTestConfigFile(layer: Record<string, unknown>): string {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-config-'));
  const configFile = path.join(directory, 'baton.yaml');
  writeFileSync(configFile, toYaml(mergeLayers(layer, { log: { level: 'info' } })));
  return configFile;
}

export interface FinishedCommand {
  code: number | null;
  output: string;
  durationMs: number;
}

/** Runs `baton <args>` to its end (status, stop, or a start that must refuse), with a time limit. */
export function runBatonCommand(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<FinishedCommand> {
  const startedAt = Date.now();
  const child = spawn(process.execPath, [path.resolve('bin/baton.js'), ...args], {
    env: { ...process.env, ...testEnv(), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`baton ${args.join(' ')} did not end within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output, durationMs: Date.now() - startedAt });
    });
  });
}
