import type { Redis } from 'ioredis';
import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import type { BatonConfig, ModelRouteConfig } from '../config/schema.ts';
import { BatonError, type BatonErrorCode, describeError, isBatonError } from '../errors.ts';
import { createSilentLogger, type Logger } from '../logging/logger.ts';
import { redactSecrets } from '../logging/redact-secrets.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { type ApiKey, ApiKeyPool, fingerprintKey, readApiKeys } from './api-key-pool.ts';
import { toModelResponse } from './completion-response.ts';
import { runModelCallAttempt } from './model-call-attempt.ts';
import { abortableSleep, finalError, throwIfAborted, untilAborted } from './model-call-errors.ts';
import {
  emptyUsage,
  type ModelClient,
  type ModelRequest,
  type ModelResponse,
  type TokenUsage,
} from './model-client.ts';
import { decideRetry, parseRetryAfterMs, retryPolicyFromConfig } from './retry-policy.ts';

/** One finished `complete` call (success or final failure), for metrics. */
export interface ModelCallRecord {
  route: string;
  model: string;
  /** Milliseconds from the first attempt to the end, retries included. */
  latency_ms: number;
  /** Zeros unless the call succeeded and the endpoint reported usage. */
  usage: TokenUsage;
  /** `ok`, or the code of the BatonError the call ended with. */
  outcome: 'ok' | BatonErrorCode;
  /** Last HTTP status received, when any. */
  status?: number;
  attempts: number;
}

export interface OpenAIModelClientOptions {
  models: BatonConfig['models'];
  redis: Redis;
  keys: RedisKeys;
  /** Where `api_key_env` variables are read; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** Called once per call that reached a route (not for an unknown route). */
  onCall?: (record: ModelCallRecord) => void;
}

const openAIBaseURL = 'https://api.openai.com/v1';
/** Local OpenAI-compatible servers (Ollama, vLLM) need no key, but the SDK insists on one. */
const keylessPlaceholder = 'baton-no-api-key';

interface PreparedRoute {
  name: string;
  config: ModelRouteConfig;
  baseURL: string;
  pool: ApiKeyPool;
}

/**
 * The ModelClient over any OpenAI-compatible endpoint: one request per attempt with a per-attempt
 * time-out, retried by the retry policy, rotating a route's keys on 429 with cool-downs shared in Redis.
 */
