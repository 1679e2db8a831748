// The console page: threads, the conversation and its composer, live updates over Server-Sent Events.
import { api } from './api.js';
import { renderMarkdown } from './markdown.js';
import { renderPromptCard } from './prompts.js';
import { createTaskPanel } from './tasks.js';
import { createUsagePanel } from './usage.js';
import {
  el,
  formatElapsed,
  formatRelative,
  formatSteps,
  formatTime,
  statusBadge,
  syncChildren,
} from './view-helpers.js';

const typingShownMs = 8000;

const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
const view = {
  threadList: byTestId('thread-list'),
  newThread: byTestId('new-thread'),
  title: byTestId('conversation-title'),
  meta: byTestId('conversation-meta'),
  messages: byTestId('message-list'),
  emptyConversation: byTestId('empty-conversation'),
  typing: byTestId('typing-indicator'),
  composer: byTestId('composer'),
  input: byTestId('composer-input'),
  send: byTestId('send-button'),
  composerError: byTestId('composer-error'),
  connection: byTestId('connection-status'),
  modelBadge: byTestId('model-badge'),
  redisBanner: byTestId('redis-banner'),
};

const state = {
  threads: new Map(),
  threadItems: new Map(),
  unread: new Set(),
  threadId: null,
  entries: new Map(),
  sending: false,
  typingTimer: null,
};

const tasks = createTaskPanel({
  tree: byTestId('task-tree'),
  count: byTestId('task-count'),
  announcer: byTestId('task-announcer'),
  onOpenThread: (threadId) => selectThread(threadId),
});

// ---- threads ----

function upsertThread(thread) {
  if (!thread) return;
  state.threads.set(thread.id, { ...state.threads.get(thread.id), ...thread });
  renderThreadList();
}

function renderThreadList() {
  const ordered = [...state.threads.values()].sort((left, right) => right.updatedAt - left.updatedAt);
  const items = ordered.map((thread) => {
    let item = state.threadItems.get(thread.id);
    if (!item) {
      const title = el('span', { className: 'thread-title' });
      const time = el('span', { className: 'thread-time' });
      const unread = el('span', { className: 'unread-dot', 'aria-hidden': 'true' });
      const button = el(
        'button',
        { type: 'button', className: 'thread-item', dataset: { testid: 'thread-item', threadId: thread.id } },
        el('span', { className: 'thread-line' }, title, unread),
        time,
      );
      button.addEventListener('click', () => selectThread(thread.id));
      item = { li: el('li', {}, button), button, title, time, unread };
      state.threadItems.set(thread.id, item);
    }
    item.title.textContent = thread.title;
    item.time.textContent = formatRelative(thread.updatedAt);
    const isCurrent = thread.id === state.threadId;
    if (isCurrent) item.button.setAttribute('aria-current', 'page');
    else item.button.removeAttribute('aria-current');
    item.unread.hidden = !state.unread.has(thread.id);
    item.button.setAttribute(
      'aria-label',
      `${thread.title}${state.unread.has(thread.id) ? ', new replies' : ''}`,
    );
    return item.li;
  });
  syncChildren(view.threadList, items);
  if (ordered.length === 0)
    view.threadList.replaceChildren(el('li', { className: 'list-empty', text: 'No threads yet.' }));
}

async function loadThreads() {
  const { threads } = await api('/api/threads');
  for (const thread of threads) state.threads.set(thread.id, thread);
  renderThreadList();
}

async function createThread() {
  const { thread } = await api('/api/threads', {});
  upsertThread(thread);
  await selectThread(thread.id);
  return thread;
}

async function selectThread(threadId) {
  if (!threadId) return;
  const changed = state.threadId !== threadId;
  state.threadId = threadId;
  state.unread.delete(threadId);
  if (changed) {
    history.replaceState(null, '', `#thread=${threadId}`);
    state.entries.clear();
    view.messages.replaceChildren();
    hideTyping();
  }
  renderThreadList();
  try {
    const { thread, entries } = await api(`/api/threads/${encodeURIComponent(threadId)}/messages`);
    if (state.threadId !== threadId) return;
    upsertThread(thread);
    renderHeader();
    for (const entry of entries) upsertEntry(entry, false);
    showEmptyStateIfNeeded();
    scrollToBottom(true);
  } catch (error) {
    if (error.status === 404) {
      state.threads.delete(threadId);
      state.threadId = null;
      renderThreadList();
      renderHeader();
      showEmptyStateIfNeeded();
    }
  }
  if (changed) view.input.focus();
}

