import { readdir, readFile } from 'node:fs/promises';

export interface StaticFile {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
}

const contentTypes: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
};

/** The page's files (`public/`), read once at start: a handful of small files, served from memory. */
export async function loadStaticFiles(
  directory = new URL('./public/', import.meta.url),
): Promise<Map<string, StaticFile>> {
  const files = new Map<string, StaticFile>();
  for (const name of await readdir(directory)) {
    const contentType = contentTypes[name.split('.').pop() ?? ''];
    if (!contentType) continue;
    const bytes = await readFile(new URL(name, directory));
    files.set(name, { body: new Uint8Array(bytes), contentType });
  }
  return files;
}
