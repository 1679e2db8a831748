import type { BatonConfig } from '../../src/config/schema.ts';
import type { Logger } from '../../src/logging/logger.ts';
import { SlackAdapter } from './slack-adapter.ts';

/**
 * The Slack adapter when SLACK_BOT_TOKEN is set, else null. SLACK_APP_TOKEN means Socket Mode,
 * SLACK_SIGNING_SECRET (without an app token) HTTP mode; a bot token with neither is a config error.
 * SLACK_API_URL overrides the Web API base (proxies, tests). Empty variables count as unset.
 */
export function slackAdapterFromEnv(
  env: NodeJS.ProcessEnv,
  config: BatonConfig['slack'],
  deps: { logger: Logger },
): SlackAdapter | null {
  const botToken = nonEmpty(env.SLACK_BOT_TOKEN);
  if (!botToken) return null;
  const appToken = nonEmpty(env.SLACK_APP_TOKEN);
  const signingSecret = nonEmpty(env.SLACK_SIGNING_SECRET);
  const apiUrl = nonEmpty(env.SLACK_API_URL);
  return new SlackAdapter({
    botToken,
    ...(appToken ? { appToken } : {}),
    ...(signingSecret ? { signingSecret } : {}),
    ...(apiUrl ? { apiUrl } : {}),
    config,
    logger: deps.logger,
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
