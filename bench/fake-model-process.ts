/**
 * The fake OpenAI server (test/fakes/fake-openai-server.ts) in a process of its own, like
 * test/fakes/run-fake-openai-server.ts, plus request counters the benchmark can ask for: every chat
 * completion answers a fixed final text after `--latency-ms`.
 *
 *   node --import tsx bench/fake-model-process.ts --latency-ms 15000
 *   node --import tsx bench/fake-model-process.ts --latency-ms 50 --latency-max-ms 500 --error-rate 0.02 --echo-goal
 *
 * With `--latency-max-ms`, each answer takes a uniformly random time between the two; `--error-rate` answers
 * that share of calls with 429 or 500 (half each) instead; `--echo-goal` ends the text with "result of
 * <the child's goal>." so a soak can tell whose result a posted message is.
 *
 * stdout: `{"event":"ready","baseURL":…}` once listening; a stdin line `stats` answers
 * `{"event":"stats","received":n,"answered":n,"aborted":n}`. SIGTERM closes it.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { errorReply, startFakeOpenAIServer, textReply } from '../test/fakes/fake-openai-server.ts';
import { goalOf } from '../test/support/model-scripts.ts';

const { values } = parseArgs({
  options: {
    'latency-ms': { type: 'string' },
    'latency-max-ms': { type: 'string' },
    'error-rate': { type: 'string' },
    'echo-goal': { type: 'boolean' },
  },
});
const latencyMs = Number(values['latency-ms'] ?? '0');
const latencyMaxMs = Number(values['latency-max-ms'] ?? values['latency-ms'] ?? '0');
const errorRate = Number(values['error-rate'] ?? '0');
const echoGoal = values['echo-goal'] === true;
if (!Number.isFinite(latencyMs) || latencyMs < 0) {
  process.stderr.write(`fake-model: not a non-negative number: ${values['latency-ms']}\n`);
  process.exit(2);
}

let received = 0;
let answered = 0;
let aborted = 0;

const server = await startFakeOpenAIServer({
  recordRequests: false,
  handler: (request) => {
    received += 1;
    // The fake sets these flags when the answer is written or the client hangs up; count them as they flip.
    let isAnswered = false;
    let isAborted = false;
    Object.defineProperty(request, 'answered', {
      get: () => isAnswered,
      set: (value: boolean) => {
        if (value && !isAnswered) answered += 1;
        isAnswered = value;
      },
    });
    Object.defineProperty(request, 'aborted', {
      get: () => isAborted,
      set: (value: boolean) => {
        if (value && !isAborted) aborted += 1;
        isAborted = value;
      },
    });
    const delayMs = latencyMs + Math.random() * Math.max(0, latencyMaxMs - latencyMs);
    if (Math.random() < errorRate) {
      const status = Math.random() < 0.5 ? 429 : 500;
      return errorReply(status, {
        delayMs,
        ...(status === 429 ? { headers: { 'retry-after-ms': '100' } } : {}),
      });
    }
    const goal = echoGoal ? goalOf(request) : null;
    const text = `Done: the fake model finished the task.${goal ? ` result of ${goal}.` : ''}`;
    return textReply(text, { delayMs, usage: null });
  },
});

const write = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);
write({ event: 'ready', baseURL: server.baseURL, pid: process.pid, latencyMs });

createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line.trim() === 'stats') write({ event: 'stats', received, answered, aborted });
  })
  // stdin closes when the benchmark process is gone, even if it was SIGKILLed: do not outlive it.
  .on('close', () => {
    void server.close().then(() => process.exit(0));
  });

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void server.close().then(() => process.exit(0));
  });
}
