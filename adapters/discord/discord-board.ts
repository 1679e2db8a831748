import {
  type APIActionRowComponent,
  type APIButtonComponentWithCustomId,
  type APIEmbed,
  type APIEmbedField,
  ButtonStyle,
  ComponentType,
} from 'discord.js';
import { type TaskBoardRow, type TaskBoardView, taskIdPattern } from '../../src/gateway/chat-adapter.ts';
import { cutText } from '../../src/text/cut-text.ts';

/** Discord allows 5 action rows a message: buttons go to the first 5 active tasks, in tree order. */
export const maxButtonRows = 5;
const maxFields = 25;
/** Discord rejects an embed whose texts add up to more than 6,000 characters; keep a margin. */
const embedCharBudget = 5800;
const fieldGoalChars = 200;
const fieldActivityChars = 160;

export const boardColours = {
  running: 0x3498db,
  queued: 0xf1c40f,
  completed: 0x2ecc71,
  failed: 0xe74c3c,
  stopped: 0x95a5a6,
} as const;

export type BoardButtonAction = 'cancel' | 'refresh';

/** The `custom_id` of a board button: `baton:cancel:t_7k2m9q`. */
export function boardButtonId(action: BoardButtonAction, taskId: string): string {
  return `baton:${action}:${taskId}`;
}

export function parseBoardButtonId(customId: string): { action: BoardButtonAction; taskId: string } | null {
  const match = /^baton:(cancel|refresh):(\S+)$/.exec(customId);
  if (!match || !taskIdPattern.test(match[2]!)) return null;
  return { action: match[1] as BoardButtonAction, taskId: match[2]! };
}

/** A task board as a message body: one embed (a field per task, tree order) and a button row per active task. */
export function boardMessageBody(view: TaskBoardView): {
  embeds: APIEmbed[];
  components: APIActionRowComponent<APIButtonComponentWithCustomId>[];
} {
  const rows = view.rows;
  const active = rows.filter((row) => row.active);
  const fields: APIEmbedField[] = [];
  let used = 0;
  for (const [index, row] of rows.entries()) {
    const field = fieldOf(row);
    const rest = rows.length - index;
    const roomForMore = fields.length < maxFields - 1 || rest === 1;
    if (!roomForMore || used + field.name.length + field.value.length > embedCharBudget - 100) {
      fields.push({ name: '…', value: `and ${rest} more task${rest === 1 ? '' : 's'}` });
      break;
    }
    fields.push(field);
    used += field.name.length + field.value.length;
  }
  const footer =
    active.length > maxButtonRows
      ? `Buttons for the first ${maxButtonRows} of ${active.length} active tasks; /task cancel works for any.`
      : view.settled
        ? 'All tasks ended.'
        : 'Updates live.';
  const embed: APIEmbed = {
    title: 'Tasks',
    description: `${view.summary}${view.settled ? ' · all done' : ''}`,
    color: colourOf(rows, view.settled),
    fields,
    footer: { text: footer },
  };
  const components = active.slice(0, maxButtonRows).map(
    (row): APIActionRowComponent<APIButtonComponentWithCustomId> => ({
      type: ComponentType.ActionRow,
      components: [
        {
          type: ComponentType.Button,
          style: ButtonStyle.Danger,
          label: `Cancel ${row.taskId}`,
          custom_id: boardButtonId('cancel', row.taskId),
        },
        {
          type: ComponentType.Button,
          style: ButtonStyle.Secondary,
          label: `Refresh ${row.taskId}`,
          custom_id: boardButtonId('refresh', row.taskId),
        },
      ],
    }),
  );
  return { embeds: [embed], components };
}

function fieldOf(row: TaskBoardRow): APIEmbedField {
  const indent = '↳ '.repeat(Math.max(0, row.depth - 1));
  const lines = [cutText(row.goal, fieldGoalChars), row.facts];
  if (row.active && row.lastActivity) lines.push(`↳ ${cutText(row.lastActivity, fieldActivityChars)}`);
  return {
    name: cutText(`${indent}${row.taskId} · ${row.statusLabel}`, 256),
    value: cutText(lines.join('\n'), 1024),
  };
}

/** Blue while something runs, amber while only queued; once settled red for failures, else green or grey. */
function colourOf(rows: TaskBoardRow[], settled: boolean): number {
  const has = (status: string) => rows.some((row) => row.status === status);
  if (!settled) return has('running') ? boardColours.running : boardColours.queued;
  if (has('failed') || has('timed_out')) return boardColours.failed;
  return has('completed') ? boardColours.completed : boardColours.stopped;
}
