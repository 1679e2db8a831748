import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { z } from 'zod';
import {
  estimateUsage,
  splitEvery,
  type WireCompletion,
  writeChatCompletion,
} from '../llm/openai-wire-format.ts';
import { listenOnLoopback } from '../net/listen-on-loopback.ts';
import { type DemoReply, type DemoRequest, decideReply, demoReplyPrefix } from './demo-replies.ts';

/**
 * OFFLINE DEMO MODEL — not a language model. An OpenAI-compatible chat-completions server on
 * 127.0.0.1 that answers by rule, so a newcomer can watch the whole flow (delegation, background
 * children, steering, results posted back) with no API key. It is stateless: every answer is decided
 * from the request's messages and offered tools. Every text it writes starts with "[demo model] ".
 */

/** The model name the demo server reports and lists. */
export const demoModelName = 'baton-demo';

export interface DemoModelServerOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Milliseconds a child's answer takes, so people can steer mid-flight; default 2500. The parent takes a third. */
  stepDelayMs?: number;
}

export interface DemoModelServer {
  /** e.g. `http://127.0.0.1:43123/v1`, for a model route's `base_url`. */
  baseURL: string;
  /** Answers still being prepared (waiting out their delay); 0 once aborted requests are dropped. */
  pendingReplies(): number;
  /** Stops listening, drops every pending answer and open connection. */
  close(): Promise<void>;
}

/** Streamed answers come in pieces of a few words, so clients assemble fragments as from a real model. */
const streamPieceLength = 24;

// Only what the demo reads is checked; everything else a client sends is accepted as is.
const contentSchema = z
  .union([z.string(), z.array(z.object({ type: z.string(), text: z.string().optional() }).loose())])
  .nullish();
const requestSchema = z
  .object({
    model: z.string().optional(),
    messages: z
      .array(
        z
          .object({
            role: z.string(),
            content: contentSchema,
            tool_call_id: z.string().optional(),
            tool_calls: z
              .array(
                z
                  .object({
                    id: z.string(),
                    function: z.object({ name: z.string(), arguments: z.string() }).loose(),
                  })
                  .loose(),
              )
              .nullish(),
          })
          .loose(),
      )
      .min(1),
    tools: z.array(z.object({ function: z.object({ name: z.string() }).loose() }).loose()).nullish(),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullish(),
  })
  .loose();

export async function startDemoModelServer(options: DemoModelServerOptions = {}): Promise<DemoModelServer> {
  const stepDelayMs = options.stepDelayMs ?? 2500;
  const pending = new Set<NodeJS.Timeout>();

  const server = http.createServer((incoming, response) => {
    const path = (incoming.url ?? '/').split('?')[0]!;
    if (incoming.method === 'GET' && path === '/v1/models') {
      sendJson(response, 200, {
        object: 'list',
        data: [{ id: demoModelName, object: 'model', created: 0, owned_by: 'baton-offline-demo' }],
      });
      return;
    }
    if (incoming.method !== 'POST' || path !== '/v1/chat/completions') {
      sendError(response, 404, `no route ${incoming.method} ${path}`);
      return;
    }
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: z.infer<typeof requestSchema>;
      try {
        const parsed = requestSchema.safeParse(JSON.parse(raw));
        if (!parsed.success) {
          sendError(response, 400, `invalid request: ${z.prettifyError(parsed.error)}`);
          return;
        }
        body = parsed.data;
      } catch {
        sendError(response, 400, 'the request body is not JSON');
        return;
      }
      const request = normaliseRequest(body);
      const reply = decideReply(request, stepDelayMs);
      const timer = setTimeout(() => {
        pending.delete(timer);
        if (response.destroyed) return;
        writeChatCompletion(response, toWireCompletion(reply, request.model, raw.length), {
          stream: body.stream === true,
          includeUsage: body.stream_options?.include_usage === true,
          fragments: (value) => splitEvery(value, streamPieceLength),
        });
      }, reply.delayMs);
      pending.add(timer);
      // The client gave up (an aborted call, a cancelled child): drop the answer and its timer.
      response.once('close', () => {
        clearTimeout(timer);
        pending.delete(timer);
      });
    });
  });

  const port = await listenOnLoopback(server, options.port ?? 0);

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    pendingReplies: () => pending.size,
    close() {
      for (const timer of pending) clearTimeout(timer);
      pending.clear();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function normaliseRequest(body: z.infer<typeof requestSchema>): DemoRequest {
  return {
    model: body.model ?? demoModelName,
    messages: body.messages.map((message) => ({
      role: message.role,
      text:
        typeof message.content === 'string'
          ? message.content
          : (message.content ?? []).map((part) => part.text ?? '').join(''),
      toolCalls: (message.tool_calls ?? []).map((call) => ({
        id: call.id,
        name: call.function.name,
        arguments: call.function.arguments,
      })),
      toolCallId: message.tool_call_id,
    })),
    toolNames: new Set((body.tools ?? []).map((tool) => tool.function.name)),
  };
}

function toWireCompletion(reply: DemoReply, model: string, promptChars: number): WireCompletion {
  const toolCalls = reply.toolCalls.map((call) => ({
    id: `call_demo_${randomUUID().replaceAll('-', '').slice(0, 20)}`,
    name: call.name,
    arguments: JSON.stringify(call.arguments),
  }));
  return {
    id: `chatcmpl-demo-${randomUUID()}`,
    created: Math.floor(Date.now() / 1000),
    model,
    content: reply.content,
    toolCalls,
    finishReason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
    usage: estimateUsage(promptChars, reply.content, toolCalls),
  };
}

function sendJson(response: http.ServerResponse, status: number, body: unknown) {
  const payload = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  response.end(payload);
}

function sendError(response: http.ServerResponse, status: number, message: string) {
  sendJson(response, status, {
    error: {
      message: `${demoReplyPrefix}${message}`,
      type: 'invalid_request_error',
      param: null,
      code: null,
    },
  });
}
