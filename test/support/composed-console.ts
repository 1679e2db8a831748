import type { Browser } from 'playwright-core';
import { afterAll } from 'vitest';
import { type ComposedGateway, composeGateway } from '../../src/cli/compose-gateway.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { launchChromium } from './browser.ts';

/**
 * The gateway `baton start` composes for a runtime (silent logs, no process metrics), with its console, and a
 * headless Chromium to open that console in; both closed after the file's tests, before its runtimes. Call it
 * at the top level after useTestEnvironment, and `start` in a beforeAll.
 */
export function useComposedConsole(): {
  start(
    runtime: BatonRuntime,
    options?: { modelLabel?: string },
  ): Promise<{ composed: ComposedGateway; browser: Browser }>;
} {
  let composed: ComposedGateway | undefined;
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
    await composed?.stop();
  });
  return {
    async start(runtime, options = {}) {
      composed = await composeGateway(
        runtime,
        createMetrics({ processMetrics: false }),
        createSilentLogger(),
        options,
      );
      browser = await launchChromium();
      return { composed, browser };
    },
  };
}
