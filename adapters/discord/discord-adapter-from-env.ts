import type { BatonConfig } from '../../src/config/schema.ts';
import { AdapterError } from '../../src/gateway/adapter-error.ts';
import { DiscordAdapter, type DiscordAdapterOptions } from './discord-adapter.ts';

/** What the composition root supplies besides the environment and config. */
export type DiscordAdapterDependencies = Pick<DiscordAdapterOptions, 'logger'>;

/**
 * The Discord adapter when DISCORD_TOKEN is set, else null. DISCORD_APPLICATION_ID is then required;
 * DISCORD_API_URL optionally overrides the REST base (proxies, tests). Errors never quote the token.
 */
export function discordAdapterFromEnv(
  env: NodeJS.ProcessEnv,
  config: BatonConfig['discord'],
  dependencies: DiscordAdapterDependencies,
): DiscordAdapter | null {
  const token = env.DISCORD_TOKEN?.trim();
  if (!token) return null;
  const applicationId = env.DISCORD_APPLICATION_ID?.trim();
  if (!applicationId) {
    throw new AdapterError(
      'config_invalid',
      'DISCORD_TOKEN is set but DISCORD_APPLICATION_ID is not: set it to the Application ID shown on the ' +
        "application's General Information page in the Discord developer portal.",
      { fault: 'user' },
    );
  }
  if (!/^\d{15,21}$/.test(applicationId)) {
    throw new AdapterError(
      'config_invalid',
      'DISCORD_APPLICATION_ID must be a numeric Discord id (a snowflake).',
      {
        fault: 'user',
      },
    );
  }
  const apiUrl = env.DISCORD_API_URL?.trim();
  if (apiUrl && !URL.canParse(apiUrl)) {
    throw new AdapterError('config_invalid', `DISCORD_API_URL is not a URL: ${apiUrl}`, { fault: 'user' });
  }
  return new DiscordAdapter({
    token,
    applicationId,
    ...(apiUrl ? { apiUrl } : {}),
    config,
    ...dependencies,
  });
}
