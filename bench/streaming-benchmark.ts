/**
 * Streamed replies (issue 13): how long Baton itself takes to put the model's first text on a platform,
 * and how many platform calls a 1,000-token reply costs, on the console, the fake Discord and the fake
 * Slack. The path measured is Baton's own: the OpenAI model client streaming from the fake model
 * (`stream: true`), the Thread's MessageStream, the real adapter and its client library.
 */

import { ConsoleAdapter } from '../adapters/console/console-adapter.ts';
import { DiscordAdapter } from '../adapters/discord/discord-adapter.ts';
import { SlackAdapter } from '../adapters/slack/slack-adapter.ts';
import { consoleParts } from '../src/cli/compose-gateway.ts';
import type { ChatAdapter, ConversationRef } from '../src/gateway/chat-adapter.ts';
import { MemoryPostProgress } from '../src/gateway/post-progress.ts';
import { Thread } from '../src/gateway/thread.ts';
import { createOpenAIModelClient } from '../src/llm/openai-model-client.ts';
import { createSilentLogger } from '../src/logging/logger.ts';
import { createRedisConnection } from '../src/redis/redis-connection.ts';
import { startFakeDiscordServer } from '../test/fakes/fake-discord-server.ts';
import { startFakeOpenAIServer, textReply } from '../test/fakes/fake-openai-server.ts';
import { fakeSlackWorkspace, startFakeSlackServer } from '../test/fakes/fake-slack-server.ts';
import { RecordingSink } from '../test/fakes/recording-sink.ts';
import {
  type BenchContext,
  type BenchResult,
  benchEnv,
  benchLayer,
  CleanupStack,
  describeLatency,
  figure,
  startRuntime,
  summarize,
} from './support.ts';

/** The gateway's default stream interval (config gateway.stream_interval_ms). */
const streamIntervalMs = 400;
const firstTextSamples = 25;
/** Tokens of the long reply, and the model's pace: 100 tokens a second. */
const longReplyTokens = 1000;
const tokenIntervalMs = 10;

/** Platform writes, as the adapter port names them. */
const writeMethods = new Set(['send', 'edit', 'startStream', 'appendStream', 'stopStream', 'setStatus']);

interface Surface {
  name: string;
  adapter: ChatAdapter;
  newRef(): ConversationRef;
}