export function createOpenAIModelClient(options: OpenAIModelClientOptions): ModelClient {
  const { models } = options;
  const env = options.env ?? process.env;
  const logger = options.logger ?? createSilentLogger();
  const policy = retryPolicyFromConfig(models);
  const callTimeoutMs = Math.ceil(models.call_timeout_s * 1000);
  const routes = new Map<string, PreparedRoute>();
  const sdkClients = new Map<string, OpenAI>();

  function prepareRoute(name: string, config: ModelRouteConfig): PreparedRoute {
    const cached = routes.get(name);
    if (cached) return cached;
    let apiKeys = readApiKeys(config.api_key_env, env);
    if (apiKeys.length === 0) {
      if (config.base_url === null) {
        throw new BatonError(
          'model_missing_key',
          `model route "${name}" calls OpenAI but no API key is set: set ${config.api_key_env.join(' or ')}` +
            ' (or OPENAI_BASE_URL for a local OpenAI-compatible server)',
          { fault: 'user' },
        );
      }
      apiKeys = [
        { value: keylessPlaceholder, fingerprint: fingerprintKey(keylessPlaceholder), envName: null },
      ];
    }
    const route: PreparedRoute = {
      name,
      config,
      baseURL: config.base_url ?? openAIBaseURL,
      pool: new ApiKeyPool(name, apiKeys, options.redis, options.keys),
    };
    routes.set(name, route);
    return route;
  }

  function sdkClient(baseURL: string, key: ApiKey): OpenAI {
    const cacheKey = `${baseURL} ${key.fingerprint}`;
    let client = sdkClients.get(cacheKey);
    if (!client) {
      // Retries and time-outs are ours (key rotation, shared cool-downs); the SDK's would fight them.
      client = new OpenAI({ apiKey: key.value, baseURL, maxRetries: 0, timeout: callTimeoutMs + 60_000 });
      sdkClients.set(cacheKey, client);
    }
    return client;
  }

  async function pickKey(route: PreparedRoute, signal: AbortSignal | undefined) {
    // Usually the pool's in-memory view answers (no Redis read, nothing to abort).
    const cached = route.pool.pickCached();
    if (cached) return cached;
    try {
      return await untilAborted(route.pool.pick(), signal);
    } catch (error) {
      if (isBatonError(error, 'aborted')) throw error;
      // Cool-downs only order the keys; without Redis the first key is still worth a try.
      logger.warn({ route: route.name, error: describeError(error) }, 'model key cool-downs unreadable');
      return { key: route.pool.keys[0]!, waitMs: 0 };
    }
  }

  async function complete(request: ModelRequest): Promise<ModelResponse> {
    const routeName = request.route ?? models.default_route;
    const config = models.routes[routeName];
    if (!config) {
      const known = Object.keys(models.routes).join(', ') || 'none';
      throw new BatonError('unknown_route', `unknown model route "${routeName}" (configured: ${known})`, {
        fault: 'user',
      });
    }
    const signal = request.signal;
    const startedAt = performance.now();
    let attempts = 0;
    let lastStatus: number | undefined;
    const report = (outcome: ModelCallRecord['outcome'], usage: TokenUsage = emptyUsage()) =>
      options.onCall?.({
        route: routeName,
        model: config.model,
        latency_ms: Math.round(performance.now() - startedAt),
        usage,
        outcome,
        ...(lastStatus === undefined ? {} : { status: lastStatus }),
        attempts,
      });

    try {
      const route = prepareRoute(routeName, config);
      const body = buildRequestBody(config.model, request);
      let backoffMs = 0;
      let rateLimitedDelayMs: number | undefined;
      for (let attempt = 0; ; attempt += 1) {
        if (backoffMs > 0) await abortableSleep(backoffMs, signal);
        throwIfAborted(signal);
        const picked = await pickKey(route, signal);
        // Every key cooling down (429s seen by any worker): wait for the first to be free, but no
        // longer than this retry's own delay, or the longest backoff on a first attempt.
        const coolingWaitMs = Math.min(
          picked.waitMs,
          rateLimitedDelayMs ?? (attempt === 0 ? policy.maxDelayMs : 0),
        );
        if (coolingWaitMs > 0) await abortableSleep(coolingWaitMs, signal);

        attempts += 1;
        const result = await runModelCallAttempt(sdkClient(route.baseURL, picked.key), body, {
          timeoutMs: callTimeoutMs,
          signal,
          ...(request.onText ? { onText: request.onText } : {}),
        });
        if (result.ok) {
          lastStatus = 200;
          const response = toModelResponse(result.completion, config.model, startedAt);
          if (picked.waitMs > 0) void route.pool.clearCoolDown(picked.key).catch(() => {});
          report('ok', response.usage);
          return response;
        }

        const { failure, error } = result;
        if (failure.kind === 'http') lastStatus = failure.status;
        const decision = decideRetry(failure, attempt, policy);
        const rateLimited = failure.kind === 'http' && failure.status === 429;
        if (rateLimited) {
          const cooldownMs = Math.min(
            parseRetryAfterMs(failure.headers) ?? models.key_cooldown_s * 1000,
            Math.max(models.key_cooldown_s * 1000, policy.retryAfterCapMs),
          );
          const saved = route.pool.coolDown(picked.key, cooldownMs).catch((coolDownError: unknown) => {
            logger.warn(
              { route: routeName, error: describeError(coolDownError) },
              'model key cool-down not saved',
            );
          });
          // Saved before the next pick, so that pick (and every other worker) already skips this key.
          await untilAborted(saved, signal);
        }
        if (!decision.retry) throw finalError(failure, error, route, attempts, models.call_timeout_s);

        // After a 429 the next key of the pool goes at once; the delay applies only if all are cooling.
        backoffMs = rateLimited ? 0 : decision.delayMs;
        rateLimitedDelayMs = rateLimited ? decision.delayMs : undefined;
        logger.warn(
          {
            route: routeName,
            key: picked.key.fingerprint,
            attempt,
            failure: failure.kind,
            status: failure.kind === 'http' ? failure.status : undefined,
            delay_ms: decision.delayMs,
          },
          'model call failed; retrying',
        );
      }
    } catch (error) {
      const batonError =
        error instanceof BatonError
          ? error
          : new BatonError('model_request_failed', redactSecrets(describeError(error)), {
              fault: 'platform',
              cause: error,
            });
      report(batonError.code);
      throw batonError;
    }
  }

  return { complete };
}

function buildRequestBody(model: string, request: ModelRequest): ChatCompletionCreateParamsNonStreaming {
  const tools = request.tools ?? [];
  return {
    model,
    messages: request.messages,
    ...(tools.length === 0
      ? {}
      : {
          tools: tools.map((tool) => ({
            type: 'function' as const,
            function: { name: tool.name, description: tool.description, parameters: tool.parameters },
          })),
        }),
  };
}
