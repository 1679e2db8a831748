/**
 * A worker whose children fetch hostile pages: its event-loop lag, and whether it lost a job's lock. Before
 * fetch_url moved HTML-to-text to worker threads, one such page blocked the loop for seconds to minutes,
 * long enough for BullMQ to give the job to another worker (which fetched it again).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeOpenAIServer, textReply, toolCallReply } from '../test/fakes/fake-openai-server.ts';
import { startProbeWorker } from './processes.ts';
import {
  type BenchContext,
  type BenchResult,
  benchLayer,
  CleanupStack,
  figure,
  parentCaller,
  round,
  startRuntime,
  writeConfigFile,
} from './support.ts';

const pageBytes = 2_000_000;
const hostilePages: Record<string, string> = {
  // The old title pattern retried at every `<title`: quadratic in the page.
  '/title-flood': `<html><head>${'<title'.repeat(pageBytes / 6)}`,
  // html-to-text's parser is quadratic in the nesting depth, and its formatter recursed until the stack overflowed.
  '/deep-nesting': `<html><body>${'<div>'.repeat(100_000)}deep${'</div>'.repeat(100_000)}</body></html>`,
  '/single-line': `<html><body><p>${'word '.repeat(pageBytes / 5)}</p></body></html>`,
};
/** The control: an ordinary article of about 100 KB, fetched the same way, for the machine's own noise. */
const controlPage = `<html><head><title>Article</title></head><body>${'<p>An ordinary paragraph of text with a <a href="/x">link</a>.</p>\n'.repeat(1500)}</body></html>`;
const childrenPerPage = 4;
const rounds = 3;

export async function benchHostilePages(context: BenchContext): Promise<BenchResult[]> {
  const cleanup = new CleanupStack();
  try {
    const pages = http.createServer((request, response) => {
      const page = request.url === '/control' ? controlPage : hostilePages[request.url ?? ''];
      response.writeHead(page === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(page ?? '');
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    cleanup.add('stop page server', () => {
      pages.closeAllConnections();
      pages.close();
    });
    const pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;

    // Each child calls fetch_url once on the page its goal names, then answers.
    const fake = await startFakeOpenAIServer({
      recordRequests: false,
      handler: (request) => {
        const messages = request.body?.messages ?? [];
        if (messages.some((message) => message.role === 'tool')) return textReply('fetched', { usage: null });
        const system = String(messages[0]?.content ?? '');
        const path = /\nGoal:\nfetch (\S+)/.exec(system)?.[1] ?? '/missing';
        return toolCallReply([{ name: 'fetch_url', arguments: { url: `${pageOrigin}${path}` } }], {
          usage: null,
        });
      },
    });
    cleanup.add('stop fake model', () => fake.close());

    // Default lock settings (3000 / 1000 ms): the lock must survive them as deployed.
    const layer = benchLayer('hostile', fake.baseURL, {
      delegation: { default_toolsets: ['web'] },
      tools: { fetch_url: { allow_private_addresses: true } },
      worker: { concurrency: 20 },
      log: { level: 'warn' },
    });
    const configFile = writeConfigFile(cleanup, layer, 'hostile');
    const worker = await startProbeWorker(cleanup, context.redisUrl, configFile);
    const parent = await startRuntime(cleanup, context.redisUrl, layer, 'dispatcher');

    const runRounds = async (paths: string[], count: number, ids: string[]) => {
      for (let round = 0; round < count; round += 1) {
        const records = await parent.service.dispatch(
          parentCaller('bench:hostile:th1'),
          paths.flatMap((path) =>
            Array.from({ length: childrenPerPage }, (_unused, index) => ({
              goal: `fetch ${path} #${ids.length}.${round}.${index}`,
            })),
          ),
        );
        const roundIds = records.map((record) => record.id);
        ids.push(...roundIds);
        const { timedOut } = await parent.service.waitForEnd(roundIds, 120_000);
        if (timedOut) throw new Error(`round ${round + 1}: the children did not end within 120 s`);
      }
    };
    // Control first (it also warms the page-text threads): as many children, fetching an ordinary page.
    await worker.reset();
    await runRounds(['/control', '/control', '/control'], rounds, []);
    const control = await worker.sample();

    await worker.reset();
    const started = performance.now();
    const ids: string[] = [];
    await runRounds(Object.keys(hostilePages), rounds, ids);
    const elapsedMs = performance.now() - started;
    const sample = await worker.sample();

    const records = await parent.store.getMany(ids);
    const completed = records.filter((record) => record?.status === 'completed').length;
    const takenOver = records.filter((record) => (record?.attempts ?? 0) > 1).length;
    const fetchResults = await Promise.all(ids.map((id) => parent.store.recentEvents(id, 50)));
    const fetchedOk = fetchResults.filter((events) =>
      events.some((event) => event.type === 'tool-result' && event.text.startsWith('fetch_url ok')),
    ).length;
    const locksLost = sample.lockRenewalFailures + sample.failedJobs + takenOver;
    context.log(
      `${ids.length} children fetched hostile pages in ${(elapsedMs / 1000).toFixed(1)} s: loop lag p99 ` +
        `${sample.lagP99Ms.toFixed(2)} ms, max ${sample.lagMaxMs.toFixed(2)} ms; ${completed} completed, ` +
        `${fetchedOk} fetches ok; lock renewals failed ${sample.lockRenewalFailures}, jobs failed ` +
        `${sample.failedJobs}, tasks run more than once ${takenOver}; control (ordinary page) p99 ` +
        `${control.lagP99Ms.toFixed(2)} ms, max ${control.lagMaxMs.toFixed(2)} ms`,
    );
    const setUp =
      `one worker process (bench/worker-with-probe.ts = baton worker + probe, default lock 3000 ms / stall check ` +
      `1000 ms, concurrency 20) whose children each call fetch_url once on a page served from this process: 2 MB ` +
      `of '<title', 100,000 nested <div>s, a 2 MB single line; ${rounds} rounds of ${childrenPerPage} children per ` +
      `page at once (${ids.length} fetches) in ${round(elapsedMs / 1000, 1)} s; ${completed} tasks completed, ` +
      `${fetchedOk} fetches returned text (the others a tool error)`;
    const lag =
      `monitorEventLoopDelay({resolution: 10}) in the worker from the first dispatch to the last end (tick ` +
      `interval minus 10 ms): p50 ${round(sample.lagP50Ms, 2)} ms, p99 ${round(sample.lagP99Ms, 2)} ms, max ` +
      `${round(sample.lagMaxMs, 2)} ms; control (the same rounds fetching an ordinary 100 KB article instead): ` +
      `p50 ${round(control.lagP50Ms, 2)} ms, p99 ${round(control.lagP99Ms, 2)} ms, max ${round(control.lagMaxMs, 2)} ms`;
    return [
      figure('hostile_pages_loop_lag_p99_ms', sample.lagP99Ms, 'ms', {
        atMost: 50,
        notes: `${setUp}; ${lag}`,
      }),
      figure('hostile_pages_loop_lag_max_ms', sample.lagMaxMs, 'ms', {
        atMost: 200,
        notes: `${setUp}; ${lag}`,
      }),
      figure('hostile_pages_locks_lost', locksLost, 'locks', {
        atMost: 0,
        decimals: 0,
        notes:
          `${setUp}; lock renewals that failed (BullMQ lockRenewalFailed) ${sample.lockRenewalFailures}, jobs ` +
          `failed ${sample.failedJobs}, tasks run more than once (attempts > 1) ${takenOver}`,
      }),
    ];
  } finally {
    await cleanup.run();
  }
}
