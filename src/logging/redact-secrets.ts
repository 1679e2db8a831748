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

/** Shorter values are too likely to be ordinary words to scrub everywhere. */
const minimumSecretLength = 8;

const extraSecrets = new Set<string>();
/** The registered secrets, longest first: a secret that contains another is removed whole. */
let orderedSecrets: string[] = [];

/**
 * Registers a secret value (an API key, a token, a value a `${ENV}` reference brought into the config) so
 * it is scrubbed wherever it appears: in log lines (also as it reads inside JSON) and in chat messages.
 */
export function registerSecret(value: string | undefined | null): void {
  if (!value) return;
  const trimmed = value.trim();
  if (trimmed.length < minimumSecretLength) return;
  if (extraSecrets.has(trimmed)) return;
  extraSecrets.add(trimmed);
  // Inside a JSON log line the value reads escaped (quotes, backslashes, control characters).
  const escaped = JSON.stringify(trimmed).slice(1, -1);
  if (escaped !== trimmed) extraSecrets.add(escaped);
  orderedSecrets = [...extraSecrets].sort((left, right) => right.length - left.length);
}

/** Replaces every known secret in `text` with `[redacted]`. */
export function redactSecrets(text: string): string {
  let result = text;
  for (const secret of orderedSecrets) {
    if (result.includes(secret)) result = result.split(secret).join('[redacted]');
  }
  for (const name of knownSecretNames) {
    const value = process.env[name];
    if (value && value.length >= minimumSecretLength && result.includes(value)) {
      result = result.split(value).join('[redacted]');
    }
  }
  for (const pattern of secretPatterns) result = result.replace(pattern, '[redacted]');
  return result;
}

/** `value` with every string inside it (objects and arrays walked, cycles cut) passed through redactSecrets. */
export function redactSecretsDeep(value: unknown, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => redactSecretsDeep(item, seen));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactSecretsDeep(item, seen)]));
}
