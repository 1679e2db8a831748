import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { BatonError } from '../errors.ts';
import { registerConfigSecrets } from './config-secrets.ts';
import { expandEnvReferences } from './expand-env-references.ts';
import { type BatonConfig, batonConfigSchema } from './schema.ts';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const defaultConfigPath = path.join(projectRoot, 'config/default.yaml');

type PlainObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is PlainObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Objects merge key by key; anything else (arrays included) is replaced by the later layer. */
export function mergeLayers(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override === undefined ? base : override;
  const merged: PlainObject = { ...base };
  for (const [key, value] of Object.entries(override)) merged[key] = mergeLayers(base[key], value);
  return merged;
}

function readYamlLayer(
  filePath: string,
  env: NodeJS.ProcessEnv,
  used: string[] = [],
  sources: Map<string, string[]> = new Map(),
): PlainObject {
  if (!existsSync(filePath)) {
    throw new BatonError('config_invalid', `config file not found: ${filePath}`, { fault: 'user' });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(filePath, 'utf8'));
  } catch (error) {
    throw new BatonError('config_invalid', `config file ${filePath} is not valid YAML: ${String(error)}`, {
      fault: 'user',
      cause: error,
    });
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlainObject(parsed)) {
    throw new BatonError('config_invalid', `config file ${filePath} must hold a mapping at the top`, {
      fault: 'user',
    });
  }
  return expandEnvReferences(parsed, env, [], used, sources) as PlainObject;
}

/** The environment variables of the design, as a config layer. Secrets are not copied: they are read by name. */
function environmentLayer(env: NodeJS.ProcessEnv, routeName: string): PlainObject {
  const layer: PlainObject = {};
  const set = (keys: string[], value: unknown) => {
    let node = layer;
    for (const key of keys.slice(0, -1)) {
      node[key] = isPlainObject(node[key]) ? node[key] : {};
      node = node[key] as PlainObject;
    }
    node[keys.at(-1)!] = value;
  };
  if (env.REDIS_URL) set(['redis', 'url'], env.REDIS_URL);
  if (env.OPENAI_BASE_URL) set(['models', 'routes', routeName, 'base_url'], env.OPENAI_BASE_URL);
  if (env.BATON_MODEL) set(['models', 'routes', routeName, 'model'], env.BATON_MODEL);
  if (env.BATON_CONSOLE_PORT) {
    const port = Number(env.BATON_CONSOLE_PORT);
    set(['console', 'port'], Number.isInteger(port) ? port : env.BATON_CONSOLE_PORT);
  }
  if (env.BATON_OPS_PORT) {
    const port = Number(env.BATON_OPS_PORT);
    set(['ops', 'port'], Number.isInteger(port) ? port : env.BATON_OPS_PORT);
  }
  if (env.LOG_LEVEL) set(['log', 'level'], env.LOG_LEVEL);
  if (env.LOG_FORMAT) set(['log', 'format'], env.LOG_FORMAT.trim().toLowerCase());
  return layer;
}

/** ` (set from ${NAME})` for a key whose value came from environment variables, else nothing. */
function fromNote(sources: Map<string, string[]>, key: string): string {
  const names = sources.get(key);
  return names ? ` (set from ${names.map((name) => `\${${name}}`).join(', ')})` : '';
}

/** One line per issue; a key whose value came from `${NAME}` names the variable, which is what to fix. */
function formatConfigIssues(issues: z.core.$ZodIssue[], sources: Map<string, string[]>): string {
  return issues
    .map((issue) => {
      const key = issue.path.join('.');
      return `  - ${key.length > 0 ? key : '(top level)'}${fromNote(sources, key)}: ${issue.message}`;
    })
    .join('\n');
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Extra layer applied after the files and before the environment (tests use it). */
  overrides?: unknown;
}

/**
 * Loads `config/default.yaml`, then the file named by `BATON_CONFIG`, then the environment variables,
 * and validates the result once. Every invalid key is reported by path.
 */
export function loadConfig(options: LoadConfigOptions = {}): BatonConfig {
  const env = options.env ?? process.env;
  const referencedNames: string[] = [];
  const sources = new Map<string, string[]>();
  let merged = mergeLayers({}, readYamlLayer(defaultConfigPath, env, referencedNames, sources));
  if (env.BATON_CONFIG) {
    merged = mergeLayers(
      merged,
      readYamlLayer(path.resolve(env.BATON_CONFIG), env, referencedNames, sources),
    );
  }
  if (options.overrides !== undefined) merged = mergeLayers(merged, options.overrides);
  const routeName =
    isPlainObject(merged) && isPlainObject(merged.models) && typeof merged.models.default_route === 'string'
      ? merged.models.default_route
      : 'default';
  merged = mergeLayers(merged, environmentLayer(env, routeName));
  const config = validateConfig(merged, sources);
  registerConfigSecrets(config, env, referencedNames);
  return config;
}

function validateConfig(candidate: unknown, sources: Map<string, string[]>): BatonConfig {
  const result = batonConfigSchema.safeParse(candidate);
  if (!result.success) {
    throw new BatonError(
      'config_invalid',
      `invalid configuration:\n${formatConfigIssues(result.error.issues, sources)}`,
      {
        fault: 'user',
      },
    );
  }
  const config = result.data;
  const problems: string[] = [];
  if (!config.models.routes[config.models.default_route]) {
    problems.push(
      `  - models.default_route: no route named "${config.models.default_route}" in models.routes`,
    );
  }
  if (config.redis.sentinels.length > 0 && config.redis.sentinel_name === null) {
    problems.push(
      '  - redis.sentinel_name: required with redis.sentinels (the name in `sentinel monitor <name>`)',
    );
  }
  const delegationRoute = config.delegation.default_route;
  if (delegationRoute !== null && !config.models.routes[delegationRoute]) {
    problems.push(`  - delegation.default_route: no route named "${delegationRoute}" in models.routes`);
  }
  if (config.delegation.collect_default_timeout_s > config.delegation.collect_max_timeout_s) {
    problems.push(
      '  - delegation.collect_default_timeout_s: must not exceed delegation.collect_max_timeout_s',
    );
  }
  if (
    config.console.host !== '127.0.0.1' &&
    config.console.host !== 'localhost' &&
    config.console.host !== '::1'
  ) {
    if (config.console.token === null) {
      problems.push(
        `  - console.token${fromNote(sources, 'console.token')}: required when console.host is not a loopback address`,
      );
    }
  }
  if (problems.length > 0) {
    throw new BatonError('config_invalid', `invalid configuration:\n${problems.join('\n')}`, {
      fault: 'user',
    });
  }
  return config;
}
