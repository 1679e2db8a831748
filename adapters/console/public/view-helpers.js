// Small DOM and formatting helpers shared by the conversation and the task tree.

/** Creates an element with attributes (`text` sets textContent, `dataset` sets data-*) and children. */
export function el(tag, attributes = {}, ...children) {
  const created = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') created.textContent = value;
    else if (name === 'className') created.className = value;
    else if (name === 'dataset') Object.assign(created.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function')
      created.addEventListener(name.slice(2), value);
    else created.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat())
    if (child !== null && child !== undefined && child !== false) created.append(child);
  return created;
}

const statusLabels = {
  queued: 'Queued',
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
  timed_out: 'Timed out',
  waiting_input: 'Waiting for an answer',
  waiting_approval: 'Waiting for approval',
};

export function statusLabel(status) {
  return statusLabels[status] ?? status;
}

export function isActiveStatus(status) {
  return status === 'queued' || status === 'running';
}

/** A status badge: colour and text, so it reads without colour too. */
export function statusBadge(status) {
  return el(
    'span',
    { className: `status-badge status-${status}`, dataset: { status } },
    el('span', { className: 'status-dot', 'aria-hidden': 'true' }),
    statusLabel(status),
  );
}

/** `42s`, `3m 05s`, `1h 02m`. */
export function formatElapsed(seconds) {
  const whole = Math.max(0, Math.floor(Number(seconds) || 0));
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m ${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

export function formatSteps(steps) {
  return `${steps} step${steps === 1 ? '' : 's'}`;
}

// One clock for the whole page (messages, activity, events, details): 24-hour `14:05` in the viewer's zone.
const timeFormat = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
});
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
});
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** Date and time to the second, for a tooltip. */
export function formatFullTime(milliseconds) {
  return fullFormat.format(new Date(milliseconds));
}

/** A `<time>` element in the page's one clock format, with the full date and time as its tooltip. */
export function timeElement(milliseconds) {
  return el('time', {
    datetime: new Date(milliseconds).toISOString(),
    title: formatFullTime(milliseconds),
    text: formatTime(milliseconds),
  });
}

const tokenFormat = new Intl.NumberFormat('en-US');

/** `1,234 tokens · cost 0.0125` (cost in the unit of the routes' prices; left out when unknown or unpriced). */
export function formatUsage(tokens, cost) {
  const words = `${tokenFormat.format(Math.max(0, Number(tokens) || 0))} tokens`;
  return typeof cost === 'number' && cost > 0 ? `${words} · cost ${cost.toFixed(4)}` : words;
}

/** Clock time today, date and time before. */
export function formatTime(milliseconds) {
  const date = new Date(milliseconds);
  return date.toDateString() === new Date().toDateString()
    ? timeFormat.format(date)
    : dateTimeFormat.format(date);
}

/** `just now`, `5 min ago`, then clock or date. */
export function formatRelative(milliseconds) {
  const seconds = (Date.now() - milliseconds) / 1000;
  if (seconds < 45) return 'just now';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return formatTime(milliseconds);
}

/** Puts `desired` children into `container` in order, moving a node only when it is out of place (keeps focus). */
export function syncChildren(container, desired) {
  desired.forEach((node, index) => {
    const current = container.children[index];
    if (current !== node) container.insertBefore(node, current ?? null);
  });
  while (container.children.length > desired.length) container.lastElementChild.remove();
}

/** A task's session, named for people: the console thread's title, or platform · channel · thread. */
export function sessionName(session) {
  if (session.consoleThreadId) return session.title ?? `Console thread ${session.consoleThreadId}`;
  const { channel, thread } = session.origin;
  return thread && thread !== channel ? `${channel} · thread ${thread}` : channel;
}
