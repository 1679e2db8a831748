// The live task tree of every session, and the detail panel with steer and cancel controls.
import { api } from './api.js';
import { renderMarkdown } from './markdown.js';
import { renderPromptControls } from './prompts.js';
import {
  el,
  formatElapsed,
  formatSteps,
  formatTime,
  formatUsage,
  isActiveStatus,
  sessionName,
  statusBadge,
  statusLabel,
  syncChildren,
  timeElement,
} from './view-helpers.js';

const emptyTexts = {
  all: "No tasks yet. When Baton delegates work, every session's tasks appear here.",
  thread: 'No tasks in this thread yet.',
  active: 'No task is running right now.',
};

/** Keeps the tree's DOM in step with snapshots, updating rows in place so focus and scroll survive. */
export function createTaskPanel({ tree, count, announcer, onOpenThread, onSnapshot }) {
  const rows = new Map();
  const sessionGroups = new Map();
  const knownStatuses = new Map();
  const emptyMessage = tree.querySelector('.tree-empty');
  const detail = createTaskDetail({ onOpenThread, rowOf: (taskId) => rows.get(taskId)?.button });
  let latest = null;
  // Which tasks the pane lists: `thread` (the open console thread's), `active`, or `all`.
  const filter = { mode: 'all', threadId: null };

  /** The snapshot's sessions cut down to what the filter lets through. */
  function visibleSessions(snapshot) {
    if (filter.mode === 'thread')
      return snapshot.sessions.filter(
        (session) => session.consoleThreadId !== null && session.consoleThreadId === filter.threadId,
      );
    if (filter.mode === 'active')
      return snapshot.sessions
        .map((session) => ({ ...session, tasks: session.tasks.filter(hasActiveTask) }))
        .filter((session) => session.tasks.length > 0);
    return snapshot.sessions;
  }

  function setFilter(change) {
    Object.assign(filter, change);
    if (latest) update(latest);
    else emptyMessage.textContent = emptyTexts[filter.mode];
  }

  function update(snapshot) {
    latest = snapshot;
    const seen = new Set();
    const sessions = visibleSessions(snapshot);
    emptyMessage.textContent = emptyTexts[filter.mode];
    const groups = sessions.map((session) => {
      const group = groupFor(session);
      syncChildren(
        group.list,
        session.tasks.map((node) => rowFor(node, seen).item),
      );
      return group.section;
    });
    syncChildren(tree, groups.length > 0 ? groups : [emptyMessage]);
    for (const [taskId, row] of rows) {
      if (seen.has(taskId)) continue;
      rows.delete(taskId);
      row.item.remove();
    }
    for (const key of sessionGroups.keys()) {
      if (!sessions.some((session) => session.sessionKey === key)) sessionGroups.delete(key);
    }
    const total = rows.size;
    count.textContent =
      total === 0
        ? ''
        : snapshot.activeCount > 0
          ? `${snapshot.activeCount} active · ${total} shown`
          : `${total} shown`;
    detail.onSnapshot(findNode(snapshot, detail.openTaskId()));
    onSnapshot?.(snapshot);
  }

  function groupFor(session) {
    let group = sessionGroups.get(session.sessionKey);
    if (!group) {
      const name = session.consoleThreadId
        ? el('button', {
            type: 'button',
            className: 'session-name session-link',
            onclick: () => onOpenThread(session.consoleThreadId),
          })
        : el('span', { className: 'session-name' });
      const active = el('span', { className: 'session-active' });
      const list = el('ul', { className: 'task-list', role: 'list' });
      const section = el(
        'section',
        { className: 'session', dataset: { sessionKey: session.sessionKey } },
        el(
          'div',
          { className: 'session-header' },
          el('span', { className: 'platform-tag', text: session.origin.platform }),
          name,
          active,
        ),
        list,
      );
      group = { section, name, active, list };
      sessionGroups.set(session.sessionKey, group);
    }
    setText(group.name, sessionName(session));
    setText(group.active, session.activeCount > 0 ? `${session.activeCount} active` : '');
    return group;
  }

  function rowFor(node, seen) {
    seen.add(node.id);
    let row = rows.get(node.id);
    if (!row) {
      const badge = el('span', { className: 'task-badge' });
      const goal = el('span', { className: 'task-goal' });
      const cut = el('span', {
        className: 'cut-notice',
        text: 'Goal shortened here: open the task for all of it.',
        hidden: true,
      });
      const meta = el('span', { className: 'task-meta' });
      const usage = el('span', { className: 'task-usage', dataset: { testid: 'task-usage' } });
      const activity = el('span', { className: 'task-activity' });
      const button = el(
        'button',
        {
          type: 'button',
          className: 'task-row',
          dataset: { testid: 'task-row', taskId: node.id },
          onclick: () => detail.open(node.id),
        },
        goal,
        cut,
        el('span', { className: 'task-line' }, badge, meta),
        usage,
        activity,
      );
      const children = el('ul', { className: 'task-children', role: 'list' });
      row = {
        item: el('li', { className: 'task-item' }, button, children),
        button,
        badge,
        goal,
        cut,
        meta,
        usage,
        activity,
        children,
      };
      rows.set(node.id, row);
    }
    if (row.button.dataset.status !== node.status) {
      row.button.dataset.status = node.status;
      row.badge.replaceChildren(statusBadge(node.status));
      announceChange(node);
    }
    row.button.classList.toggle('is-open', node.id === detail.openTaskId());
    setText(row.goal, node.goal);
    row.cut.hidden = !node.goalCut;
    setText(row.usage, formatUsage(node.tokens, node.cost));
    const change =
      node.changedFiles === undefined
        ? ''
        : ` · ±${node.changedFiles} file${node.changedFiles === 1 ? '' : 's'}`;
    const round = node.round === undefined ? '' : ` · round ${node.round}`;
    setText(
      row.meta,
      `${formatElapsed(node.elapsedSeconds)} · ${formatSteps(node.steps)}${round}${change} · ${node.id}`,
    );
    setText(row.activity, activityLine(node.lastEvent));
    row.button.setAttribute('aria-label', `${statusLabel(node.status)}: ${node.goal}`);
    syncChildren(
      row.children,
      node.children.map((child) => rowFor(child, seen).item),
    );
    row.children.hidden = node.children.length === 0;
    return row;
  }

  function announceChange(node) {
    const before = knownStatuses.get(node.id);
    knownStatuses.set(node.id, node.status);
    if (before !== undefined && before !== node.status) {
      announcer.textContent = `Task ${node.id} is ${statusLabel(node.status).toLowerCase()}: ${node.goal}`;
    }
  }

  return {
    update,
    setFilter,
    open: (taskId) => detail.open(taskId),
    /** Stops the open detail's reloads (the server is gone); the next snapshot starts them again. */
    pause: () => detail.pause(),
    snapshot: () => latest,
    node: (taskId) => (latest ? findNode(latest, taskId) : null),
  };
}

