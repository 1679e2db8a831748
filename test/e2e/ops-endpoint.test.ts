import { describe, expect, it } from 'vitest';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import {
  type BatonProcess,
  eventually,
  spawnBatonProcess,
  testConfigLayer,
  trackBatonProcesses,
} from '../support/baton-harness.ts';
import { botTexts, createConsoleThread, postConsoleMessage } from '../support/console-client.ts';
import { everythingServerScript } from '../support/mcp-servers.ts';
import { messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake } = useTestEnvironment({ clearScriptAfterEach: true });
const processes = trackBatonProcesses();

const opsUrlOf = (started: BatonProcess) => /"ops":"(http:[^"]+)"/.exec(started.output())?.[1];

async function health(opsUrl: string) {
  const response = await fetch(`${opsUrl}/healthz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('the ops endpoint of every process', () => {
  it('serves health and metrics from a worker, and a gateway with queued children and no worker is not ok', async () => {
    const layer = testConfigLayer(fake, { console: { port: 0 } });
    const gateway = await spawnBatonProcess('gateway', redis.url, layer);
    processes.push(gateway);
    const gatewayOps = opsUrlOf(gateway)!;
    expect(gatewayOps).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await health(gatewayOps)).toMatchObject({ status: 200, body: { ok: true, workers: 0 } });

    fake.setHandler(
      scriptByGoal({ 'queued child': () => textReply('queued child done') }, (request) =>
        messagesOf(request).at(-1)?.role === 'tool'
          ? textReply('Started it.')
          : toolCallReply([{ name: 'delegate_task_async', arguments: { goal: 'queued child' } }]),
      ),
    );
    const thread = await createConsoleThread(gateway.consoleUrl!, 'no worker');
    await postConsoleMessage(gateway.consoleUrl!, thread, 'start one thing');
    // The child waits in the queue: nothing will run it, and the gateway's health says so.
    const unhealthy = await eventually(
      async () => {
        const report = await health(gatewayOps);
        return report.status === 503 ? report : undefined;
      },
      30_000,
      'the gateway to report the queued child',
    );
    expect(unhealthy.body).toMatchObject({
      ok: false,
      workers: 0,
      queued: 1,
      problems: ['1 children are queued and no worker is running'],
    });

    // The worker is where children use MCP servers: its own health reports them (idle until a child starts one).
    const everything = { command: 'node', args: [everythingServerScript, 'stdio'] };
    const worker = await spawnBatonProcess('worker', redis.url, { ...layer, mcp_servers: { everything } });
    processes.push(worker);
    const workerOps = opsUrlOf(worker)!;
    expect(workerOps).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const workerHealth = await health(workerOps);
    expect(workerHealth.status).toBe(200);
    expect(workerHealth.body).toMatchObject({
      ok: true,
      redis: 'ok',
      adapters: {},
      mcp_servers: { everything: { state: 'idle', transport: 'stdio' } },
    });
    const metrics = await (await fetch(`${workerOps}/metrics`)).text();
    expect(metrics).toContain('process_resident_memory_bytes');
    expect(metrics).toContain('baton_queue_jobs');

    await eventually(
      async () =>
        (await botTexts(gateway.consoleUrl!, thread)).some((text) => text.includes('queued child done'))
          ? true
          : undefined,
      30_000,
      'the child to run once a worker is there',
    );
    await eventually(
      async () => ((await health(gatewayOps)).status === 200 ? true : undefined),
      15_000,
      'the gateway to be healthy again',
    );
  });
});

describe('log format', () => {
  it('writes human-readable lines with LOG_FORMAT=pretty and JSON lines by default when piped', async () => {
    const layer = testConfigLayer(fake);
    const pretty = await spawnBatonProcess('worker', redis.url, layer, { LOG_FORMAT: 'pretty' });
    processes.push(pretty);
    const readyLine = pretty
      .output()
      .split('\n')
      .find((line) => line.includes('worker ready'))!;
    expect(readyLine).toMatch(/INFO.*worker ready/);
    expect(readyLine.trim().startsWith('{')).toBe(false);

    const json = await spawnBatonProcess('worker', redis.url, layer);
    processes.push(json);
    const jsonLine = json
      .output()
      .split('\n')
      .find((line) => line.includes('worker ready'))!;
    expect(JSON.parse(jsonLine)).toMatchObject({ msg: 'worker ready', level: 30 });
  });
});
