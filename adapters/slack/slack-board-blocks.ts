import type { types } from '@slack/bolt';
import type { TaskBoardRow, TaskBoardView } from '../../src/gateway/chat-adapter.ts';
import { cutText } from '../../src/text/cut-text.ts';
import { escapeMrkdwn } from './slack-mrkdwn.ts';

/** Button action ids: the value of each is a task id. */
export const cancelActionId = 'baton_cancel';
export const refreshActionId = 'baton_refresh';

/** Slack refuses a message with more blocks than this. */
const maxBlocks = 50;
const maxHeaderChars = 150;

/**
 * The task board as Block Kit: a header with the counts, a section per task in tree order (status,
 * elapsed time, steps, goal, last activity), and Cancel / Refresh buttons under each queued or running
 * task. Past Slack's 50 blocks the last rows are counted in a closing line instead.
 */
export function boardBlocks(view: TaskBoardView): types.KnownBlock[] {
  const blocks: types.KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: headerText(view), emoji: true } },
  ];
  const rows = view.rows;
  // One block stays free for the "…and N more" line.
  let budget = maxBlocks - blocks.length - 1;
  let shown = 0;
  for (const row of rows) {
    const rowBlocks = rowBlocksOf(row);
    if (rowBlocks.length > budget) break;
    blocks.push(...rowBlocks);
    budget -= rowBlocks.length;
    shown += 1;
  }
  const hidden = rows.length - shown;
  if (hidden > 0) {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `…and ${hidden} more task${hidden === 1 ? '' : 's'}` }],
    });
  }
  return blocks;
}

function headerText(view: TaskBoardView): string {
  const text = `Tasks · ${view.summary}${view.settled ? ' · all done' : ''}`;
  return cutText(text, maxHeaderChars);
}

function rowBlocksOf(row: TaskBoardRow): types.KnownBlock[] {
  const indent = row.depth > 1 ? `${'\u2003'.repeat(row.depth - 2)}↳ ` : '';
  const lines = [
    `${indent}${row.statusLabel}  \`${row.taskId}\` · ${row.facts}`,
    `${indent}${escapeMrkdwn(row.goal)}`,
  ];
  if (row.active && row.lastActivity) lines.push(`${indent}› ${escapeMrkdwn(row.lastActivity)}`);
  const section: types.KnownBlock = {
    type: 'section',
    block_id: `task:${row.taskId}`,
    text: { type: 'mrkdwn', text: lines.join('\n') },
  };
  if (!row.active) return [section];
  return [
    section,
    {
      type: 'actions',
      block_id: `actions:${row.taskId}`,
      elements: [
        {
          type: 'button',
          action_id: cancelActionId,
          value: row.taskId,
          style: 'danger',
          text: { type: 'plain_text', text: 'Cancel', emoji: true },
          confirm: {
            title: { type: 'plain_text', text: 'Cancel this task?' },
            text: { type: 'mrkdwn', text: `Stop \`${row.taskId}\` and every task it started?` },
            confirm: { type: 'plain_text', text: 'Cancel task' },
            deny: { type: 'plain_text', text: 'Keep it running' },
            style: 'danger',
          },
        },
        {
          type: 'button',
          action_id: refreshActionId,
          value: row.taskId,
          text: { type: 'plain_text', text: 'Refresh', emoji: true },
        },
      ],
    },
  ];
}
