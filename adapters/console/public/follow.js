// Keeping the newest message in view, until the person scrolls up; then a "New messages" pill.

/** Within this many pixels of the end, the view counts as following the conversation. */
const followSlackPx = 80;

/**
 * Follows a scrolling message list. `added(node, { fromPerson })` after a new entry, `edited()` after one
 * changed in place, `jump()` to go to the end (a thread opened, the pill pressed).
 */
export function createFollower(list, pill) {
  let following = true;
  // Where the page last scrolled the list itself, so that scroll is not taken for the person's.
  let ownScrollTop = null;

  function scrollTo(target) {
    ownScrollTop = Math.max(0, Math.round(target));
    list.scrollTop = target;
    pill.hidden = true;
  }

  /** The end of the conversation, or, for a new entry taller than the view (a long result), its top. */
  function follow(newNode) {
    let target = list.scrollHeight - list.clientHeight;
    if (newNode && newNode.offsetHeight > list.clientHeight - followSlackPx) {
      const top = newNode.getBoundingClientRect().top - list.getBoundingClientRect().top + list.scrollTop;
      target = Math.min(target, top - 8);
      // The person is now reading it from its top: what comes after it waits behind the pill.
      following = false;
    }
    scrollTo(target);
  }

  function jump() {
    following = true;
    follow(null);
  }

  // The person scrolling up stops the following; scrolling back to the end resumes it.
  list.addEventListener('scroll', () => {
    if (ownScrollTop !== null && Math.abs(list.scrollTop - ownScrollTop) <= 2) return;
    ownScrollTop = null;
    following = list.scrollHeight - list.scrollTop - list.clientHeight < followSlackPx;
    if (following) pill.hidden = true;
  });
  pill.addEventListener('click', jump);

  return {
    jump,
    added(node, { fromPerson }) {
      // Sending a message means being at the end again.
      if (fromPerson) following = true;
      if (following) follow(node);
      else if (!fromPerson) pill.hidden = false;
    },
    edited() {
      if (following) follow(null);
    },
  };
}
