// The usage panel: tokens and cost per person, channel, task and route, today and over 30 days (UTC).
import { api } from './api.js';
import { el } from './view-helpers.js';

const number = new Intl.NumberFormat('en-US');
const tokens = (amounts) => amounts.input + amounts.cached + amounts.output;
const mostRows = 10;

function table(title, rows, testId) {
  const sorted = Object.entries(rows).sort(([, left], [, right]) => tokens(right) - tokens(left));
  if (sorted.length === 0) return null;
  return el(
    'table',
    { className: 'usage-table', dataset: { testid: testId } },
    el('caption', { text: title }),
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        ...['', 'Tokens', 'In', 'Cached', 'Out', 'Cost'].map((text) => el('th', { text, scope: 'col' })),
      ),
    ),
    el(
      'tbody',
      {},
      ...sorted
        .slice(0, mostRows)
        .map(([name, amounts]) =>
          el(
            'tr',
            {},
            el('th', { text: name, scope: 'row' }),
            el('td', { text: number.format(tokens(amounts)) }),
            el('td', { text: number.format(amounts.input) }),
            el('td', { text: number.format(amounts.cached) }),
            el('td', { text: number.format(amounts.output) }),
            el('td', { text: amounts.cost.toFixed(4) }),
          ),
        ),
    ),
  );
}

function period(title, breakdown, key) {
  return el(
    'section',
    { className: 'usage-period', dataset: { testid: `usage-${key}` } },
    el('h3', {
      text: `${title}: ${number.format(tokens(breakdown.total))} tokens · cost ${breakdown.total.cost.toFixed(4)}`,
    }),
    table('People', breakdown.users, `usage-${key}-users`),
    table('Channels', breakdown.channels, `usage-${key}-channels`),
    table('Tasks', breakdown.tasks, `usage-${key}-tasks`),
    table('Routes', breakdown.routes, `usage-${key}-routes`),
  );
}

/** Fills the panel when it opens, and again each time it is reopened. */
export function createUsagePanel(details, body) {
  const load = async () => {
    try {
      const overview = await api('/api/usage');
      body.replaceChildren(
        period('Today', overview.today, 'today'),
        period('Last 30 days', overview.last30Days, 'month'),
      );
    } catch (error) {
      body.replaceChildren(el('p', { className: 'usage-error', text: error.message }));
    }
  };
  details.addEventListener('toggle', () => {
    if (details.open) void load();
  });
}
