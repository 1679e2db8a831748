/**
 * Elements whose end tag may be left out (`<p>`, `<li>`, `<td>` …): the parser closes them itself, so
 * counting them would see depth where there is none. Void elements never have content.
 */
const uncountedElements = new Set([
  'p',
  'li',
  'dt',
  'dd',
  'tr',
  'td',
  'th',
  'thead',
  'tbody',
  'tfoot',
  'option',
  'optgroup',
  'colgroup',
  'caption',
  'rb',
  'rt',
  'rp',
  'html',
  'head',
  'body',
  'area',
  'base',
  'br',
  'col',
  'embed',
  'hr',
  'img',
  'input',
  'link',
  'meta',
  'source',
  'track',
  'wbr',
]);
/** Elements whose content is text, not markup: a `<` inside them (`if (a<b)`) opens nothing. */
const textElements = new Set([
  'script',
  'style',
  'textarea',
  'title',
  'xmp',
  'iframe',
  'noembed',
  'noframes',
]);

const tagName = /[a-zA-Z][a-zA-Z0-9-]{0,31}/y;

/**
 * Cuts the document where its elements nest deeper than `maxDepth`, by a linear scan that counts open and
 * end tags. The HTML parser behind html-to-text is quadratic in the nesting depth (100,000 nested `<div>`s,
 * 600 KB, took 12 s to parse), and real pages nest a few dozen deep, so the cut only bites on hostile or
 * broken pages. Every search below moves forward, and gives up at once when what it looks for is absent.
 */
export function cutDeepNesting(html: string, maxDepth: number): { html: string; cut: boolean } {
  let depth = 0;
  let position = 0;
  while (true) {
    const open = html.indexOf('<', position);
    if (open === -1) break;
    if (html.startsWith('<!--', open)) {
      const end = html.indexOf('-->', open + 4);
      if (end === -1) break;
      position = end + 3;
      continue;
    }
    const closing = html.charCodeAt(open + 1) === 0x2f; // '/'
    tagName.lastIndex = open + (closing ? 2 : 1);
    const name = tagName.exec(html)?.[0].toLowerCase();
    if (name === undefined) {
      position = open + 1;
      continue;
    }
    const tagEnd = html.indexOf('>', tagName.lastIndex);
    // No `>` anywhere after: nothing further is a tag.
    if (tagEnd === -1) break;
    position = tagEnd + 1;
    if (uncountedElements.has(name)) continue;
    if (closing) {
      depth = Math.max(0, depth - 1);
      continue;
    }
    if (textElements.has(name)) {
      const endTag = new RegExp(`</${name}`, 'gi');
      endTag.lastIndex = position;
      const end = endTag.exec(html);
      if (!end) break;
      position = end.index;
      continue;
    }
    if (html.charCodeAt(tagEnd - 1) === 0x2f) continue; // self-closing `<x/>`
    depth += 1;
    if (depth > maxDepth) return { html: html.slice(0, open), cut: true };
  }
  return { html, cut: false };
}
