import { z } from 'zod';
import { estimatedTokenBits, minimumTokenBits } from './token-entropy.ts';

const positiveInteger = z.number().int().positive();

/** Node runs a timer longer than 2^31-1 ms (about 24.8 days) at once, so no duration may exceed it. */
export const maxTimerMs = 2 ** 31 - 1;
const seconds = z
  .number()
  .positive()
  .max(Math.floor(maxTimerMs / 1000), 'at most 2147483 s (about 24.8 days, the longest timer Node can set)');
const milliseconds = positiveInteger.max(
  maxTimerMs,
  'at most 2147483647 ms (about 24.8 days, the longest timer Node can set)',
);

/** A shared secret people type or paste: long, no spaces, and not one character repeated. */
const consoleToken = z
  .string()
  .min(16, 'at least 16 characters (generate one with `openssl rand -hex 32`)')
  .regex(/^\S+$/, 'no spaces or other blank characters')
  .refine(
    (token) => estimatedTokenBits(token) >= minimumTokenBits,
    'too guessable: use at least 16 different characters, e.g. `openssl rand -hex 32`',
  );

const modelRouteSchema = z.strictObject({
  /** Model name sent to the endpoint. */
  model: z.string().min(1),
  /** OpenAI-compatible base URL; null means the OpenAI default. */
  base_url: z.url().nullable().default(null),
  /** Names of environment variables holding API keys; several form a pool rotated on 429. */
  api_key_env: z.array(z.string().min(1)).min(1).default(['OPENAI_API_KEY']),
  /** Price per million tokens, for usage reports and cost budgets; null = free (cost 0). */
  price: z
    .strictObject({
      input: z.number().min(0),
      /** Prompt tokens the provider served from its cache; null = the input price. */
      cached_input: z.number().min(0).nullable().default(null),
      output: z.number().min(0),
    })
    .nullish(),
});

const redisSchema = z.strictObject({
  url: z.string().nullable().default(null),
  prefix: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, dot, dash and underscore only')
    .default('baton'),
  local_data_dir: z.string().min(1).default('.baton/redis'),
  retention_days: z
    .number()
    .min(1 / 1440, 'at least 1/1440 of a day (one minute): Redis expiries are whole seconds')
    .max(36_500, 'at most 36500 days')
    .default(30),
  startup_timeout_s: seconds.default(5),
  /** Sentinels (`host:port`) that know the master; when set, Baton asks them where the master is. */
  sentinels: z.array(z.string().regex(/^\S+:\d{1,5}$/, 'host:port')).default([]),
  /** The master's name as the sentinels know it (`sentinel monitor <name> …`). */
  sentinel_name: z.string().min(1).nullable().default(null),
});

const modelsSchema = z.strictObject({
  default_route: z.string().min(1).default('default'),
  call_timeout_s: seconds.default(120),
  max_retries: z.number().int().min(0).default(4),
  retry_base_delay_ms: milliseconds.default(500),
  retry_max_delay_ms: milliseconds.default(30_000),
  key_cooldown_s: seconds.default(60),
  routes: z.record(z.string().min(1), modelRouteSchema).default({
    default: { model: 'gpt-5-mini', base_url: null, api_key_env: ['OPENAI_API_KEY'] },
  }),
});

const delegationSchema = z.strictObject({
  max_spawn_depth: positiveInteger.default(1),
  /** Queued + running tasks per conversation (maxActiveTasksPerConversation in code); the key name is kept. */
  max_concurrent_children: positiveInteger.default(8),
  max_batch_size: positiveInteger.default(5),
  max_iterations: positiveInteger.default(30),
  child_timeout_s: seconds.default(1800),
  tool_timeout_s: seconds.default(120),
  max_summary_chars: positiveInteger.default(4000),
  default_toolsets: z.array(z.string().min(1)).default(['web']),
  default_route: z.string().min(1).nullable().default(null),
  announce: z.enum(['result', 'parent', 'silent']).default('result'),
  collect_default_timeout_s: seconds.default(300),
  collect_max_timeout_s: seconds.default(900),
  cancel_wait_s: seconds.default(15),
  max_events_per_task: positiveInteger.default(500),
  max_tokens_per_task: positiveInteger.nullable().default(null),
  /** Tasks of one conversation parked waiting for a person (ask_user, approvals) at once; they hold no worker. */
  max_parked_per_session: positiveInteger.default(50),
  /** How long an ask_user question waits for an answer when the child gives no timeout_s. */
  ask_user_timeout_s: seconds.default(86_400),
});

