// Where a thread's task board goes and in what order its rows are listed.

/** Board rows as the task pane lists them: each task followed by the tasks it started, in start order. */
export function treeOrder(rows) {
  const ids = new Set(rows.map((row) => row.taskId));
  const childrenOf = new Map();
  for (const row of rows) {
    const parent = row.parentTaskId && ids.has(row.parentTaskId) ? row.parentTaskId : null;
    childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), row]);
  }
  const ordered = [];
  const visit = (parent) => {
    for (const row of childrenOf.get(parent) ?? []) {
      ordered.push(row);
      visit(row.taskId);
    }
  };
  visit(null);
  return ordered;
}

/**
 * A board is posted when tasks start, before the reply that started them is complete. A bot's text that
 * arrives while the thread ends in such boards (no bot text since the person's last message) goes above
 * them, so the board sits below the reply that announced its tasks; later results go below it.
 */
export function boardsAwaitingReply(list, entry) {
  if (entry.role !== 'bot' || entry.ephemeral) return [];
  const trailing = [];
  for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
    const role = node.dataset.role;
    if (role === 'board') trailing.unshift(node);
    else return role === 'user' ? trailing : [];
  }
  return [];
}
