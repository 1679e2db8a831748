// The console page: threads, the conversation and its composer, live updates over Server-Sent Events.
import { api } from './api.js';
import { boardsAwaitingReply, treeOrder } from './board-order.js';
import { createFollower } from './follow.js';
import { renderMarkdown } from './markdown.js';
import { keepPromptReply, renderPromptCard } from './prompts.js';
import { createTaskPanel } from './tasks.js';
import { createThreadActions } from './thread-actions.js';
import { createUsagePanel } from './usage.js';
import {
  el,
  formatElapsed,
  formatRelative,
  formatSteps,
  formatTime,
  formatUsage,
  statusBadge,
  syncChildren,
  timeElement,
} from './view-helpers.js';

const typingShownMs = 8000;
/** A touch screen: no keyboard to focus for, and no Enter hint. */
const touchScreen = matchMedia('(hover: none) and (pointer: coarse)').matches;

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
  offlineBanner: byTestId('offline-banner'),
  newMessages: byTestId('new-messages'),
  archivedThreads: byTestId('archived-threads'),
  archivedList: byTestId('archived-list'),
  taskFilter: byTestId('task-filter'),
  jumpTaskCount: byTestId('jump-task-count'),
};

const state = {
  threads: new Map(),
  threadItems: new Map(),
  unread: new Set(),
  threadId: null,
  entries: new Map(),
  sending: false,
  typingTimer: null,
  online: true,
  /** The page's own timers, stopped while the server is gone. */
  timers: { threadList: null, redis: null },
};

const follower = createFollower(view.messages, view.newMessages);

const threadActions = createThreadActions({
  parts: {
    title: view.title,
    actions: byTestId('thread-actions'),
    renameButton: byTestId('rename-thread'),
    archiveButton: byTestId('archive-thread'),
    form: byTestId('rename-form'),
    input: byTestId('rename-input'),
    cancel: byTestId('rename-cancel'),
  },
  currentThread: () => state.threads.get(state.threadId) ?? null,
  onChanged: (thread) => {
    upsertThread(thread);
    if (state.threadId === thread.id) renderHeader();
  },
  onError: (message) => {
    view.composerError.textContent = message;
  },
});

const tasks = createTaskPanel({
  tree: byTestId('task-tree'),
  count: byTestId('task-count'),
  announcer: byTestId('task-announcer'),
  onOpenThread: (threadId) => selectThread(threadId),
  onSnapshot: (snapshot) => {
    refreshBoardUsage();
    view.jumpTaskCount.textContent = snapshot.activeCount > 0 ? `(${snapshot.activeCount})` : '';
  },
});

// ---- threads ----

function upsertThread(thread) {
  if (!thread) return;
  state.threads.set(thread.id, { ...state.threads.get(thread.id), ...thread });
  renderThreadList();
}

function renderThreadList() {
  const ordered = [...state.threads.values()].sort((left, right) => right.updatedAt - left.updatedAt);
  const current = ordered.filter((thread) => !thread.archived);
  const archived = ordered.filter((thread) => thread.archived);
  syncChildren(view.threadList, current.map(threadItemFor));
  if (current.length === 0)
    view.threadList.replaceChildren(
      el('li', {
        className: 'list-empty',
        text: archived.length > 0 ? 'No open threads.' : 'No threads yet.',
      }),
    );
  syncChildren(view.archivedList, archived.map(threadItemFor));
  view.archivedThreads.hidden = archived.length === 0;
  view.archivedThreads.querySelector('summary').textContent = `Archived (${archived.length})`;
}

function threadItemFor(thread) {
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
    `${thread.title}${thread.archived ? ', archived' : ''}${state.unread.has(thread.id) ? ', new replies' : ''}`,
  );
  return item.li;
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
    threadActions.closeRename();
    tasks.setFilter({ threadId });
  }
  renderThreadList();
  try {
    const { thread, entries } = await api(`/api/threads/${encodeURIComponent(threadId)}/messages`);
    if (state.threadId !== threadId) return;
    upsertThread(thread);
    renderHeader();
    for (const entry of entries) upsertEntry(entry, false);
    showEmptyStateIfNeeded();
    showDroppedNotice(thread);
    follower.jump();
  } catch (error) {
    if (error.status === 404) {
      state.threads.delete(threadId);
      state.threadId = null;
      renderThreadList();
      renderHeader();
      showEmptyStateIfNeeded();
    }
  }
  // On a touch screen, focus would open the keyboard and scroll the page away from its top.
  if (changed && !touchScreen) view.input.focus();
}

