import { registerSecret } from '../logging/redact-secrets.ts';
import type { BatonConfig } from './schema.ts';

/** Environment variables that hold credentials whatever the config says. */
const platformSecretNames = [
  'OPENAI_API_KEY',
  'DISCORD_TOKEN',
  'SLACK_BOT_TOKEN',
  'SLACK_APP_TOKEN',
  'SLACK_SIGNING_SECRET',
];

/**
 * Registers every secret a loaded configuration can reach, so no log line or chat message shows one:
 * the keys of every model route (`api_key_env`), the chat platforms' tokens and signing secret, the
 * console token, and the value of every `${ENV}` reference the config files used.
 */
export function registerConfigSecrets(
  config: BatonConfig,
  env: NodeJS.ProcessEnv,
  referencedNames: Iterable<string> = [],
): void {
  const names = new Set<string>(platformSecretNames);
  for (const route of Object.values(config.models.routes))
    for (const name of route.api_key_env) names.add(name);
  for (const name of referencedNames) names.add(name);
  for (const name of names) registerSecret(env[name]);
  registerSecret(config.console.token);
}
