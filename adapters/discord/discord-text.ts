/** Text helpers for Discord: thread names, mention stripping, length guards. */

import { cutText, oneLine } from '../../src/text/cut-text.ts';

/** Discord's limit on a message's content, in UTF-16 code units. */
export const maxMessageChars = 2000;
/** Discord's limit on a channel or thread name. */
export const maxThreadNameChars = 100;

/** A thread name from a request's first words: `prefix` + the text on one line, within Discord's limit. */
export function threadNameFor(text: string, prefix: string): string {
  const words = oneLine(
    text
      .replace(/<(?:@[!&]?|#)\d+>/g, ' ')
      .replace(/```[\s\S]*?(```|$)/g, ' ')
      .replace(/[`*_~|>#]+/g, ''),
  );
  return cutText(`${prefix}${words || 'Conversation'}`, maxThreadNameChars);
}

/** The text with mentions of the bot (`<@id>`, `<@!id>`, and its managed role `<@&roleId>`) removed. */
export function stripBotMentions(
  text: string,
  botUserId: string,
  botRoleIds: readonly string[] = [],
): string {
  let stripped = text.replace(new RegExp(`<@!?${botUserId}>`, 'g'), ' ');
  for (const roleId of botRoleIds) stripped = stripped.replaceAll(`<@&${roleId}>`, ' ');
  return stripped.replace(/[ \t]{2,}/g, ' ').trim();
}
