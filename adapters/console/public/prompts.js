// A child waiting for a person: its question or approval request as a card in the conversation, and the
// answer box or Approve / Deny in the task's detail panel. Every control posts the same chat command as the
// words typed elsewhere (answer <id> #<n>, answer <id> <text>, approve <id>, deny <id> [reason]).
import { api } from './api.js';
import { el } from './view-helpers.js';

const taskPath = (taskId, action) => `/api/tasks/${encodeURIComponent(taskId)}/${action}`;

/** The reply line now on the page: a card redrawn meanwhile (its prompt settled) has a new one. */
function currentLine(replyLine) {
  let line = replyLine;
  while (!line.isConnected && line.replacedBy) line = line.replacedBy;
  return line;
}

function showReply(replyLine, text, kind) {
  const line = currentLine(replyLine);
  line.textContent = text;
  line.dataset.kind = kind;
}

/** Posts one prompt action; shows the router's reply (or the error) in `replyLine`. */
async function post(replyLine, taskId, action, payload) {
  showReply(replyLine, 'Working…', 'pending');
  try {
    const answer = await api(taskPath(taskId, action), payload);
    // A refusal is an answer too (shown to the presser only elsewhere; here there is one person).
    showReply(replyLine, answer.reply, 'ok');
    return true;
  } catch (error) {
    showReply(replyLine, error.message, 'error');
    return false;
  }
}

/**
 * A prompt card drawn again (its entry edited: the prompt settled) keeps the reply its presser was shown,
 * and a reply still on its way lands in the new card.
 */
export function keepPromptReply(oldNode, newNode) {
  const before = oldNode.querySelector('[data-testid="prompt-reply"]');
  const after = newNode.querySelector('[data-testid="prompt-reply"]');
  if (!before || !after) return;
  before.replacedBy = after;
  if (!before.textContent) return;
  after.textContent = before.textContent;
  if (before.dataset.kind) after.dataset.kind = before.dataset.kind;
}

function expiryLine(prompt) {
  if (prompt.expiresAt === undefined || prompt.expiresAt === null) return null;
  const when = new Date(prompt.expiresAt).toLocaleString(undefined, { hour12: false });
  const what = prompt.kind === 'approval' ? 'Unanswered, it counts as denied' : 'Expires';
  return el('p', { className: 'prompt-expiry', text: `${what} ${when}` });
}

/** A settled prompt's line: who answered or decided and what, or why there is no answer (no emoji font needed). */
function outcomeLine(outcome) {
  return el('p', {
    className: `prompt-outcome prompt-outcome-${outcome.kind}`,
    role: 'status',
    dataset: { testid: 'prompt-outcome', kind: outcome.kind },
    text: outcome.text,
  });
}

/**
 * The card of a prompt entry: who asks and for whom, the question or exact action, and its buttons; once
 * settled (the entry is edited), how it was settled in place of the buttons.
 */