function hasActiveTask(node) {
  return isActiveStatus(node.status) || node.children.some(hasActiveTask);
}

/** The last event, for people, at its time in the page's one clock format. */
function activityLine(lastEvent) {
  if (!lastEvent) return 'No activity yet';
  const words = lastEvent.activity ?? `${lastEvent.type}${lastEvent.text ? ` ${lastEvent.text}` : ''}`;
  return `${formatTime(lastEvent.at)} · ${words}`;
}

function findNode(snapshot, taskId) {
  if (!taskId) return null;
  const stack = snapshot.sessions.flatMap((session) => session.tasks);
  while (stack.length > 0) {
    const node = stack.pop();
    if (node.id === taskId) return node;
    stack.push(...node.children);
  }
  return null;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** The detail panel: what a task is doing, its recent events, its result, and steer / cancel. */
function createTaskDetail({ onOpenThread, rowOf }) {
  const panel = document.querySelector('[data-testid="task-detail"]');
  const title = panel.querySelector('#task-detail-title');
  const body = panel.querySelector('[data-testid="task-detail-body"]');
  const closeButton = panel.querySelector('[data-testid="task-detail-close"]');
  let taskId = null;
  let version = '';
  let reloadTimer = null;
  let lastLoad = 0;
  let parts = null;

  closeButton.addEventListener('click', close);
  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') close();
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !panel.hidden && !panel.contains(document.activeElement)) close();
  });

  async function open(id) {
    if (taskId !== id) {
      if (taskId) rowOf(taskId)?.classList.remove('is-open');
      taskId = id;
      version = '';
      parts = buildParts(id);
      body.replaceChildren(parts.root);
    }
    panel.hidden = false;
    rowOf(id)?.classList.add('is-open');
    title.textContent = `Task ${id}`;
    title.focus();
    await load();
  }

  function pause() {
    clearTimeout(reloadTimer);
    version = '';
  }

  function close() {
    if (panel.hidden) return;
    const opener = taskId ? rowOf(taskId) : null;
    opener?.classList.remove('is-open');
    panel.hidden = true;
    taskId = null;
    parts = null;
    clearTimeout(reloadTimer);
    opener?.focus();
  }

  async function load() {
    const id = taskId;
    if (!id) return;
    lastLoad = Date.now();
    try {
      const data = await api(`/api/tasks/${encodeURIComponent(id)}`);
      if (taskId === id) render(data);
    } catch (error) {
      if (taskId === id)
        parts.info.replaceChildren(el('p', { className: 'detail-error', text: error.message }));
    }
  }

  /** Reloads when the tree shows the open task changed, at most once a second. */
  function onSnapshot(node) {
    if (!node || !parts) return;
    parts.elapsed.textContent = formatElapsed(node.elapsedSeconds);
    const next = `${node.status}|${node.steps}|${node.lastEvent?.at}|${node.lastActivity}`;
    if (next === version) return;
    version = next;
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, Math.max(0, 1000 - (Date.now() - lastLoad)));
  }

  function buildParts(id) {
    const elapsed = el('span');
    const info = el('div', { className: 'detail-info' });
    const reply = el('p', {
      className: 'detail-reply',
      dataset: { testid: 'task-action-reply' },
      role: 'status',
    });
    const steerInput = el('textarea', {
      id: 'steer-input',
      rows: '2',
      maxlength: '4000',
      placeholder: 'e.g. focus on the error logs first',
      dataset: { testid: 'steer-input' },
    });
    const steerButton = el('button', {
      type: 'submit',
      className: 'button button-primary button-small',
      text: 'Send steer',
      disabled: true,
      dataset: { testid: 'steer-button' },
    });
    steerInput.addEventListener('input', () => {
      steerButton.disabled = steerInput.value.trim() === '';
    });
    const steerForm = el(
      'form',
      { className: 'steer-form' },
      el('label', { for: 'steer-input', text: 'Steer this task' }),
      el('p', {
        className: 'field-hint',
        text: 'The task reads it at its next step, as a message from you.',
      }),
      steerInput,
      el('div', { className: 'form-actions' }, steerButton),
    );
    steerForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const message = steerInput.value.trim();
      if (!message) return;
      steerButton.disabled = true;
      await act(`/api/tasks/${encodeURIComponent(id)}/steer`, { message }, () => {
        steerInput.value = '';
      });
      steerButton.disabled = steerInput.value.trim() === '';
    });
    const confirmRow = el(
      'div',
      { className: 'confirm-row', hidden: true },
      el('p', { text: 'Cancel this task and any tasks it started?' }),
      el(
        'div',
        { className: 'form-actions' },
        el('button', {
          type: 'button',
          className: 'button button-danger button-small',
          text: 'Yes, cancel task',
          dataset: { testid: 'cancel-confirm' },
          onclick: async () => {
            confirmRow.hidden = true;
            cancelButton.hidden = false;
            cancelButton.disabled = true;
            await act(`/api/tasks/${encodeURIComponent(id)}/cancel`, {});
            cancelButton.disabled = false;
          },
        }),
        el('button', {
          type: 'button',
          className: 'button button-ghost button-small',
          text: 'Keep running',
          dataset: { testid: 'cancel-dismiss' },
          onclick: () => {
            confirmRow.hidden = true;
            cancelButton.hidden = false;
            cancelButton.focus();
          },
        }),
      ),
    );
    const cancelButton = el('button', {
      type: 'button',
      className: 'button button-danger-outline button-small',
      text: 'Cancel task',
      dataset: { testid: 'cancel-button' },
      onclick: () => {
        cancelButton.hidden = true;
        confirmRow.hidden = false;
        confirmRow.querySelector('button')?.focus();
      },
    });
    const controls = el(
      'section',
      { className: 'detail-section detail-controls', 'aria-label': 'Steer or cancel' },
      steerForm,
      el('div', { className: 'cancel-area' }, cancelButton, confirmRow),
    );
    const result = el('section', { className: 'detail-section', hidden: true, 'aria-label': 'Result' });
    const events = el('ol', { className: 'event-list', dataset: { testid: 'task-events' } });
    const eventsSection = el(
      'section',
      { className: 'detail-section' },
      el('h3', { text: 'Recent activity' }),
      events,
    );
    const mergeButton = el('button', {
      type: 'button',
      className: 'button button-primary button-small',
      text: 'Merge',
      dataset: { testid: 'merge-button' },
      onclick: async () => {
        mergeButton.disabled = true;
        await act(`/api/tasks/${encodeURIComponent(id)}/merge`, {});
        mergeButton.disabled = false;
      },
    });
    const changes = el('section', {
      className: 'detail-section detail-changes',
      hidden: true,
      'aria-label': 'Workspace changes',
      dataset: { testid: 'task-changes' },
    });
    const prompt = el('section', {
      className: 'detail-section detail-prompt',
      hidden: true,
      'aria-label': 'Answer, approve or follow up',
      dataset: { testid: 'task-prompt-controls' },
    });
    const root = el('div', {}, info, controls, prompt, reply, result, changes, eventsSection);
    return {
      root,
      info,
      elapsed,
      controls,
      prompt,
      reply,
      result,
      changes,
      mergeButton,
      events,
      diffLoadedFor: null,
    };

    async function act(path, payload, onSuccess) {
      reply.textContent = 'Working…';
      reply.dataset.kind = 'pending';
      try {
        const answer = await api(path, payload);
        reply.textContent = answer.reply;
        reply.dataset.kind = 'ok';
        onSuccess?.();
      } catch (error) {
        reply.textContent = error.message;
        reply.dataset.kind = 'error';
      }
      version = '';
      load();
    }
  }

  /** A task with a workspace: its change as files and hunks, and Merge once it completed. */
  async function renderChanges(task) {
    const section = parts.changes;
    if (!task.workspace) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    const key = `${task.status}|${task.steps}`;
    if (parts.diffLoadedFor === key) return;
    parts.diffLoadedFor = key;
    const count = task.change ? `±${task.change.files} file${task.change.files === 1 ? '' : 's'}` : '';
    const heading = el('h3', { text: `Changes in ${task.workspace} ${count}`.trim() });
    const files = el('div', { className: 'diff-view', dataset: { testid: 'diff-view' } });
    const actions =
      task.status === 'completed' ? el('div', { className: 'form-actions' }, parts.mergeButton) : null;
    section.replaceChildren(heading, actions, files);
    try {
      const { files: diffFiles } = await api(`/api/tasks/${encodeURIComponent(task.id)}/diff`);
      if (!diffFiles || diffFiles.length === 0) {
        files.replaceChildren(el('p', { className: 'event-empty', text: 'No files changed yet.' }));
        return;
      }
      files.replaceChildren(
        ...diffFiles.map((file) =>
          el(
            'details',
            { className: 'diff-file', open: true },
            el('summary', {
              className: 'diff-file-name',
              text: `${file.path}  +${file.added} −${file.removed}`,
            }),
            ...file.hunks.map((hunk) =>
              el(
                'pre',
                { className: 'diff-hunk' },
                el('span', { className: 'diff-hunk-header', text: `${hunk.header}\n` }),
                ...hunk.lines.map((line) =>
                  el('span', {
                    className: `diff-line diff-${line.kind}`,
                    text: `${line.kind === 'added' ? '+' : line.kind === 'removed' ? '-' : ' '}${line.text}\n`,
                  }),
                ),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      files.replaceChildren(el('p', { className: 'detail-error', text: error.message }));
    }
  }

  function render({ task, events, summary, usage }) {
    const session = task.origin.platform === 'console' ? task.origin.thread : null;
    parts.elapsed.textContent = formatElapsed(task.elapsedSeconds);
    const facts = [
      ['Status', statusBadge(task.status)],
      ['Elapsed', parts.elapsed],
      ['Steps', String(task.steps)],
      [
        'Tokens',
        el('span', {
          dataset: { testid: 'task-detail-usage' },
          text: formatUsage(task.usage.total_tokens, usage ? usage.cost : null),
        }),
      ],
      ['Started', formatTime(task.createdAt)],
      ['Asked by', task.origin.userName ?? task.origin.user],
      [
        'Session',
        session
          ? el('button', {
              type: 'button',
              className: 'link-button',
              text: 'Open console thread',
              onclick: () => onOpenThread(session),
            })
          : `${task.origin.platform} · ${task.origin.channel}`,
      ],
      ...(task.parentTaskId ? [['Parent task', task.parentTaskId]] : []),
      ...(task.attempts > 1 ? [['Attempts', String(task.attempts)]] : []),
    ];
    parts.info.replaceChildren(
      el('p', { className: 'detail-goal', text: task.goal }),
      el(
        'dl',
        { className: 'detail-facts' },
        facts.flatMap(([term, value]) => [el('dt', { text: term }), el('dd', {}, value)]),
      ),
    );
    parts.controls.hidden = !isActiveStatus(task.status);
    renderPromptControls(parts.prompt, task, () => {
      version = '';
      load();
    });
    const resultParts = [];
    if (task.error)
      resultParts.push(el('h3', { text: 'Error' }), el('p', { className: 'detail-error', text: task.error }));
    if (summary) {
      resultParts.push(
        el('h3', { text: 'Summary' }),
        el(
          'div',
          { className: 'markdown detail-summary', dataset: { testid: 'task-summary' } },
          renderMarkdown(summary),
        ),
      );
    }
    parts.result.replaceChildren(...resultParts);
    parts.result.hidden = resultParts.length === 0;
    renderChanges(task);
    parts.events.replaceChildren(
      ...(events.length === 0
        ? [el('li', { className: 'event-empty', text: 'No events yet.' })]
        : events
            .slice()
            .reverse()
            .map((event) =>
              el(
                'li',
                { className: `event event-${event.type}`, title: `${event.type} ${event.text}` },
                timeElement(event.at),
                el('span', { className: 'event-text', text: event.activity ?? event.text }),
              ),
            )),
    );
  }

  return { open, close, pause, onSnapshot, openTaskId: () => taskId };
}
