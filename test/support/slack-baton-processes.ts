import { type FakeSlackServer, fakeSlackWorkspace } from '../fakes/fake-slack-server.ts';
import { type BatonProcess, spawnBatonProcess, trackBatonProcesses } from './baton-harness.ts';

/**
 * Starts real `baton gateway` and `baton worker` processes on the test's Redis and the fake Slack (Socket
 * Mode), each SIGKILLed after its test (trackBatonProcesses): call it after useTestEnvironment. A gateway is
 * returned once its Socket Mode connection is open. `extraEnv` adds other platforms' settings.
 */
export function useSlackBatonProcesses(options: {
  redisUrl: () => string;
  slack: () => FakeSlackServer;
  extraEnv?: () => NodeJS.ProcessEnv;
}): (command: 'gateway' | 'worker', layer: Record<string, unknown>) => Promise<BatonProcess> {
  const processes = trackBatonProcesses();
  // The fake Slack counts every Socket Mode connection of the file, and each gateway opens one.
  let gateways = 0;
  return async (command, layer) => {
    const started = await spawnBatonProcess(command, options.redisUrl(), layer, {
      SLACK_BOT_TOKEN: fakeSlackWorkspace.botToken,
      SLACK_APP_TOKEN: fakeSlackWorkspace.appToken,
      SLACK_API_URL: options.slack().apiUrl,
      ...options.extraEnv?.(),
    });
    processes.push(started);
    if (command === 'gateway') {
      gateways += 1;
      await options.slack().waitForSocket(gateways, 30_000);
    }
    return started;
  };
}
