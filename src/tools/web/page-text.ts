import { htmlToText } from 'html-to-text';
import { cutDeepNesting } from './cut-deep-nesting.ts';

/** Deeper than any real page; see cutDeepNesting. */
const maxNestingDepth = 1000;

const skippedElements = ['script', 'style', 'noscript', 'template', 'nav', 'svg', 'img', 'picture', 'iframe'];

/**
 * The readable text of an HTML page, links kept as absolute URLs. CPU-heavy on large pages: it runs in
 * the page-text worker threads (see page-text-pool.ts), never on the event loop.
 */
export function pageText(source: string, base: URL): { text: string; cut: boolean } {
  const { html, cut } = cutDeepNesting(source, maxNestingDepth);
  const text = htmlToText(html, {
    wordwrap: false,
    limits: { maxDepth: maxNestingDepth },
    selectors: [
      ...skippedElements.map((selector) => ({ selector, format: 'skip' })),
      {
        selector: 'a',
        options: {
          hideLinkHrefIfSameAsText: true,
          noAnchorUrl: true,
          pathRewrite: (path: string) => absoluteLink(path, base),
        },
      },
      ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({
        selector,
        options: { uppercase: false },
      })),
    ],
  });
  // Line by line: a `[ \t]+$` pattern backtracks quadratically over a long run of blanks.
  const trimmed = text
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return { text: trimmed, cut };
}

/** Relative links made absolute so the model can fetch them; `javascript:` and the like dropped. */
function absoluteLink(path: string, base: URL): string {
  // html-to-text has already stripped `mailto:`, leaving a bare address.
  if (/^[^/:?#@\s]+@[^/:?#@\s]+$/.test(path)) return path;
  try {
    const link = new URL(path, base);
    return link.protocol === 'http:' || link.protocol === 'https:' ? link.href : '';
  } catch {
    return '';
  }
}
