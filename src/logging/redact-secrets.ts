const knownSecretNames = [
  'OPENAI_API_KEY',
  'DISCORD_TOKEN',
  'SLACK_BOT_TOKEN',
  'SLACK_APP_TOKEN',
  'SLACK_SIGNING_SECRET',
];

/** Patterns of credentials that must never reach a log line or a chat message. */
const secretPatterns: RegExp[] = [
  /\bsk-[A-Za-z0-9_-]{16,}/g, // OpenAI-style keys
  /\bxox[abposr]-[A-Za-z0-9-]{10,}/g, // Slack tokens
  /\bxapp-[A-Za-z0-9-]{10,}/g, // Slack app tokens
  /\b[MNO][A-Za-z\d_-]{23,25}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,}/g, // Discord bot tokens
  /\bBearer\s+[A-Za-z0-9._~+/-]{12,}=*/gi,
];

const extraSecrets = new Set<string>();

/** Registers a secret value (an API key read from the environment) so it is scrubbed wherever it appears. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 8) extraSecrets.add(value);
}

/** Replaces every known secret in `text` with `[redacted]`. */
export function redactSecrets(text: string): string {
  let result = text;
  for (const secret of extraSecrets) result = result.split(secret).join('[redacted]');
  for (const name of knownSecretNames) {
    const value = process.env[name];
    if (value && value.length >= 8) result = result.split(value).join('[redacted]');
  }
  for (const pattern of secretPatterns) result = result.replace(pattern, '[redacted]');
  return result;
}