function renderHeader() {
  const thread = state.threads.get(state.threadId);
  view.title.textContent = thread ? thread.title : 'Start a conversation';
  view.meta.textContent = thread ? `Thread ${thread.id} · started ${formatTime(thread.createdAt)}` : '';
  document.title = thread ? `${thread.title} · Baton console` : 'Baton console';
}

// ---- transcript ----

function entryVersion(entry) {
  return entry.editedAt ?? entry.at;
}

/** Adds or replaces one entry; an older copy (a late event after a newer reply) is ignored. */
function upsertEntry(entry, scroll = true) {
  const existing = state.entries.get(entry.id);
  if (existing && entryVersion(existing.entry) > entryVersion(entry)) return;
  const node = renderEntry(entry);
  if (existing) existing.node.replaceWith(node);
  else {
    view.emptyConversation.remove();
    view.messages.append(node);
  }
  state.entries.set(entry.id, { entry, node });
  if (entry.role !== 'user') hideTyping();
  if (scroll) scrollToBottom(entry.role === 'user');
}

const stateLabels = {
  sending: 'Sending…',
  received: 'Received',
  queued: 'Queued',
  refused: 'Not accepted',
  failed: 'Not delivered',
};

function renderEntry(entry) {
  const fromUser = entry.role === 'user';
  const author = fromUser ? 'You' : 'Baton';
  const meta = el(
    'div',
    { className: 'entry-meta' },
    el('span', { className: 'entry-author', text: author }),
    el('time', { datetime: new Date(entry.at).toISOString(), text: formatTime(entry.at) }),
    entry.editedAt && entry.role === 'bot'
      ? el('span', { className: 'entry-edited', text: '(edited)' })
      : null,
  );
  const content =
    entry.role === 'board' && entry.board
      ? renderBoard(entry.board)
      : entry.role === 'prompt' && entry.prompt
        ? renderPromptCard(entry.prompt, (taskId) => tasks.open(taskId))
        : el('div', { className: 'markdown' }, renderMarkdown(entry.text));
  const status =
    fromUser && entry.state
      ? el('p', {
          className: `entry-state entry-state-${entry.state}`,
          dataset: { testid: 'entry-state' },
          text: entry.note
            ? `${stateLabels[entry.state] ?? entry.state} — ${entry.note}`
            : stateLabels[entry.state],
        })
      : null;
  return el(
    'article',
    {
      className: `entry entry-${entry.role}`,
      dataset: { testid: 'transcript-entry', role: entry.role, entryId: entry.id },
      'aria-label': `${author}, ${formatTime(entry.at)}`,
    },
    el('div', {
      className: `avatar avatar-${fromUser ? 'user' : 'bot'}`,
      'aria-hidden': 'true',
      text: author[0],
    }),
    el('div', { className: 'entry-body' }, meta, content, status),
  );
}

/** A compact card of a thread's task board, edited in place as the tasks move. */
function renderBoard(board) {
  const rows = board.rows.map((row) => {
    const item = el(
      'li',
      { className: 'board-row' },
      el(
        'button',
        {
          type: 'button',
          className: 'board-task',
          dataset: { taskId: row.taskId, status: row.status },
          onclick: () => tasks.open(row.taskId),
        },
        statusBadge(row.status),
        el('span', { className: 'board-goal', text: row.goal }),
        el('span', {
          className: 'board-meta',
          text: `${formatElapsed(row.elapsedSeconds)} · ${formatSteps(row.steps)}`,
        }),
        row.lastActivity ? el('span', { className: 'board-activity', text: row.lastActivity }) : null,
      ),
    );
    // CSSOM, not a style attribute: the page's CSP allows no inline styles.
    item.style.setProperty('--depth', String(Math.max(0, row.depth - 1)));
    return item;
  });
  const active = board.rows.filter((row) => row.status === 'queued' || row.status === 'running').length;
  return el(
    'div',
    { className: 'board-card', dataset: { testid: 'board-card', settled: String(board.settled) } },
    el(
      'div',
      { className: 'board-header' },
      el('span', { className: 'board-title', text: 'Tasks' }),
      el('span', {
        className: `board-state ${board.settled ? 'is-settled' : 'is-live'}`,
        text: board.settled ? 'All done' : `${active} active`,
      }),
    ),
    el('ul', { className: 'board-rows', role: 'list' }, rows),
  );
}

