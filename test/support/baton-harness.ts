import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { loadConfig, mergeLayers } from '../../src/config/load-config.ts';
import type { BatonConfig } from '../../src/config/schema.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { TaskOrigin } from '../../src/tasks/task-record.ts';
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
      log: { level: 'silent' },
    },
    overrides,
  ) as Record<string, unknown>;
}

export const testEnv = (): NodeJS.ProcessEnv => ({ BATON_TEST_KEY: testApiKey });

export function buildTestConfig(layer: Record<string, unknown>): BatonConfig {
  return loadConfig({ env: testEnv(), overrides: layer });
}

export async function createTestRuntime(redisUrl: string, config: BatonConfig): Promise<BatonRuntime> {
  const runtime = new BatonRuntime({ config, redisUrl, logger: createSilentLogger(), env: testEnv() });
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

export function parentContext(
  sessionKey = 'test:c1:th1',
  signal = new AbortController().signal,
): ToolContext {
  return { sessionKey, origin: testOrigin, callerTaskId: null, depth: 0, signal };
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Resolves when the process exits. */
  exited: Promise<number | null>;
  output(): string;
}

/** Starts `baton worker` as a real separate process sharing the test's Redis and fake model. */
export async function spawnWorkerProcess(
  redisUrl: string,
  layer: Record<string, unknown>,
): Promise<WorkerProcess> {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-worker-'));
  const configFile = path.join(directory, 'baton.yaml');
  writeFileSync(configFile, toYaml(mergeLayers(layer, { log: { level: 'info' } })));
  const child = spawn(process.execPath, [path.resolve('bin/baton.js'), 'worker'], {
    env: { ...process.env, ...testEnv(), REDIS_URL: redisUrl, BATON_CONFIG: configFile, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (!output.includes('worker ready')) {
    if (child.exitCode !== null) throw new Error(`worker exited early: ${output}`);
    if (Date.now() > deadline) throw new Error(`worker did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, pid: child.pid!, exited, output: () => output };
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
