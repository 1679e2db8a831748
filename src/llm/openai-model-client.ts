import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { z } from 'zod';
import type { BatonConfig, ModelRouteConfig } from '../config/schema.ts';
import { BatonError, type BatonErrorCode, describeError } from '../errors.ts';
import { createSilentLogger, type Logger } from '../logging/logger.ts';
import { redactSecrets } from '../logging/redact-secrets.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { type ApiKey, ApiKeyPool, fingerprintKey, readApiKeys } from './api-key-pool.ts';
import {
  emptyUsage,
  type ModelClient,
  type ModelRequest,
  type ModelResponse,
  type TokenUsage,
  type ToolCall,
} from './model-client.ts';
import {
  type AttemptFailure,
  decideRetry,
  parseRetryAfterMs,
  retryPolicyFromConfig,
} from './retry-policy.ts';

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

/** What Baton reads from a chat completion, checked at the edge because compatible servers vary. */
const completionSchema = z.object({
  model: z.string().optional(),
  choices: z
    .array(
      z.object({
        finish_reason: z.string().nullish(),
        message: z.object({
          content: z.string().nullish(),
          tool_calls: z
            .array(
              z.object({
                id: z.string(),
                type: z.string(),
                function: z.object({ name: z.string(), arguments: z.string() }).optional(),
              }),
            )
            .nullish(),
        }),
      }),
    )
    .min(1),
  usage: z
    .object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number().optional() })
    .nullish(),
});

interface PreparedRoute {
  name: string;
  config: ModelRouteConfig;
  baseURL: string;
  pool: ApiKeyPool;
}

type AttemptResult =
  | { ok: true; completion: ParsedCompletion }
  | { ok: false; failure: AttemptFailure; error: unknown };

type ParsedCompletion = z.infer<typeof completionSchema>;

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
          `model route "${name}" calls OpenAI but no API key is set: set OPENAI_API_KEY (or one of ${config.api_key_env.join(', ')})`,
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

  async function runAttempt(
    route: PreparedRoute,
    key: ApiKey,
    body: ChatCompletionCreateParamsNonStreaming,
    callerSignal: AbortSignal | undefined,
  ): Promise<AttemptResult> {
    // One controller per attempt, cleared afterwards, so neither timers nor listeners outlive it.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, callTimeoutMs);
    const onCallerAbort = () => controller.abort();
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    try {
      const completion = await sdkClient(route.baseURL, key).chat.completions.create(body, {
        signal: controller.signal,
      });
      const parsed = completionSchema.safeParse(completion);
      if (!parsed.success) return { ok: false, failure: { kind: 'invalid_response' }, error: parsed.error };
      return { ok: true, completion: parsed.data };
    } catch (error) {
      if (callerSignal?.aborted) return { ok: false, failure: { kind: 'aborted' }, error };
      if (timedOut) return { ok: false, failure: { kind: 'timeout' }, error };
      return { ok: false, failure: classifyError(error), error };
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    }
  }

  async function pickKey(route: PreparedRoute, signal: AbortSignal | undefined) {
    // Usually the pool's in-memory view answers (no Redis read, nothing to abort).
    const cached = route.pool.pickCached();
    if (cached) return cached;
    try {
      return await untilAborted(route.pool.pick(), signal);
    } catch (error) {
      if (isBatonAbort(error)) throw error;
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
        const result = await runAttempt(route, picked.key, body, signal);
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
        if (failure.kind === 'http' && failure.status === 429) {
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
        const rateLimited = failure.kind === 'http' && failure.status === 429;
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

/** Sorts what the SDK threw; the caller's abort and our time-out are told apart before this. */
function classifyError(error: unknown): AttemptFailure {
  if (error instanceof OpenAI.APIUserAbortError || error instanceof OpenAI.APIConnectionError) {
    return { kind: 'connection' };
  }
  if (error instanceof OpenAI.APIError && typeof error.status === 'number') {
    return { kind: 'http', status: error.status, headers: error.headers };
  }
  // undici reports a connection dropped mid-body as `TypeError: terminated`.
  if (error instanceof TypeError) return { kind: 'connection' };
  return { kind: 'invalid_response' };
}

function toModelResponse(
  completion: ParsedCompletion,
  requestedModel: string,
  startedAt: number,
): ModelResponse {
  const choice = completion.choices[0]!;
  const toolCalls: ToolCall[] = (choice.message.tool_calls ?? []).flatMap((call) =>
    call.type === 'function' && call.function
      ? [
          {
            id: call.id,
            type: 'function' as const,
            function: { name: call.function.name, arguments: call.function.arguments },
          },
        ]
      : [],
  );
  const usage = completion.usage;
  return {
    message: {
      role: 'assistant',
      content: choice.message.content ?? null,
      ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
    },
    finish_reason: choice.finish_reason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop'),
    usage: usage
      ? {
          prompt_tokens: usage.prompt_tokens,
          completion_tokens: usage.completion_tokens,
          total_tokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens,
        }
      : emptyUsage(),
    model: completion.model ?? requestedModel,
    latency_ms: Math.round(performance.now() - startedAt),
  };
}

function finalError(
  failure: AttemptFailure,
  error: unknown,
  route: PreparedRoute,
  attempts: number,
  callTimeoutS: number,
): BatonError {
  const where = `model route "${route.name}" (${route.config.model})`;
  const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
  switch (failure.kind) {
    case 'aborted':
      return abortedError();
    case 'timeout':
      return new BatonError(
        'model_timeout',
        `${where} timed out: no answer within ${callTimeoutS} s (${tries})`,
        {
          fault: 'platform',
          cause: error,
        },
      );
    case 'http': {
      const code = failure.status === 429 ? 'model_rate_limited' : 'model_request_failed';
      // The SDK's message is "<status> <server's message>"; servers sometimes quote part of the key.
      return new BatonError(code, redactSecrets(`${where} failed after ${tries}: ${describeError(error)}`), {
        fault: 'platform',
        cause: error,
      });
    }
    case 'connection':
      return new BatonError(
        'model_request_failed',
        redactSecrets(`${where} could not be reached after ${tries}: ${describeError(error)}`),
        { fault: 'platform', cause: error },
      );
    case 'invalid_response':
      return new BatonError(
        'model_request_failed',
        redactSecrets(`${where} answered with a malformed response (${tries}): ${describeError(error)}`),
        { fault: 'platform', cause: error },
      );
  }
}

function abortedError(): BatonError {
  return new BatonError('aborted', 'the model call was aborted', { fault: 'user' });
}

function isBatonAbort(error: unknown): error is BatonError {
  return error instanceof BatonError && error.code === 'aborted';
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedError();
}

async function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch (error) {
    if (signal?.aborted) throw abortedError();
    throw error;
  }
}

/** Settles with `promise`, or rejects with `aborted` as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  throwIfAborted(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
