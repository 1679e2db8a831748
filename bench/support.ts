/**
 * Shared pieces of the benchmarks: statistics, configuration, a clean-up stack, and small waits.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { loadConfig, mergeLayers } from '../src/config/load-config.ts';
import type { BatonConfig } from '../src/config/schema.ts';
import type { ModelClient } from '../src/llm/model-client.ts';
import { createSilentLogger } from '../src/logging/logger.ts';
import { BatonRuntime } from '../src/runtime/baton-runtime.ts';
import type { TaskActor } from '../src/tasks/task-access.ts';
import type { TaskOrigin } from '../src/tasks/task-record.ts';
import type { TaskCaller } from '../src/tasks/task-service.ts';
import type { ToolContext } from '../src/tools/tool.ts';

/** One figure of the report; `name`, `value` and `unit` are the stable part read by other tools. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** The target, as text (e.g. "<= 5"), when the figure has one. */
  goal?: string;
  /** Whether the figure meets its goal; absent when it has none. */
  met?: boolean;
  notes?: string;
}

/** What every benchmark gets from the runner. */
export interface BenchContext {
  redisUrl: string;
  redisPid: number;
  log(line: string): void;
}

export const benchApiKeyEnv = 'BATON_BENCH_KEY';
export const benchApiKey = 'sk-bench-key-0123456789abcdef';
export const benchEnv = (): NodeJS.ProcessEnv => ({ [benchApiKeyEnv]: benchApiKey });

let prefixCounter = 0;
/** A Redis key prefix of its own for every benchmark, so none sees another's keys or queue. */
export function benchPrefix(label: string): string {
  prefixCounter += 1;
  return `bench-${label}-${process.pid}-${prefixCounter}`;
}

/** The config layer of a benchmark: silent logs, no toolsets for children, the given fake model. */
export function benchLayer(label: string, baseURL: string, overrides: unknown = {}): Record<string, unknown> {
  return mergeLayers(
    {
      redis: { prefix: benchPrefix(label) },
      models: {
        max_retries: 0,
        routes: { default: { model: 'fake-model', base_url: baseURL, api_key_env: [benchApiKeyEnv] } },
      },
      delegation: { default_toolsets: [], max_concurrent_children: 100_000, max_batch_size: 100 },
      quotas: {
        max_active_tasks_per_user: null,
        max_active_tasks_per_channel: null,
        max_active_tasks: null,
        max_queued_tasks: null,
        max_turns_per_user: null,
      },
      worker: { shutdown_grace_s: 1 },
      console: { enabled: false },
      log: { level: 'silent' },
    },
    overrides,
  ) as Record<string, unknown>;
}

export function buildBenchConfig(layer: Record<string, unknown>): BatonConfig {
  return loadConfig({ env: benchEnv(), overrides: layer });
}

export const benchOrigin: TaskOrigin = {
  platform: 'bench',
  channel: 'c1',
  thread: 'th1',
  user: 'u1',
  userName: 'Bench',
};

/** The person behind the benchmarks' parent turns: the owner of every task they start. */
export const benchActor: TaskActor = { id: 'u1', name: 'Bench', roleIds: [] };

/** The tool context of a session's parent agent (depth 0), as the gateway builds it. */
export function parentContext(sessionKey: string): ToolContext {
  return {
    sessionKey,
    origin: benchOrigin,
    callerTaskId: null,
    depth: 0,
    signal: new AbortController().signal,
    actor: benchActor,
  };
}

export function parentCaller(sessionKey: string): TaskCaller {
  return {
    sessionKey,
    origin: benchOrigin,
    callerTaskId: null,
    depth: 0,
    displayName: 'Bench (through the parent agent)',
    actor: benchActor,
  };
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** The upper median of unsorted samples (NaN for none). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/**
 * The soak's model retries and worker settings (20 children at once, short locks, quick stall checks), for
 * what measures a worker under the soak's load.
 */
export const soakWorkerSettings = {
  models: { max_retries: 6, retry_base_delay_ms: 50, retry_max_delay_ms: 1000 },
  worker: { concurrency: 20, lock_duration_ms: 3000, stalled_interval_ms: 1000, shutdown_grace_s: 1 },
};

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(samples: readonly number[]): LatencySummary {
  const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
  return {
    count: samples.length,
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    max: Math.max(...samples),
    mean,
  };
}

export function round(value: number, decimals = 3): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

export function describeLatency(summary: LatencySummary): string {
  const ms = (value: number) => `${round(value, 3)} ms`;
  return (
    `${summary.count} samples: p50 ${ms(summary.p50)}, p90 ${ms(summary.p90)}, p99 ${ms(summary.p99)}, ` +
    `max ${ms(summary.max)}, mean ${ms(summary.mean)}`
  );
}

/** A result with its goal checked: `atMost` for latencies and memory, `atLeast` for rates. */
export function figure(
  name: string,
  value: number,
  unit: string,
  options: { atMost?: number; atLeast?: number; notes?: string; decimals?: number } = {},
): BenchResult {
  const result: BenchResult = { name, value: round(value, options.decimals ?? 3), unit };
  if (options.atMost !== undefined) {
    result.goal = `<= ${options.atMost}`;
    result.met = value <= options.atMost;
  } else if (options.atLeast !== undefined) {
    result.goal = `>= ${options.atLeast}`;
    result.met = value >= options.atLeast;
  }
  if (options.notes) result.notes = options.notes;
  return result;
}

/** Things to stop, stopped last-in first-out; each step's failure is reported and the rest still run. */
export class CleanupStack {
  private readonly steps: Array<{ what: string; run: () => Promise<void> | void }> = [];

  add(what: string, run: () => Promise<void> | void): void {
    this.steps.push({ what, run });
  }

  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await withTimeout(Promise.resolve().then(step.run), 20_000, `clean-up: ${step.what}`);
      } catch (error) {
        process.stderr.write(`bench: clean-up step "${step.what}" failed: ${String(error)}\n`);
      }
    }
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined; fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Resident set size of a process, from /proc/<pid>/status (VmRSS, or VmHWM for the peak), in MB. */
export function readRssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

/** A BatonRuntime with silent logs and its own Redis connections, closed by `cleanup`. */
export async function startRuntime(
  cleanup: CleanupStack,
  redisUrl: string,
  layer: Record<string, unknown>,
  what: string,
  model?: ModelClient,
) {
  const runtime = new BatonRuntime({
    config: buildBenchConfig(layer),
    redisUrl,
    logger: createSilentLogger(),
    env: benchEnv(),
    ...(model ? { model } : {}),
  });
  cleanup.add(`close ${what} runtime`, () => runtime.close(0));
  await runtime.start();
  return runtime;
}

/** Writes a config layer as a YAML file for a worker process (BATON_CONFIG); removed by `cleanup`. */
export function writeConfigFile(
  cleanup: CleanupStack,
  layer: Record<string, unknown>,
  label: string,
): string {
  const directory = mkdtempSync(path.join(os.tmpdir(), `baton-bench-${label}-`));
  cleanup.add(`remove ${label} config`, () => rmSync(directory, { recursive: true, force: true }));
  const configFile = path.join(directory, 'baton.yaml');
  writeFileSync(configFile, toYaml(layer));
  return configFile;
}
