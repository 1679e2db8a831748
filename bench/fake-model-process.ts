/**
 * The fake OpenAI server (test/fakes/fake-openai-server.ts) in a process of its own, like
 * test/fakes/run-fake-openai-server.ts, plus request counters the benchmark can ask for: every chat
 * completion answers a fixed final text after `--latency-ms`.
 *
 *   node --import tsx bench/fake-model-process.ts --latency-ms 15000
 *
 * stdout: `{"event":"ready","baseURL":…}` once listening; a stdin line `stats` answers
 * `{"event":"stats","received":n,"answered":n,"aborted":n}`. SIGTERM closes it.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { startFakeOpenAIServer, textReply } from '../test/fakes/fake-openai-server.ts';

const { values } = parseArgs({ options: { 'latency-ms': { type: 'string' } } });
const latencyMs = Number(values['latency-ms'] ?? '0');
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
    return textReply('Done: the fake model finished the task.', { delayMs: latencyMs, usage: null });
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
