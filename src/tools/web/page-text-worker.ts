// Entry point of a page-text worker thread (loaded by piscina, through tsx; see page-text-pool.ts).
import { pageText } from './page-text.ts';

export interface PageTextTask {
  html: string;
  baseUrl: string;
}

export default function convert(task: PageTextTask): { text: string; cut: boolean } {
  return pageText(task.html, new URL(task.baseUrl));
}