const optionalLimit = positiveInteger.nullable();
const optionalAmount = z.number().positive().nullable();

const quotasSchema = z.strictObject({
  max_active_tasks_per_user: optionalLimit.default(16),
  max_active_tasks_per_channel: optionalLimit.default(64),
  max_active_tasks: optionalLimit.default(1000),
  max_queued_tasks: optionalLimit.default(5000),
  max_turns_per_user: optionalLimit.default(4),
  daily_tokens_per_user: optionalLimit.default(null),
  daily_cost_per_user: optionalAmount.default(null),
  daily_tokens_per_channel: optionalLimit.default(null),
  daily_cost_per_channel: optionalAmount.default(null),
});

const workerSchema = z.strictObject({
  concurrency: positiveInteger.default(50),
  lock_duration_ms: milliseconds.default(3000),
  stalled_interval_ms: milliseconds.default(1000),
  max_stalled_count: z.number().int().min(0).default(20),
  shutdown_grace_s: seconds.default(10),
  global_concurrency: positiveInteger.nullable().default(null),
  start_rate_max: positiveInteger.nullable().default(null),
  start_rate_window_ms: milliseconds.default(1000),
});

const fetchUrlSchema = z.strictObject({
  timeout_s: seconds.default(20),
  max_bytes: positiveInteger.default(2_000_000),
  max_chars: positiveInteger.default(20_000),
  max_html_chars: positiveInteger.default(1_000_000),
  convert_timeout_s: seconds.default(10),
  allow_private_addresses: z.boolean().default(false),
});

