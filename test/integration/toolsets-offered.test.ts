import { describe, expect, it } from 'vitest';
import { createDemoTools, demoToolsetName } from '../../src/demo/demo-toolset.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { toToolDefinition } from '../../src/tools/tool.ts';
import { buildTestConfig, testCaller, testConfigLayer, testEnv } from '../support/baton-harness.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, redis, startRuntime } = useTestEnvironment();

/** What the parent model is told about the toolsets a child may name, from delegate_task's schema. */
function offeredToolsets(runtime: BatonRuntime): string {
  const delegate = runtime.parentTools().find((tool) => tool.name === 'delegate_task')!;
  return JSON.stringify(toToolDefinition(delegate).parameters).match(/available: ([^)]*)\)/)![1]!;
}

describe('toolsets a runtime offers', () => {
  it('a production runtime offers web, terminal and file: the demo toolset is neither listed nor accepted', async () => {
    const runtime = await startRuntime();
    expect(runtime.service.limits.toolsets).toEqual(['web', 'terminal', 'file']);
    expect(offeredToolsets(runtime)).toBe('web, terminal, file');
    await expect(
      runtime.service.dispatch(testCaller(), [{ goal: 'note progress', toolsets: [demoToolsetName] }]),
    ).rejects.toMatchObject({ code: 'unknown_toolset' });
  });

  it('the demo runtime (baton start --demo) offers the demo toolset beside web', async () => {
    const runtime = new BatonRuntime({
      config: buildTestConfig(testConfigLayer(fake)),
      redisUrl: redis.url,
      logger: createSilentLogger(),
      env: testEnv(),
      extraToolsets: { [demoToolsetName]: createDemoTools },
    });
    try {
      expect(runtime.service.limits.toolsets).toEqual(['web', 'terminal', 'file', demoToolsetName]);
      expect(offeredToolsets(runtime)).toBe('web, terminal, file, demo');
      // The demo toolset's tool, and ask_user, which every child has.
      expect(runtime.toolsFor({ role: 'leaf', depth: 1, toolsets: [demoToolsetName] } as never)).toHaveLength(
        2,
      );
    } finally {
      await runtime.close(0);
    }
  });
});
