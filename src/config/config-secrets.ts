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

/** Variables that hold no credential, given to MCP servers that need them to start. */
const plainEnvironmentNames = new Set([
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'TERM',
  'USER',
  'LOGNAME',
  'SHELL',
  'TMPDIR',
  'TZ',
  'NODE_ENV',
]);

/**
 * Registers every secret a loaded configuration can reach, so no log line or chat message shows one:
 * the keys of every model route (`api_key_env`), the chat platforms' tokens and signing secret, the
 * console token, the environment given to MCP servers, and the value of every `${ENV}` reference the
 * config files used.
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
  // What an MCP server is given is there because it needs it: treated as a credential, except the few
  // variables that locate things (redacting PATH would blank every path in the logs).
  for (const server of Object.values(config.mcp_servers)) {
    if (!('env' in server)) continue;
    for (const name of server.env) if (!plainEnvironmentNames.has(name)) names.add(name);
  }
  for (const name of names) registerSecret(env[name]);
  registerSecret(config.console.token);
}