function renderHeader() {
  const thread = state.threads.get(state.threadId);
  view.title.textContent = thread ? thread.title : 'Start a conversation';
  view.meta.textContent = thread
    ? `Thread ${thread.id} · started ${formatTime(thread.createdAt)}${thread.archived ? ' · archived' : ''}`
    : '';
  showDroppedNotice(thread);
  threadActions.render(thread);
  document.title = thread ? `${thread.title} · Baton console` : 'Baton console';
}

// ---- transcript ----

const droppedNotice = el('p', { className: 'dropped-notice', dataset: { testid: 'dropped-notice' } });

/** A long thread keeps only its newest messages: the top of the list says so, and how many are gone. */
function showDroppedNotice(thread) {
  const dropped = thread?.dropped ?? 0;
  if (dropped === 0 || state.entries.size === 0) {
    droppedNotice.remove();
    return;
  }
  droppedNotice.textContent = `${dropped} older message${dropped === 1 ? ' is' : 's are'} no longer kept: a thread keeps its newest messages.`;
  if (view.messages.firstElementChild !== droppedNotice) view.messages.prepend(droppedNotice);
}

/** Whether `entry` is a later version than `than`: more replacements (a reply streaming in), or a later edit. */
function isNewer(entry, than) {
  const replacements = (entry.revision ?? 0) - (than.revision ?? 0);
  if (replacements !== 0) return replacements > 0;
  return (entry.editedAt ?? entry.at) > (than.editedAt ?? than.at);
}

/**
 * Adds or replaces one entry; an older copy (a late event after a newer reply) is ignored, and so is the
 * same version again (a refetch after reconnecting), so the nodes, focus and scroll stay as they are.
 */
function upsertEntry(entry, scroll = true) {
  const existing = state.entries.get(entry.id);
  if (existing && !isNewer(entry, existing.entry)) return;
  const node = renderEntry(entry);
  if (existing) {
    if (entry.role === 'prompt') keepPromptReply(existing.node, node);
    existing.node.replaceWith(node);
  } else {
    view.emptyConversation.remove();
    view.messages.insertBefore(node, boardsAwaitingReply(view.messages, entry)[0] ?? null);
  }
  state.entries.set(entry.id, { entry, node });
  if (entry.role !== 'user') hideTyping();
  if (!scroll) return;
  if (existing) follower.edited();
  else follower.added(node, { fromPerson: entry.role === 'user' });
}

/** An entry the server removed (a stream entry a shorter final reply no longer needs). */
function removeEntry(entryId) {
  const existing = state.entries.get(entryId);
  if (!existing) return;
  existing.node.remove();
  state.entries.delete(entryId);
  showEmptyStateIfNeeded();
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
    timeElement(entry.at),
    entry.editedAt && entry.role === 'bot'
      ? el('span', { className: 'entry-edited', text: '(edited)' })
      : null,
    entry.command
      ? el('span', {
          className: 'entry-tag',
          dataset: { testid: 'command-tag' },
          text: fromUser ? 'command' : 'command reply · no model call',
        })
      : null,
  );
  const onlyYou = entry.ephemeral
    ? el('p', {
        className: 'entry-only-you',
        dataset: { testid: 'only-you' },
        text: 'Only you can see this: it is not posted anywhere else.',
      })
    : null;
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
      className: `entry entry-${entry.role}${entry.ephemeral ? ' entry-ephemeral' : ''}`,
      dataset: { testid: 'transcript-entry', role: entry.role, entryId: entry.id },
      'aria-label': `${author}, ${formatTime(entry.at)}`,
    },
    el('div', {
      className: `avatar avatar-${fromUser ? 'user' : 'bot'}`,
      'aria-hidden': 'true',
      text: author[0],
    }),
    el('div', { className: 'entry-body' }, meta, content, status, onlyYou),
  );
}

