import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBoardButtonId } from '../../adapters/discord/discord-board.ts';
import { stripBotMentions, threadNameFor } from '../../adapters/discord/discord-text.ts';
import { isReadableSlackBody } from '../../adapters/slack/slack-body-guard.ts';
import { mentionCommandText, plainTextOf } from '../../adapters/slack/slack-inbound-text.ts';
import { fitMrkdwn, markdownToMrkdwn } from '../../adapters/slack/slack-mrkdwn.ts';
import {
  blockActionsSchema,
  eventCallbackSchema,
  mentionEventSchema,
  messageEventSchema,
  slashCommandSchema,
} from '../../adapters/slack/slack-payloads.ts';
import { mrkdwnLength } from '../../adapters/slack/slack-poster.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { isBatonError } from '../../src/errors.ts';
import { chunkText, minimumChunkChars } from '../../src/gateway/chunk-text.ts';
import { parseCommand } from '../../src/gateway/command-router.ts';
import { chunkForPlatform } from '../../src/gateway/platform-chunks.ts';
import { chatCommandText } from '../../src/gateway/typed-command.ts';
import { taskIdPattern } from '../../src/tasks/task-ids.ts';
import { cutText } from '../../src/text/cut-text.ts';

// Random input never throws anything but a clear Baton error. Runs are kept modest so the file stays quick.
const runs = { numRuns: Number(process.env.PROPERTY_RUNS ?? 200) };

/** Text as people and payloads send it: any code units (lone surrogates included), words and markup. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc
    .array(
      fc.constantFrom(
        'steer',
        'cancel',
        'status',
        'collect',
        'tasks',
        'help',
        't_7k2m9q',
        't_',
        '`t_abcd`',
        ' ',
        '\n',
        '```',
        '<@U123>',
        '<@U123|bob>',
        '<#C1|ops>',
        '<!here>',
        '<https://x.test|link>',
        '&amp;',
        '\ud800',
        '😀',
        '<@!42>',
        '<@&7>',
      ),
      { maxLength: 30 },
    )
    .map((parts) => parts.join('')),
);

const taskId = fc.stringMatching(/^t_[a-z0-9]{4,16}$/);

describe('the command parser', () => {
  it('answers any text with a command or a usage error, never a throw', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const parsed = parseCommand(text);
        if ('error' in parsed) expect(typeof parsed.error).toBe('string');
        else
          expect(['help', 'tasks', 'usage', 'status', 'steer', 'cancel', 'collect', 'merge']).toContain(
            parsed.name,
          );
        if ('taskId' in parsed) expect(parsed.taskId).toMatch(taskIdPattern);
      }),
      runs,
    );
  });

  it('reads back any steer it is given', () => {
    fc.assert(
      fc.property(taskId, fc.string({ minLength: 1, maxLength: 200 }), (id, message) => {
        fc.pre(message.trim() !== '');
        expect(parseCommand(`steer ${id} ${message}`)).toEqual({
          name: 'steer',
          taskId: id,
          message: message.trim(),
        });
      }),
      runs,
    );
  });
});

describe('the Slack payload parsers', () => {
  it('never throw on any JSON, and take only objects', () => {
    const schemas = [
      eventCallbackSchema,
      mentionEventSchema,
      messageEventSchema,
      slashCommandSchema,
      blockActionsSchema,
    ];
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        for (const schema of schemas) {
          const parsed = schema.safeParse(value);
          if (parsed.success) expect(typeof parsed.data).toBe('object');
        }
        const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
        expect(isReadableSlackBody(JSON.stringify(value), 'application/json')).toBe(isObject);
        const form = `payload=${encodeURIComponent(JSON.stringify(value))}`;
        expect(isReadableSlackBody(form, 'application/x-www-form-urlencoded')).toBe(isObject);
      }),
      runs,
    );
  });

  it('never throw on any body text or content type', () => {
    fc.assert(
      fc.property(
        anyText,
        fc.option(fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain')),
        (body, contentType) => {
          expect(typeof isReadableSlackBody(body, contentType ?? undefined)).toBe('boolean');
        },
      ),
      runs,
    );
  });

  it('turn any message text into well-formed text, and commands only into ones that parse', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const plain = plainTextOf(text, 'U123');
        expect(Buffer.from(plain, 'utf8').toString('utf8')).toBe(plain);
        const command = mentionCommandText(plain, chatCommandText);
        if (command !== null) expect('error' in parseCommand(command)).toBe(false);
      }),
      runs,
    );
  });

  it('fit any reply in mrkdwn chunks within the limit (the Thread splits by rendered length)', () => {
    fc.assert(
      fc.property(anyText, fc.integer({ min: 100, max: 3500 }), (text, limit) => {
        for (const chunk of chunkForPlatform(text, limit, mrkdwnLength)) {
          expect(markdownToMrkdwn(chunk).length).toBeLessThanOrEqual(limit);
        }
        expect(fitMrkdwn(text, limit).length).toBeLessThanOrEqual(limit);
      }),
      runs,
    );
  });
});

describe('the Discord text parsers', () => {
  it('never throw, and keep names and mentions within their rules', () => {
    fc.assert(
      fc.property(
        anyText,
        fc.stringMatching(/^\d{1,20}$/),
        fc.string({ maxLength: 40 }),
        (text, botId, prefix) => {
          expect(typeof stripBotMentions(text, botId, [botId])).toBe('string');
          expect(threadNameFor(text, prefix).length).toBeLessThanOrEqual(100);
          expect(cutText(text, 50).length).toBeLessThanOrEqual(50);
          const button = parseBoardButtonId(text);
          if (button) expect(button.taskId).toMatch(taskIdPattern);
        },
      ),
      runs,
    );
  });
});

describe('the chunker', () => {
  it('splits any text into chunks within the limit, never halving a surrogate pair', () => {
    fc.assert(
      fc.property(anyText, fc.integer({ min: minimumChunkChars, max: 400 }), (text, limit) => {
        for (const chunk of chunkText(text, limit)) {
          expect(chunk.length).toBeLessThanOrEqual(limit);
          // Whitespace in the chunker's sense: spaces, tabs, \r and \n (a no-break space is text).
          expect(chunk.replace(/[ \t\r\n]/g, '')).not.toBe('');
          const last = chunk.charCodeAt(chunk.length - 1);
          // A chunk may end in a lone high surrogate only if the source had one there.
          if (last >= 0xd800 && last <= 0xdbff) expect(text).toContain(chunk.slice(-1));
        }
      }),
      runs,
    );
  });

  it('refuses a limit it cannot work with by a Baton error', () => {
    fc.assert(
      fc.property(
        anyText,
        fc.oneof(fc.integer({ max: minimumChunkChars - 1 }), fc.double()),
        (text, limit) => {
          fc.pre(!(Number.isInteger(limit) && limit >= minimumChunkChars));
          expect(() => chunkText(text, limit)).toThrow(
            expect.objectContaining({ code: 'invalid_arguments' }),
          );
        },
      ),
      { numRuns: 50 },
    );
  });
});

/** Loads a config and reports: loaded, or refused by a Baton config error. Anything else fails the test. */
function loadOutcome(options: Parameters<typeof loadConfig>[0]): 'loaded' | 'refused' {
  try {
    loadConfig(options);
    return 'loaded';
  } catch (error) {
    if (isBatonError(error, 'config_invalid')) return 'refused';
    throw error;
  }
}