function showEmptyStateIfNeeded() {
  if (state.entries.size === 0 && !view.messages.contains(view.emptyConversation)) {
    view.messages.append(view.emptyConversation);
  }
}

function scrollToBottom(force) {
  const list = view.messages;
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 160;
  if (force || nearBottom) list.scrollTop = list.scrollHeight;
}

function showTyping() {
  view.typing.hidden = false;
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(hideTyping, typingShownMs);
}

function hideTyping() {
  clearTimeout(state.typingTimer);
  view.typing.hidden = true;
}

// ---- composer ----

function updateComposer() {
  view.send.disabled = state.sending || view.input.value.trim() === '';
  view.input.style.height = 'auto';
  view.input.style.height = `${Math.min(view.input.scrollHeight, 220)}px`;
}

async function sendMessage() {
  const text = view.input.value.trim();
  if (!text || state.sending) return;
  state.sending = true;
  view.composerError.textContent = '';
  view.input.value = '';
  updateComposer();
  try {
    const threadId = state.threadId ?? (await createThread()).id;
    const { entry } = await api(`/api/threads/${encodeURIComponent(threadId)}/messages`, { text });
    if (state.threadId === threadId) upsertEntry(entry);
  } catch (error) {
    view.input.value = text;
    view.composerError.textContent = error.message;
  } finally {
    state.sending = false;
    updateComposer();
  }
}

view.input.addEventListener('input', updateComposer);
view.input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendMessage();
  }
});
view.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  sendMessage();
});
view.newThread.addEventListener('click', () => {
  createThread().catch((error) => {
    view.composerError.textContent = error.message;
  });
});

// ---- live events ----

function setConnection(connectionState, label) {
  view.connection.dataset.state = connectionState;
  view.connection.querySelector('.connection-label').textContent = label;
}

function connect() {
  const source = new EventSource('/api/events');
  // Sent on every (re)connection: refetch what may have been missed while away.
  source.addEventListener('ready', () => {
    setConnection('live', 'Live');
    loadThreads()
      .then(() => (state.threadId ? selectThread(state.threadId) : undefined))
      .catch(() => undefined);
  });
  source.addEventListener('transcript', (event) => {
    const { threadId, entry, thread } = JSON.parse(event.data);
    if (thread) upsertThread(thread);
    if (threadId === state.threadId) upsertEntry(entry);
    else if (entry.role !== 'user') {
      state.unread.add(threadId);
      renderThreadList();
    }
    if (threadId === state.threadId && thread) renderHeader();
  });
  source.addEventListener('thread', (event) => upsertThread(JSON.parse(event.data).thread));
  source.addEventListener('typing', (event) => {
    if (JSON.parse(event.data).threadId === state.threadId) showTyping();
  });
  source.addEventListener('tasks', (event) => tasks.update(JSON.parse(event.data)));
  source.addEventListener('error', () => setConnection('offline', 'Reconnecting…'));
}

/** The server answers this from memory, so it works while Redis is away: a banner says so. */
function watchRedis() {
  const check = () =>
    api('/api/status')
      .then((status) => {
        view.redisBanner.hidden = status.redis !== 'down';
      })
      .catch(() => undefined);
  check();
  setInterval(check, 3000);
}

async function start() {
  createUsagePanel(
    document.querySelector('[data-testid="usage-panel"]'),
    document.querySelector('[data-testid="usage-body"]'),
  );
  api('/api/info')
    .then((info) => {
      if (info.modelLabel) {
        view.modelBadge.textContent = info.modelLabel;
        view.modelBadge.title = `Model: ${info.modelLabel}`;
        view.modelBadge.hidden = false;
      }
    })
    .catch(() => undefined);
  await loadThreads().catch(() => undefined);
  const fromHash = /^#thread=([a-z0-9]+)$/.exec(location.hash)?.[1];
  const initial = fromHash && state.threads.has(fromHash) ? fromHash : [...state.threads.values()][0]?.id;
  // Someone quick may have opened a thread while the list loaded: their choice wins over the default.
  if (state.threadId) renderHeader();
  else if (initial) await selectThread(initial);
  else renderHeader();
  updateComposer();
  watchRedis();
  connect();
  setInterval(renderThreadList, 30_000);
}

start();
