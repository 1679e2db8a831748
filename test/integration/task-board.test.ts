import { afterEach, describe, expect, it } from 'vitest';
import type { ConversationRef, OutboundMessage } from '../../src/gateway/chat-adapter.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { hangReply, textReply } from '../fakes/fake-openai-server.ts';
import { RecordingAdapter } from '../fakes/recording-adapter.ts';
import { buildTestConfig, eventually, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { deferred } from '../support/deferred.ts';
import { startTestGateway } from '../support/gateway-harness.ts';
import { scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';
import { UnkeyedRecordingAdapter } from '../support/unkeyed-adapter.ts';

const { fake, startRuntime } = useTestEnvironment();
let gateway: Gateway;
afterEach(async () => {
  await gateway?.stop();
});

const caller = testCaller('board');

describe('task board', () => {
  it('posts one board per thread, edits it in place at most once per interval, and settles', async () => {
    const intervalMs = 400;
    const runtime = await startRuntime(
      buildTestConfig(testConfigLayer(fake, { gateway: { board_interval_ms: intervalMs } })),
    );
    await runtime.startWorker();
    const adapter = new RecordingAdapter();
    ({ gateway } = await startTestGateway(runtime, adapter));
    const release = deferred();
    fake.setHandler(
      scriptByGoal({
        'board quick': () => textReply('quick done'),
        'board slow': async () => {
          await release.promise;
          return textReply('slow done');
        },
        'board never': () => hangReply(),
      }),
    );
    const [, , never] = await runtime.service.dispatch(caller, [
      { goal: 'board quick' },
      { goal: 'board slow' },
      { goal: 'board never' },
    ]);
    const boards = () => adapter.posts.filter((post) => post.message.kind === 'board');
    await eventually(async () => (boards().length === 1 ? true : undefined), 10_000, 'the board');
    const boardId = boards()[0]!.messageId;
    await eventually(
      async () =>
        [...boards(), ...adapter.edits].some(
          (post) =>
            post.message.kind === 'board' &&
            post.message.board.rows.some((row) => row.goal === 'board quick' && row.status === 'completed'),
        )
          ? true
          : undefined,
      10_000,
      'an edit showing the finished task',
    );
    release.resolve();
    await runtime.service.cancel(caller, never!.id);
    await eventually(
      async () => {
        const last = adapter.edits.at(-1);
        return last?.message.kind === 'board' && last.message.board.settled ? true : undefined;
      },
      10_000,
      'the settled board',
    );
    // Every edit went to the one board message, never faster than the interval.
    expect(new Set(adapter.edits.map((edit) => edit.messageId))).toEqual(new Set([boardId]));
    const times = [boards()[0]!.at, ...adapter.edits.map((edit) => edit.at)];
    for (let index = 1; index < times.length; index += 1) {
      expect(times[index]! - times[index - 1]!).toBeGreaterThanOrEqual(intervalMs - 100);
    }
    const settled = adapter.edits.at(-1)!;
    expect(settled.message.kind === 'board' && settled.message.fallbackText).toMatch(/all done/);
    // Once settled, the board is left alone.
    const editsAtSettle = adapter.edits.length;
    await new Promise((resolve) => setTimeout(resolve, intervalMs * 3));
    expect(adapter.edits).toHaveLength(editsAtSettle);
    expect(boards()).toHaveLength(1);
  });

  it('a board the platform posted but no gateway recorded is found and edited, not posted twice', async () => {
    const runtime = await startRuntime(
      buildTestConfig(testConfigLayer(fake, { gateway: { board_interval_ms: 300 } })),
    );
    await runtime.startWorker();
    // A platform whose creates take no key (as Slack's): the first board lands and the answer carrying its
    // id is lost; the platform can be asked what it shows.
    class Unkeyed extends UnkeyedRecordingAdapter {
      override async send(ref: ConversationRef, message: OutboundMessage) {
        const sent = await super.send(ref, message);
        if (
          message.kind === 'board' &&
          this.posts.filter((post) => post.message.kind === 'board').length === 1
        )
          throw new Error('the answer was lost');
        return sent;
      }
    }
    const adapter = new Unkeyed();
    ({ gateway } = await startTestGateway(runtime, adapter));
    const release = deferred();
    fake.setHandler(
      scriptByGoal({
        'board unrecorded': async () => {
          await release.promise;
          return textReply('done');
        },
      }),
    );
    await runtime.service.dispatch(testCaller('board-unrecorded'), [{ goal: 'board unrecorded' }]);
    const boards = () => adapter.posts.filter((post) => post.message.kind === 'board');
    await eventually(async () => (boards().length === 1 ? true : undefined), 10_000, 'the board');
    const boardId = boards()[0]!.messageId;
    // The next refresh finds it and edits it.
    await eventually(
      async () => (adapter.edits.some((edit) => edit.messageId === boardId) ? true : undefined),
      10_000,
      'an edit of the board posted first',
    );
    release.resolve();
    await eventually(
      async () =>
        adapter.edits.some(
          (edit) => edit.messageId === boardId && edit.message.kind === 'board' && edit.message.board.settled,
        )
          ? true
          : undefined,
      20_000,
      'the settled board',
    );
    expect(boards()).toHaveLength(1);
  });
});