describe('the config loader', () => {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-config-property-'));
  const keys = ['redis', 'models', 'delegation', 'worker', 'console', 'gateway', 'slack', 'log', 'nope'];

  it('loads or refuses any override layer with a config error', () => {
    const layer = fc.oneof(
      fc.anything(),
      fc.dictionary(
        fc.constantFrom(...keys),
        fc.oneof(fc.anything(), fc.dictionary(fc.string(), fc.anything())),
      ),
    );
    fc.assert(
      fc.property(layer, (overrides) => {
        expect(['loaded', 'refused']).toContain(loadOutcome({ env: {}, overrides }));
      }),
      { numRuns: Math.ceil(runs.numRuns / 2) },
    );
  });

  it('loads or refuses any YAML file and any environment values with a config error', () => {
    const yamlText = fc.oneof(
      anyText,
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc
        .tuple(fc.constantFrom(...keys), fc.string(), fc.jsonValue())
        .map(([group, key, value]) => `${group}:\n  ${key || 'x'}: ${JSON.stringify(value)}\n`),
      fc.constantFrom('console:\n  token: ${TOKEN}\n', 'redis:\n  url: ${A:-${B}}\n', 'a: [1, 2\n'),
    );
    const envValue = fc.option(anyText, { nil: undefined });
    let fileNumber = 0;
    fc.assert(
      fc.property(yamlText, envValue, envValue, envValue, (text, port, level, token) => {
        fileNumber += 1;
        const file = path.join(directory, `config-${fileNumber}.yaml`);
        writeFileSync(file, text);
        const env: NodeJS.ProcessEnv = { BATON_CONFIG: file };
        if (port !== undefined) env.BATON_CONSOLE_PORT = port;
        if (level !== undefined) env.LOG_LEVEL = level;
        if (token !== undefined) env.TOKEN = token;
        expect(['loaded', 'refused']).toContain(loadOutcome({ env }));
      }),
      { numRuns: Math.ceil(runs.numRuns / 2) },
    );
  });
});