export function renderPromptCard(prompt, onOpenTask) {
  const approval = prompt.kind === 'approval';
  const outcome = prompt.outcome;
  const verb = outcome ? 'asked' : 'asks';
  const replyLine = el('p', {
    className: 'prompt-reply',
    role: 'status',
    dataset: { testid: 'prompt-reply' },
  });
  const buttons = outcome
    ? []
    : approval
      ? [
          el('button', {
            type: 'button',
            className: 'button button-primary button-small',
            text: 'Approve',
            dataset: { testid: 'prompt-approve' },
            onclick: () => post(replyLine, prompt.taskId, 'approve', {}),
          }),
          el('button', {
            type: 'button',
            className: 'button button-danger-outline button-small',
            text: 'Deny',
            dataset: { testid: 'prompt-deny' },
            onclick: () => post(replyLine, prompt.taskId, 'deny', {}),
          }),
        ]
      : prompt.choices.slice(0, 5).map((choice, index) =>
          el('button', {
            type: 'button',
            className: 'button button-ghost button-small prompt-choice',
            text: choice,
            dataset: { testid: 'prompt-choice', choice: String(index + 1) },
            onclick: () => post(replyLine, prompt.taskId, 'answer', { text: `#${index + 1}` }),
          }),
        );
  const action = prompt.action
    ? el(
        'dl',
        { className: 'prompt-action' },
        el('dt', { text: 'Tool' }),
        el('dd', {}, el('code', { text: prompt.action.tool })),
        ...(prompt.action.workspace
          ? [el('dt', { text: 'Workspace' }), el('dd', {}, el('code', { text: prompt.action.workspace }))]
          : []),
        el('dt', { text: 'Arguments' }),
        el('dd', {}, el('pre', { className: 'prompt-arguments', text: prompt.action.arguments })),
      )
    : null;
  return el(
    'div',
    {
      className: `prompt-card prompt-${prompt.kind}`,
      dataset: { testid: 'prompt-card', taskId: prompt.taskId, kind: prompt.kind },
    },
    el(
      'p',
      { className: 'prompt-header' },
      el('button', {
        type: 'button',
        className: 'link-button',
        text: `Task ${prompt.taskId}`,
        onclick: () => onOpenTask(prompt.taskId),
      }),
      ` ${approval ? `${verb} for approval` : verb} · for ${prompt.ownerName}`,
    ),
    el('p', { className: 'prompt-goal', text: prompt.goal }),
    el('p', { className: 'prompt-text', text: prompt.text }),
    action,
    buttons.length > 0 ? el('div', { className: 'form-actions prompt-buttons' }, buttons) : null,
    outcome
      ? outcomeLine(outcome)
      : el('p', {
          className: 'prompt-hint',
          text: approval
            ? `Or open the task to deny with a reason.`
            : `Or answer in words in the task's panel.`,
        }),
    outcome ? null : expiryLine(prompt),
    replyLine,
  );
}

/**
 * The detail panel's section for a task waiting for a person (an answer box, or Approve / Deny with a
 * reason), or finished and completed (a follow-up that runs it again); hidden otherwise. `onDone` reloads.
 */
export function renderPromptControls(section, task, onDone) {
  // Drawn again only when the status changes, so a reload never wipes what is being typed.
  const drawnFor = `${task.id}|${task.status}`;
  if (section.dataset.drawnFor === drawnFor) return;
  section.dataset.drawnFor = drawnFor;
  const id = task.id;
  const replyLine = el('p', {
    className: 'prompt-reply',
    role: 'status',
    dataset: { testid: 'prompt-reply' },
  });
  const form = (label, hint, testid, button, send) => {
    const input = el('textarea', { rows: '2', maxlength: '4000', dataset: { testid: `${testid}-input` } });
    const submit = el('button', {
      type: 'submit',
      className: 'button button-primary button-small',
      text: button,
      dataset: { testid: `${testid}-button` },
    });
    const element = el(
      'form',
      { className: 'steer-form' },
      el('label', { text: label }, input),
      el('p', { className: 'field-hint', text: hint }),
      el('div', { className: 'form-actions' }, submit),
    );
    element.addEventListener('submit', async (event) => {
      event.preventDefault();
      submit.disabled = true;
      if (await send(input.value.trim())) input.value = '';
      submit.disabled = false;
      onDone();
    });
    return element;
  };
  let content = [];
  if (task.status === 'waiting_input') {
    content = [
      form(
        'Answer its question',
        'Your words, or #2 for its second choice.',
        'answer',
        'Send answer',
        (text) => (text ? post(replyLine, id, 'answer', { text }) : Promise.resolve(false)),
      ),
    ];
  } else if (task.status === 'waiting_approval') {
    content = [
      el(
        'div',
        { className: 'form-actions' },
        el('button', {
          type: 'button',
          className: 'button button-primary button-small',
          text: 'Approve',
          dataset: { testid: 'approve-button' },
          onclick: async () => {
            await post(replyLine, id, 'approve', {});
            onDone();
          },
        }),
      ),
      form('Deny', 'The reason goes back to the task.', 'deny', 'Deny', (reason) =>
        post(replyLine, id, 'deny', reason ? { reason } : {}),
      ),
    ];
  } else if (task.status === 'completed') {
    content = [
      form(
        'Follow up',
        'The task goes on from its own conversation with this, and posts a new result.',
        'follow-up',
        'Send follow-up',
        (message) => (message ? post(replyLine, id, 'steer', { message }) : Promise.resolve(false)),
      ),
    ];
  }
  section.hidden = content.length === 0;
  section.replaceChildren(...content, replyLine);
}