/** A compact card of a thread's task board, edited in place as the tasks move. */
function renderBoard(board) {
  const rows = treeOrder(board.rows).map((row) => {
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
        el(
          'span',
          { className: 'board-goal', text: row.goal },
          row.goal.endsWith('…')
            ? el('span', { className: 'cut-notice', text: ' (shortened: open the task for all of it)' })
            : null,
        ),
        el('span', {
          className: 'board-meta',
          text: `${formatElapsed(row.elapsedSeconds)} · ${formatSteps(row.steps)}`,
        }),
        el('span', {
          className: 'board-usage',
          dataset: { testid: 'board-usage', taskId: row.taskId },
          text: boardUsageText(row.taskId),
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

/** Tokens and cost of a board's task, from the task pane's latest snapshot. */
function boardUsageText(taskId) {
  const node = tasks.node(taskId);
  return node ? formatUsage(node.tokens, node.cost) : '';
}

function refreshBoardUsage() {
  for (const usage of view.messages.querySelectorAll('[data-testid="board-usage"]')) {
    const text = boardUsageText(usage.dataset.taskId);
    if (usage.textContent !== text) usage.textContent = text;
  }
}

function showEmptyStateIfNeeded() {
  if (state.entries.size === 0 && !view.messages.contains(view.emptyConversation)) {
    view.messages.append(view.emptyConversation);
  }
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
  view.input.disabled = !state.online;
  view.newThread.disabled = !state.online;
  view.send.disabled = !state.online || state.sending || view.input.value.trim() === '';
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
    const { entry, reply } = await api(`/api/threads/${encodeURIComponent(threadId)}/messages`, { text });
    if (state.threadId === threadId) upsertEntry(entry);
    if (state.threadId === threadId && reply) upsertEntry(reply);
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

/** How long the event stream may be down before the page says the server is gone (a restart is quicker). */
const offlineAfterMs = 1500;
let offlineTimer = null;

/**
 * The server is gone (or back). While it is gone the banner says so, the message box is disabled, and the
 * page's own timers stop; only the event stream keeps trying to reconnect, and its `ready` brings them back.
 */
function setOnline(online) {
  clearTimeout(offlineTimer);
  offlineTimer = null;
  if (state.online === online) return;
  state.online = online;
  view.offlineBanner.hidden = online;
  document.body.dataset.connection = online ? 'live' : 'offline';
  if (online) startTimers();
  else {
    stopTimers();
    hideTyping();
    tasks.pause();
    setConnection('offline', 'Offline');
  }
  updateComposer();
}

function startTimers() {
  stopTimers();
  const checkRedis = () =>
    api('/api/status')
      .then((status) => {
        view.redisBanner.hidden = status.redis !== 'down';
      })
      .catch(() => undefined);
  checkRedis();
  state.timers.redis = setInterval(checkRedis, 3000);
  state.timers.threadList = setInterval(renderThreadList, 30_000);
}

function stopTimers() {
  clearInterval(state.timers.redis);
  clearInterval(state.timers.threadList);
  state.timers.redis = null;
  state.timers.threadList = null;
}

function connect() {
  const source = new EventSource('/api/events');
  // Sent on every (re)connection: refetch what may have been missed while away.
  source.addEventListener('ready', () => {
    setConnection('live', 'Live');
    setOnline(true);
    loadThreads()
      .then(() => (state.threadId ? selectThread(state.threadId) : undefined))
      .catch(() => undefined);
  });
  source.addEventListener('transcript', (event) => {
    const { op, threadId, entry, thread } = JSON.parse(event.data);
    if (op === 'remove') {
      if (threadId === state.threadId) removeEntry(entry.id);
      return;
    }
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
  source.addEventListener('error', () => {
    if (state.online) setConnection('offline', 'Reconnecting…');
    offlineTimer ??= setTimeout(() => setOnline(false), offlineAfterMs);
    // A refused stream (not a dropped one) is not retried by the browser: open a new one.
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
  });
}

// ---- task pane filter ----

const filterKey = 'baton.console.taskFilter';

function setTaskFilter(mode) {
  for (const button of view.taskFilter.querySelectorAll('button'))
    button.setAttribute('aria-pressed', String(button.dataset.filter === mode));
  tasks.setFilter({ mode, threadId: state.threadId });
  try {
    localStorage.setItem(filterKey, mode);
  } catch {
    // Storage may be disabled; the choice then lasts until the page reloads.
  }
}

view.taskFilter.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-filter]');
  if (button) setTaskFilter(button.dataset.filter);
});

function savedTaskFilter() {
  try {
    const saved = localStorage.getItem(filterKey);
    return ['thread', 'active', 'all'].includes(saved) ? saved : 'all';
  } catch {
    return 'all';
  }
}

async function start() {
  setTaskFilter(savedTaskFilter());
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
  // The Redis check (answered from memory, so it works while Redis is away) and the relative times.
  startTimers();
  connect();
  // A phone opens at the top of the page (the header and its Threads · Chat · Tasks links), not mid-way.
  if (touchScreen) window.scrollTo(0, 0);
}

start();
