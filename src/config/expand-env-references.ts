const referencePattern = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` and `${NAME:-fallback}` in every string of a parsed YAML tree.
 * A string that is exactly one unset reference without a fallback becomes null, so optional keys stay optional.
 * `used` collects the names whose values went in (their values are treated as secrets in logs); `sources`
 * maps each key path (`console.token`) to the names its string referred to, so an error can name the variable.
 */
export function expandEnvReferences(
  value: unknown,
  env: NodeJS.ProcessEnv,
  missing: string[] = [],
  used: string[] = [],
  sources: Map<string, string[]> = new Map(),
  at: string[] = [],
): unknown {
  if (typeof value === 'string') {
    const names = [...value.matchAll(referencePattern)].map((match) => match[1]!);
    // A later file that sets the key plainly replaces an earlier reference.
    if (names.length > 0) sources.set(at.join('.'), names);
    else sources.delete(at.join('.'));
    const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(value);
    if (whole && env[whole[1]!] === undefined) {
      missing.push(whole[1]!);
      return null;
    }
    return value.replace(referencePattern, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') {
        used.push(name);
        return found;
      }
      if (fallback !== undefined) return fallback;
      missing.push(name);
      return '';
    });
  }
  if (Array.isArray(value)) {
    return value.map((item, index) =>
      expandEnvReferences(item, env, missing, used, sources, [...at, String(index)]),
    );
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        expandEnvReferences(item, env, missing, used, sources, [...at, key]),
      ]),
    );
  }
  return value;
}
