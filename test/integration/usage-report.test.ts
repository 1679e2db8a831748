import { afterEach, describe, expect, it } from 'vitest';
import { AccessPolicy } from '../../src/gateway/access-policy.ts';
import { CommandRouter, parseCommand } from '../../src/gateway/command-router.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { loadLuaScript } from '../../src/redis/lua-script.ts';
import { scopeNames } from '../../src/usage/usage-ledger.ts';
import { usageOverview, usageReportText } from '../../src/usage/usage-report.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, eventually, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { inboundMessage, startTestGateway } from '../support/gateway-harness.ts';
import { scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
const gateways: Gateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.stop();
});

const price = { input: 1, cached_input: 0.1, output: 4 };

describe('usage reports', () => {
  it('parses `usage` and nothing after it', () => {
    expect(parseCommand('usage')).toEqual({ name: 'usage' });
    expect(parseCommand('  USAGE ')).toEqual({ name: 'usage' });
    expect(parseCommand('usage me')).toEqual({ error: 'Usage: usage' });
  });

  it("counts a child's model calls in the scripts that end its steps, with no usage script of their own", async () => {
    const runtime = await startRuntime(
      buildTestConfig(testConfigLayer(fake, { models: { routes: { default: { price } } } })),
    );
    // The usage script is loaded by its first run: after the flush, only a run of it can bring it back.
    await runtime.redis.script('FLUSH');
    const recordUsage = loadLuaScript(new URL('../../src/usage/lua/', import.meta.url), 'record-usage');
    await runtime.startWorker();
    let call = 0;
    fake.setHandler(() => {
      call += 1;
      // Step 1 asks for a tool (its usage goes with the checkpoint), step 2 answers (with the completion).
      return call === 1
        ? toolCallReply([{ name: 'missing_tool', arguments: {} }], {
            usage: { prompt_tokens: 100, completion_tokens: 10 },
          })
        : textReply('done', { usage: { prompt_tokens: 200, completion_tokens: 20 } });
    });
    const [task] = await runtime.service.dispatch(testCaller('step-usage-thread'), [{ goal: 'two steps' }]);
    await runtime.service.waitForEnd([task!.id], 15_000);

    expect((await runtime.store.get(task!.id))?.status).toBe('completed');
    for (const scope of [scopeNames.task(task!.id), scopeNames.user('test', 'u1'), scopeNames.all()]) {
      expect(await runtime.usage.total(scope, 1)).toMatchObject({ input: 300, output: 30, calls: 2 });
    }
    expect(await runtime.redis.script('EXISTS', recordUsage.sha)).toEqual([0]);
  });

  it('counts parent turns and children per person, channel, task and route, and reports them', async () => {
    const runtime = await startRuntime(
      buildTestConfig(testConfigLayer(fake, { models: { routes: { default: { price } } } })),
    );
    await runtime.startWorker();
    const { gateway, adapter } = await startTestGateway(runtime);
    gateways.push(gateway);
    fake.setHandler(
      scriptByGoal(
        {
          'count the logs': () =>
            textReply('42 logs', { usage: { prompt_tokens: 1000, completion_tokens: 100 } }),
        },
        () =>
          textReply('hello', { usage: { prompt_tokens: 300, cached_tokens: 200, completion_tokens: 20 } }),
      ),
    );
    // A parent turn, through the real gateway.
    await gateway.onMessage(inboundMessage('usage-thread', 'hi'));
    await eventually(async () => adapter.textsIn('usage-thread')[0], 15_000, 'the reply');
    // A child of the same person and channel.
    const [task] = await runtime.service.dispatch(testCaller('usage-thread'), [{ goal: 'count the logs' }]);
    await runtime.service.waitForEnd([task!.id], 15_000);

    const user = await runtime.usage.total(scopeNames.user('test', 'u1'), 30);
    expect(user).toMatchObject({ input: 1100, cached: 200, output: 120, calls: 2 });
    // 1,100 input at 1, 200 cached at 0.1, 120 output at 4, per million.
    expect(user.cost).toBeCloseTo((1100 + 20 + 480) / 1_000_000, 12);
    expect(await runtime.usage.total(scopeNames.task(task!.id), 1)).toMatchObject({
      input: 1000,
      output: 100,
    });

    const router = new CommandRouter({
      service: runtime.service,
      store: runtime.store,
      access: new AccessPolicy(runtime.config.access),
      usageReport: (who, ref) =>
        usageReportText({
          ledger: runtime.usage,
          store: runtime.store,
          quotas: { ...runtime.config.quotas, daily_tokens_per_user: 10_000 },
          platform: ref.platform,
          channel: ref.channel,
          user: who.id,
          userName: who.name,
        }),
    });
    const reply = await router.handle({
      user: { id: 'u1', name: 'Ada', roleIds: [], trusted: true },
      ref: { platform: 'test', channel: 'c1', thread: 'usage-thread' },
      text: 'usage',
    });
    expect(reply.ephemeral).toBe(true);
    expect(reply.text).toContain(
      'You (Ada) today: 1,420 tokens (in 1,100 · cached 200 · out 120) · cost 0.0016',
    );
    expect(reply.text).toContain('This channel, last 30 days: 1,420 tokens');
    expect(reply.text).toContain(
      `• ${task!.id} · count the logs · 1,100 tokens (in 1,000 · cached 0 · out 100)`,
    );
    expect(reply.text).toContain('Daily budgets: your tokens 1,420 of 10,000');

    // The console's overview and /metrics read the same ledger.
    const overview = await usageOverview(runtime.usage);
    expect(overview.today.users['test:u1']).toMatchObject({ input: 1100, cached: 200, output: 120 });
    expect(overview.last30Days.channels['test:c1']?.calls).toBe(2);
    expect(overview.today.tasks[task!.id]?.output).toBe(100);
    const metrics = createMetrics({
      processMetrics: false,
      usageByRoute: async () => ({ today: overview.today.routes, last_30_days: overview.last30Days.routes }),
    });
    const text = await metrics.render();
    expect(text).toContain('baton_usage_tokens{route="default",kind="input",period="today"} 1100');
    expect(text).toContain('baton_usage_tokens{route="default",kind="cached",period="last_30_days"} 200');
    expect(text).toMatch(/baton_usage_cost\{route="default",period="today"\} 0\.0016/);
  });
});