/** The adapter with every platform write timed and counted. */
function instrumented(adapter: ChatAdapter, calls: Array<{ method: string; at: number }>): ChatAdapter {
  return new Proxy(adapter, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (typeof property === 'string' && writeMethods.has(property)) {
        return (...args: unknown[]) => {
          calls.push({ method: property, at: performance.now() });
          return (value as (...inner: unknown[]) => unknown).apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
}

/** `count` tokens of about four characters, numbered. */
function tokens(count: number): string {
  return Array.from({ length: count }, (_, index) => `w${index % 1000} `.padStart(5, ' ')).join('');
}

export async function benchStreaming(context: BenchContext): Promise<BenchResult[]> {
  const cleanup = new CleanupStack();
  try {
    const model = await startFakeOpenAIServer({ recordRequests: false });
    cleanup.add('close fake model', () => model.close());
    const runtime = await startRuntime(
      cleanup,
      context.redisUrl,
      benchLayer('streaming', model.baseURL),
      'streaming',
    );
    const modelClient = createOpenAIModelClient({
      models: runtime.config.models,
      redis: runtime.redis,
      keys: runtime.keys,
      env: benchEnv(),
    });
    const logger = createSilentLogger();
    const surfaces: Surface[] = [];
    let counter = 0;
    const next = () => {
      counter += 1;
      return counter;
    };

    const subscriber = createRedisConnection(context.redisUrl, { name: 'bench-console-subscriber' });
    cleanup.add('close console subscriber', () => subscriber.disconnect());
    const consoleAdapter = new ConsoleAdapter({
      config: { ...runtime.config.console, enabled: true, port: 0 },
      ...consoleParts(runtime),
      subscriberRedis: subscriber,
      logger,
    });
    await consoleAdapter.start(new RecordingSink());
    cleanup.add('stop console', () => consoleAdapter.stop());
    surfaces.push({
      name: 'console',
      adapter: consoleAdapter,
      newRef: () => ({ platform: 'console', channel: 'console', thread: `benchstream${next()}` }),
    });

    const discord = await startFakeDiscordServer();
    cleanup.add('close fake discord', () => discord.close());
    const discordAdapter = new DiscordAdapter({
      token: discord.token,
      applicationId: discord.applicationId,
      apiUrl: discord.apiUrl,
      config: { ...runtime.config.discord, guild_ids: [discord.guildId] },
      logger,
    });
    await discordAdapter.start(new RecordingSink());
    cleanup.add('stop discord', () => discordAdapter.stop());
    surfaces.push({
      name: 'discord',
      adapter: discordAdapter,
      newRef: () => {
        const thread = discord.addThread(discord.opsChannelId, `bench ${next()}`);
        return { platform: 'discord', channel: discord.opsChannelId, thread: thread.id };
      },
    });

    const slack = await startFakeSlackServer();
    cleanup.add('close fake slack', () => slack.close());
    const slackAdapter = new SlackAdapter({
      botToken: fakeSlackWorkspace.botToken,
      signingSecret: fakeSlackWorkspace.signingSecret,
      apiUrl: slack.apiUrl,
      config: { ...runtime.config.slack, http_host: '127.0.0.1', http_port: 0 },
      logger,
    });
    await slackAdapter.start(new RecordingSink());
    cleanup.add('stop slack', () => slackAdapter.stop());
    surfaces.push({
      name: 'slack',
      adapter: slackAdapter,
      newRef: () => ({
        platform: 'slack',
        channel: 'C0BENCH',
        thread: `1700000000.${String(next()).padStart(6, '0')}`,
      }),
    });

    /** One streamed reply: the model client's onText feeds the stream; resolves with the timings. */
    const streamOne = async (surface: Surface, tokenCount: number) => {
      const calls: Array<{ method: string; at: number }> = [];
      const adapter = instrumented(surface.adapter, calls);
      const thread = new Thread(adapter, surface.newRef(), {
        progress: new MemoryPostProgress(),
        streamIntervalMs,
      });
      const key = `bench:${next()}`;
      const stream = thread.openStream({
        key,
        // Recorded in Redis as the gateway records it beside the turn checkpoint: before each stream message
        // is created and once it exists, so the first text pays for that write too.
        onRecord: async (record) => {
          await runtime.redis.set(runtime.keys.sessionTurnStream(key), JSON.stringify(record), 'EX', 60);
        },
      });
      model.enqueue(
        textReply(tokens(tokenCount), { streamPieceChars: 5, streamIntervalMs: tokenIntervalMs }),
      );
      let firstTokenAt = 0;
      const response = await modelClient.complete({
        messages: [{ role: 'user', content: 'stream please' }],
        onText: (text) => {
          if (firstTokenAt === 0) firstTokenAt = performance.now();
          stream.setText(text);
        },
      });
      await stream.finish(response.message.content ?? '');
      // The first text waits one stream interval on every platform (edit rates apply to later calls).
      const firstCall = calls.find((call) => call.method !== 'setStatus');
      return {
        overheadMs: firstCall ? firstCall.at - firstTokenAt - streamIntervalMs : Number.NaN,
        calls: calls.length,
        methods: calls.map((call) => call.method),
      };
    };

    const results: BenchResult[] = [];
    const overheads: number[] = [];
    const perPlatform: string[] = [];
    for (const surface of surfaces) {
      const samples: number[] = [];
      // Long enough to outlast the first interval, short enough to keep the run brief.
      for (let index = 0; index < firstTextSamples; index += 1) {
        const sample = await streamOne(surface, 150);
        if (Number.isFinite(sample.overheadMs)) samples.push(Math.max(0, sample.overheadMs));
      }
      overheads.push(...samples);
      const summary = summarize(samples);
      perPlatform.push(`${surface.name} p99 ${summary.p99.toFixed(2)} ms`);
      context.log(`streaming: first text on ${surface.name}: ${describeLatency(summary)}`);

      const long = await streamOne(surface, longReplyTokens);
      const byMethod = new Map<string, number>();
      for (const method of long.methods) byMethod.set(method, (byMethod.get(method) ?? 0) + 1);
      const breakdown = [...byMethod].map(([method, count]) => `${method} ${count}`).join(', ');
      context.log(
        `streaming: ${surface.name} 1,000-token reply: ${long.calls} platform calls (${breakdown})`,
      );
      results.push(
        figure(`stream_calls_per_1000_tokens_${surface.name}`, long.calls, 'calls', {
          decimals: 0,
          notes:
            `one ${longReplyTokens}-token reply streamed at ${1000 / tokenIntervalMs} tokens/s ` +
            `(about ${(longReplyTokens * tokenIntervalMs) / 1000} s), stream interval ${streamIntervalMs} ms` +
            `${surface.name === 'discord' ? ' (edits at most once a second, Discord’s edit rate)' : ''}: ${breakdown}`,
        }),
      );
    }
    const summary = summarize(overheads);
    results.unshift(
      figure('stream_first_text_ms', summary.p99, 'ms', {
        atMost: 50,
        notes:
          `p99 over ${overheads.length} replies (${firstTextSamples} per platform: ${perPlatform.join(', ')}): from the ` +
          `model client's first streamed text to the adapter's first platform call carrying it, minus the ` +
          `deliberate batching interval (${streamIntervalMs} ms); ${describeLatency(summary)}. ` +
          'Shared, busy machine: timer lateness dominates.',
      }),
    );
    return results;
  } finally {
    await cleanup.run();
  }
}
