// Entry point of a page-text worker thread (loaded by piscina, through tsx; see page-text-pool.ts).

import { cutText } from '../../text/cut-text.ts';
import { decodeText } from './decode-text.ts';
import { pageText } from './page-text.ts';
import { findPageTitle } from './page-title.ts';

export interface PageTextTask {
  /** The raw (decompressed) body: decoding 2 MB takes tens of milliseconds, so it happens here too. */
  body: Uint8Array;
  /** From the Content-Type header or a `<meta charset>`; UTF-8 when absent or unknown. */
  charset?: string;
  baseUrl: string;
  /** Longest prefix of the HTML converted, in characters. */
  maxHtmlChars: number;
  /** Longest text handed back, in characters. */
  maxTextChars: number;
}

export interface PageTextResult {
  title?: string;
  text: string;
  /** True when the HTML or the text was cut, or the page nested too deep. */
  cut: boolean;
}

export default function convert(task: PageTextTask): PageTextResult {
  const source = decodeText(task.body, task.charset);
  const html = cutText(source, task.maxHtmlChars, { marker: '' });
  const title = findPageTitle(html);
  const converted = pageText(html, new URL(task.baseUrl));
  const text = cutText(converted.text, task.maxTextChars, { marker: '' });
  return {
    ...(title ? { title } : {}),
    text,
    cut: converted.cut || html.length < source.length || text.length < converted.text.length,
  };
}
