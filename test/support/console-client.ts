/** A minimal client of the console's JSON API, as a browser would call it (same-origin JSON writes). */
export interface ConsoleEntry {
  id: string;
  role: 'user' | 'bot' | 'board';
  text?: string;
  state?: string;
}

async function call<T>(baseUrl: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(new URL(path, baseUrl), {
    method: body === undefined ? 'GET' : 'POST',
    headers:
      body === undefined ? {} : { 'content-type': 'application/json', origin: new URL(baseUrl).origin },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

export async function createConsoleThread(baseUrl: string, title?: string): Promise<string> {
  const { thread } = await call<{ thread: { id: string } }>(baseUrl, '/api/threads', title ? { title } : {});
  return thread.id;
}

export function postConsoleMessage(baseUrl: string, threadId: string, text: string) {
  return call<{ accepted: boolean; queuedBehind: number }>(baseUrl, `/api/threads/${threadId}/messages`, {
    text,
  });
}

export async function consoleEntries(baseUrl: string, threadId: string): Promise<ConsoleEntry[]> {
  const { entries } = await call<{ entries: ConsoleEntry[] }>(baseUrl, `/api/threads/${threadId}/messages`);
  return entries;
}

export async function botTexts(baseUrl: string, threadId: string): Promise<string[]> {
  return (await consoleEntries(baseUrl, threadId))
    .filter((entry) => entry.role === 'bot')
    .map((entry) => entry.text ?? '');
}