/** A regular expression as text; checked when the config loads, so a typo is reported by its path. */
const regexText = z
  .string()
  .min(1)
  .superRefine((source, context) => {
    try {
      new RegExp(source);
    } catch (error) {
      context.addIssue({
        code: 'custom',
        message: `not a valid regular expression: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  });

const terminalSchema = z.strictObject({
  /**
   * With `terminal` in approvals.required_for: only commands matching one of these (JavaScript regular
   * expressions) need approval. Empty: every command does.
   */
  approve_patterns: z.array(regexText).default([]),
  /** `bubblewrap` runs every command in a sandbox; `none` (an explicit opt-in, warned at start) runs it bare. */
  sandbox: z.enum(['bubblewrap', 'none']).default('bubblewrap'),
  /** Whether commands reach the network (off: a private network namespace with only loopback). */
  network: z.boolean().default(false),
  /** Names of environment variables passed to commands besides PATH, HOME and LANG. */
  env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')).default([]),
  /** Default and longest wall time of one command, in seconds. */
  timeout_s: seconds.default(120),
  max_timeout_s: seconds.default(900),
  /** Longest stdout plus stderr returned, in characters; head and tail kept when cut. */
  max_output_chars: positiveInteger.default(30_000),
  /** CPU seconds of one command (each process). */
  cpu_s: positiveInteger.default(600),
  /** Address space of each process, in MB. */
  memory_mb: positiveInteger.default(4096),
  /** Processes (and threads) of one command at once. */
  max_processes: positiveInteger.default(256),
  /** Largest file a command may write, in MB. */
  max_file_size_mb: positiveInteger.default(1024),
});

const toolsSchema = z.strictObject({
  fetch_url: fetchUrlSchema.default(fetchUrlSchema.parse({})),
  terminal: terminalSchema.default(terminalSchema.parse({})),
});

const approvalsSchema = z.strictObject({
  /** Tools (as the model sees them: `terminal`, `write_file`, `<server>__<tool>`) that need a person's approval. */
  required_for: z.array(z.string().min(1)).default([]),
  /** Who may approve or deny: the task's owner (and admins), admins only, or anyone allowed in its channel. */
  approvers: z.enum(['owner', 'admins', 'channel']).default('owner'),
  /** No decision within this long is a denial. */
  timeout_s: seconds.default(86_400),
});

const workspaceNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, dot, dash and underscore, at most 64');

const workspaceSourceSchema = z.strictObject({
  /** A path to a git repository, or a git URL. */
  source: z.string().min(1),
  /** The branch children start from and merges go into; null = the source's HEAD branch. */
  ref: z.string().min(1).nullable().default(null),
  /** `branch`: a completed child's change is pushed to the source as branch baton/<task_id>. */
  merge: z.enum(['branch', 'none']).default('none'),
});

const workspaceSchema = z.strictObject({
  /** Where task snapshots live: a bare repository path (created if missing) or a git remote URL. */
  store: z.string().min(1).default('.baton/workspaces.git'),
  /** Where task worktrees are checked out on this machine. */
  root: z.string().min(1).default('.baton/worktrees'),
  /**
   * How task checkouts are made: `overlay` (one shared checkout per commit under a per-task overlayfs
   * layer; needs the right to mount), `worktree` (a full git worktree per task), `auto` (overlay where it
   * can be mounted, else worktree with a warning).
   */
  checkout: z.enum(['auto', 'overlay', 'worktree']).default('auto'),
});

/** An environment variable's name, as a shell would accept it. */
const environmentName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');

/** What every MCP server entry has, whichever transport reaches it. */
const mcpServerCommon = {
  /** Allow-list of the server's tool names the children see; null = all of them. */
  tools: z.array(z.string().min(1)).nullable().default(null),
  /** Longest one request to the server (a tool call, a listing) may take, in seconds. */
  timeout_s: seconds.default(60),
  /** Tools that need a person's approval before each call (approvals.*: who may approve, time-out). */
  approval: z.array(z.string().min(1)).default([]),
};

/** An MCP server Baton starts itself and talks to over stdin/stdout. */
const mcpStdioServerSchema = z.strictObject({
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  cwd: z.string().min(1).nullable().default(null),
  /** The only environment variables the server gets from Baton's environment (none by default). */
  env: z.array(environmentName).default([]),
  ...mcpServerCommon,
});

/** An MCP server already running, reached over Streamable HTTP. */
const mcpHttpServerSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'an absolute http:// or https:// URL' }),
  /** Request headers; write secrets as ${ENV} references, which are expanded when the config loads. */
  headers: z.record(z.string().min(1), z.string()).default({}),
  ...mcpServerCommon,
});

export const mcpServerSchema = z.union([mcpStdioServerSchema, mcpHttpServerSchema], {
  error:
    'either a stdio server (command, args?, cwd?, env?) or a Streamable HTTP server (url, headers?), ' +
    'each with tools?, timeout_s?, approval?',
});

/** Server names become toolset names (`mcp:<name>`) and tool name prefixes (`<name>__<tool>`). */
export const mcpServerNamePattern = /^[A-Za-z0-9_-]{1,32}$/;

const accessSchema = z.strictObject({
  allowed_users: z.array(z.string()).default([]),
  allowed_roles: z.array(z.string()).default([]),
  allowed_channels: z.array(z.string()).default([]),
  allowed_guilds: z.array(z.string()).default([]),
  admin_users: z.array(z.string()).default([]),
  admin_roles: z.array(z.string()).default([]),
  task_control: z.enum(['owner', 'channel', 'admins']).default('owner'),
});

const consoleSchema = z.strictObject({
  enabled: z.boolean().default(true),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535).default(8787),
  token: consoleToken.nullable().default(null),
});

const gatewaySchema = z.strictObject({
  history_token_budget: positiveInteger.default(24_000),
  max_history_messages: positiveInteger.default(400),
  max_concurrent_turns: positiveInteger.default(64),
  parent_max_iterations: positiveInteger.default(12),
  parent_route: z.string().min(1).nullable().default(null),
  board_interval_ms: milliseconds.min(250).default(2000),
  delivery_max_attempts: positiveInteger.default(12),
  stream_replies: z.boolean().default(true),
  stream_interval_ms: milliseconds.min(100).max(5000).default(400),
});

const discordSchema = z.strictObject({
  /** Register slash commands in these guilds (instant) instead of globally (can take up to an hour). */
  guild_ids: z.array(z.string().regex(/^\d+$/, 'a Discord snowflake id')).default([]),
  /** Name of threads the bot creates, before the first words of the request. */
  thread_name_prefix: z.string().max(40).default(''),
});

const slackSchema = z.strictObject({
  /** Inside a thread the bot owns, require a mention for a message to be a turn. */
  require_mention_in_threads: z.boolean().default(false),
  /** HTTP mode (SLACK_SIGNING_SECRET): where events and commands arrive, at /slack/events. */
  http_host: z.string().min(1).default('0.0.0.0'),
  http_port: z.number().int().min(0).max(65_535).default(3000),
  /** The slash command registered in the app manifest. */
  command: z
    .string()
    .regex(/^\/[a-z0-9_-]+$/)
    .default('/baton'),
});

const opsSchema = z.strictObject({
  /** The ops endpoint (/healthz, /metrics) every process serves. */
  host: z.string().min(1).default('127.0.0.1'),
  /** 0 = any free port (several processes on one machine); the URL is logged at start. */
  port: z.number().int().min(0).max(65_535).default(0),
  /** Longest a graceful stop may take before the process stops at once. */
  shutdown_timeout_s: seconds.default(30),
});

const logSchema = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  format: z.enum(['auto', 'pretty', 'json']).default('auto'),
});

/** The whole validated configuration; `config/default.yaml` documents every key. */
export const batonConfigSchema = z.strictObject({
  redis: redisSchema.default(redisSchema.parse({})),
  models: modelsSchema.default(modelsSchema.parse({})),
  delegation: delegationSchema.default(delegationSchema.parse({})),
  quotas: quotasSchema.default(quotasSchema.parse({})),
  worker: workerSchema.default(workerSchema.parse({})),
  tools: toolsSchema.default(toolsSchema.parse({})),
  approvals: approvalsSchema.default(approvalsSchema.parse({})),
  mcp_servers: z
    .record(
      z.string().regex(mcpServerNamePattern, 'letters, digits, dash and underscore, at most 32'),
      mcpServerSchema,
    )
    .default({}),
  workspaces: z.record(workspaceNameSchema, workspaceSourceSchema).default({}),
  workspace: workspaceSchema.default(workspaceSchema.parse({})),
  access: accessSchema.default(accessSchema.parse({})),
  console: consoleSchema.default(consoleSchema.parse({})),
  gateway: gatewaySchema.default(gatewaySchema.parse({})),
  discord: discordSchema.default(discordSchema.parse({})),
  slack: slackSchema.default(slackSchema.parse({})),
  ops: opsSchema.default(opsSchema.parse({})),
  log: logSchema.default(logSchema.parse({})),
});

export type BatonConfig = z.infer<typeof batonConfigSchema>;
export type TerminalConfig = z.infer<typeof terminalSchema>;
export type ApprovalsConfig = z.infer<typeof approvalsSchema>;
export type WorkspaceSourceConfig = z.infer<typeof workspaceSourceSchema>;
export type ModelRouteConfig = z.infer<typeof modelRouteSchema>;
export type McpServerConfig = z.infer<typeof mcpServerSchema>;
export type McpStdioServerConfig = z.infer<typeof mcpStdioServerSchema>;
