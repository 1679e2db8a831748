import { afterEach, describe, expect, it } from 'vitest';
import { textReply } from '../fakes/fake-openai-server.ts';
import {
  type BatonProcess,
  eventually,
  spawnBatonProcess,
  testConfigLayer,
} from '../support/baton-harness.ts';
import { createConsoleThread, postConsoleMessage } from '../support/console-client.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake } = useTestEnvironment({ clearScriptAfterEach: true });
let started: BatonProcess | null = null;
afterEach(async () => {
  started?.child.kill('SIGKILL');
  await started?.exited;
  started = null;
});

// The demo toolset exists only for `baton start --demo`: a production model must not be told it may give
// children a toolset that only the offline demo model knows how to use.
describe('baton start', () => {
  it('offers the parent model the configured toolsets, without the demo one', async () => {
    fake.setHandler(() => textReply('ok'));
    started = await spawnBatonProcess('start', redis.url, testConfigLayer(fake, { console: { port: 0 } }));
    const thread = await createConsoleThread(started.consoleUrl!, 'toolsets');
    await postConsoleMessage(started.consoleUrl!, thread, 'what can children use?');
    const request = await eventually(async () => fake.requests[0]);
    const tools = JSON.stringify(request.body?.tools ?? []);
    expect(tools).toContain('delegate_task_async');
    expect(tools).toContain('available: web, terminal, file)');
    expect(tools).not.toMatch(/\bdemo\b/);
  });
});
