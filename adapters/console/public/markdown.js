// A small Markdown subset rendered straight into DOM nodes: every piece of text becomes a text node,
// so nothing a model or a person writes is ever parsed as HTML. Blocks: paragraphs, fenced code,
// headings, bullet and numbered lists, quotes. Inline: code, bold, italic, links (http/https only).

const fencePattern = /^\s*```\s*([\w+-]*)\s*$/;
const headingPattern = /^(#{1,6})\s+(.*)$/;
const bulletPattern = /^\s*[-*+]\s+(.*)$/;
const numberedPattern = /^\s*\d{1,4}[.)]\s+(.*)$/;
const quotePattern = /^\s*>\s?(.*)$/;

// Baton's status emoji drawn with characters every text font has (DejaVu, Arial, Segoe UI…), so a
// machine without an emoji font shows a mark, not an empty box.
const plainGlyphs = new Map([
  ['✅', '✓'],
  ['❌', '✗'],
  ['⏱', '◷'],
  ['⏹', '■'],
  ['💸', '$'],
  ['⚠', '!'],
]);
const glyphPattern = /(✅|❌|⏱|⏹|💸|⚠)\uFE0F?/gu;

/** Text with Baton's status emoji as plain characters (see plainGlyphs). */
export function withPlainGlyphs(text) {
  return String(text ?? '').replace(glyphPattern, (_, emoji) => plainGlyphs.get(emoji));
}

/** Renders Markdown text into a DocumentFragment. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const lines = withPlainGlyphs(text).replace(/\r\n?/g, '\n').split('\n');
  let index = 0;
  while (index < lines.length) {
    const line = lines[index];
    const fence = fencePattern.exec(line);
    if (fence) {
      const code = [];
      index += 1;
      while (index < lines.length && !fencePattern.test(lines[index])) {
        code.push(lines[index]);
        index += 1;
      }
      index += 1;
      const pre = element('pre');
      const codeElement = element('code', code.join('\n'));
      if (fence[1]) codeElement.dataset.language = fence[1];
      pre.append(codeElement);
      fragment.append(pre);
      continue;
    }
    if (line.trim() === '') {
      index += 1;
      continue;
    }
    const heading = headingPattern.exec(line);
    if (heading) {
      const paragraph = element('p');
      paragraph.className = 'md-heading';
      paragraph.append(renderInline(heading[2]));
      fragment.append(paragraph);
      index += 1;
      continue;
    }
    const listKind = bulletPattern.test(line) ? 'ul' : numberedPattern.test(line) ? 'ol' : null;
    if (listKind) {
      const pattern = listKind === 'ul' ? bulletPattern : numberedPattern;
      const list = element(listKind);
      while (index < lines.length && pattern.test(lines[index])) {
        const item = element('li');
        item.append(renderInline(pattern.exec(lines[index])[1]));
        list.append(item);
        index += 1;
      }
      fragment.append(list);
      continue;
    }
    if (quotePattern.test(line)) {
      const quoted = [];
      while (index < lines.length && quotePattern.test(lines[index])) {
        quoted.push(quotePattern.exec(lines[index])[1]);
        index += 1;
      }
      const quote = element('blockquote');
      quote.append(renderMarkdown(quoted.join('\n')));
      fragment.append(quote);
      continue;
    }
    const paragraphLines = [];
    while (index < lines.length && lines[index].trim() !== '' && !startsBlock(lines[index])) {
      paragraphLines.push(lines[index]);
      index += 1;
    }
    const paragraph = element('p');
    paragraphLines.forEach((paragraphLine, lineIndex) => {
      if (lineIndex > 0) paragraph.append(element('br'));
      paragraph.append(renderInline(paragraphLine));
    });
    fragment.append(paragraph);
  }
  return fragment;
}

function startsBlock(line) {
  return (
    fencePattern.test(line) ||
    headingPattern.test(line) ||
    bulletPattern.test(line) ||
    numberedPattern.test(line) ||
    quotePattern.test(line)
  );
}

// Order matters: code spans first (nothing inside them is formatted), then links, bold, italic, bare URLs.
const inlinePattern =
  /`(?<code>[^`\n]+)`|\[(?<linkText>[^\]\n]+)\]\((?<linkTarget>[^)\s]+)\)|\*\*(?<bold>[^\n]+?)\*\*|(?<![\w*])(?<mark>[*_])(?<italic>[^*_\n]+?)\k<mark>(?![\w*])|(?<bareUrl>https?:\/\/[^\s<>"')\]]+[^\s<>"')\].,;:!?])/g;

/** Renders one line of inline Markdown. */
export function renderInline(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(inlinePattern)) {
    if (match.index > last) fragment.append(text.slice(last, match.index));
    const whole = match[0];
    const { code, linkText, linkTarget, bold, italic, bareUrl } = match.groups;
    if (code !== undefined) fragment.append(element('code', code));
    else if (linkText !== undefined) fragment.append(link(linkTarget, renderInline(linkText), whole));
    else if (bold !== undefined) fragment.append(wrap('strong', renderInline(bold)));
    else if (italic !== undefined) fragment.append(wrap('em', renderInline(italic)));
    else if (bareUrl !== undefined) fragment.append(link(bareUrl, document.createTextNode(bareUrl), whole));
    last = match.index + whole.length;
  }
  if (last < text.length) fragment.append(text.slice(last));
  return fragment;
}

/** A link that opens in a new tab; any target other than http(s) stays plain text. */
function link(target, content, original) {
  let url;
  try {
    url = new URL(target);
  } catch {
    return document.createTextNode(original);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return document.createTextNode(original);
  const anchor = element('a');
  anchor.href = url.href;
  anchor.target = '_blank';
  anchor.rel = 'noopener noreferrer';
  anchor.append(content);
  return anchor;
}

function wrap(tag, content) {
  const wrapper = element(tag);
  wrapper.append(content);
  return wrapper;
}

function element(tag, text) {
  const created = document.createElement(tag);
  if (text !== undefined) created.textContent = text;
  return created;
}
