/**
 * Runs the fake OpenAI server as its own process, for benchmarks and demos: every chat completion
 * answers a fixed final text after a fixed latency. Prints `{"baseURL": …}` as one JSON line on stdout.
 *
 *   npx tsx test/fakes/run-fake-openai-server.ts --latency-ms 500 [--port 0]
 *
 * `FAKE_OPENAI_LATENCY_MS` and `FAKE_OPENAI_PORT` work too; flags win.
 */
import { parseArgs } from 'node:util';
import { startFakeOpenAIServer, textReply } from './fake-openai-server.ts';

const { values } = parseArgs({
  options: {
    'latency-ms': { type: 'string' },
    port: { type: 'string' },
    text: { type: 'string' },
  },
});

function readNumber(flag: string | undefined, envValue: string | undefined, fallback: number): number {
  const raw = flag ?? envValue;
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    process.stderr.write(`fake-openai: not a non-negative number: ${raw}\n`);
    process.exit(2);
  }
  return value;
}

const latencyMs = readNumber(values['latency-ms'], process.env.FAKE_OPENAI_LATENCY_MS, 0);
const port = readNumber(values.port, process.env.FAKE_OPENAI_PORT, 0);
const text = values.text ?? 'Done: the fake model finished the task.';

const server = await startFakeOpenAIServer({
  port,
  recordRequests: false,
  handler: () => textReply(text, { delayMs: latencyMs }),
});
process.stdout.write(`${JSON.stringify({ baseURL: server.baseURL, port: server.port, latencyMs })}\n`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void server.close().then(() => process.exit(0));
  });
}
