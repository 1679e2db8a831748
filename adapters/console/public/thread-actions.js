// Renaming and archiving the open thread, from the conversation header.
import { api } from './api.js';

/**
 * The header's Rename and Archive controls. `currentThread()` is the open thread (or null); `onChanged`
 * receives the thread as the server answers it; `onError` a message to show the person.
 */
export function createThreadActions({ parts, currentThread, onChanged, onError }) {
  const { title, actions, renameButton, archiveButton, form, input, cancel } = parts;

  function render(thread) {
    actions.hidden = !thread || !form.hidden;
    archiveButton.textContent = thread?.archived ? 'Unarchive' : 'Archive';
  }

  function openRename() {
    const thread = currentThread();
    if (!thread) return;
    input.value = thread.title;
    form.hidden = false;
    actions.hidden = true;
    title.hidden = true;
    input.focus();
    input.select();
  }

  function closeRename() {
    form.hidden = true;
    title.hidden = false;
    render(currentThread());
  }

  async function change(update) {
    const thread = currentThread();
    if (!thread) return;
    try {
      const answer = await api(`/api/threads/${encodeURIComponent(thread.id)}`, update, 'PATCH');
      onChanged(answer.thread);
    } catch (error) {
      onError(error.message);
    }
  }

  renameButton.addEventListener('click', openRename);
  cancel.addEventListener('click', () => {
    closeRename();
    renameButton.focus();
  });
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeRename();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const newTitle = input.value.trim();
    if (newTitle) await change({ title: newTitle });
    closeRename();
    title.focus();
  });
  archiveButton.addEventListener('click', () => {
    const thread = currentThread();
    if (thread) change({ archived: !thread.archived });
  });

  return { render, closeRename };
}
