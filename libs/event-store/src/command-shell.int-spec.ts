import type { Decider } from '@custos/decider';
import { ConcurrencyError, ConflictError } from '@custos/errors';
import { openTestStore, testEvent, type TestStore } from '@custos/testing';
import { type CommandContext, type CommandShell, commandShell, conditionFailed, eventCodec, type ReadCondition } from './index.js';
import { EventStore1764000000000 } from './migrations/1764000000000-event-store.js';
import { StreamChain1764000010000 } from './migrations/1764000010000-stream-chain.js';

/** A tally: `Counted` adds to it (v1 wrote `by` as text), `Closed` ends it; a closed tally counts no more. */
type Counted = { readonly type: 'Counted'; readonly data: { readonly by: number } };
type Closed = { readonly type: 'Closed'; readonly data: { readonly total: number } };
type TallyEvent = Counted | Closed;
type TallyCommand = { readonly type: 'Count'; readonly by: number } | { readonly type: 'Close' } | { readonly type: 'Touch' };
type Tally = { readonly total: number; readonly closed: boolean };

const tallyDecider: Decider<Tally, TallyCommand, TallyEvent> = {
  initialState: { total: 0, closed: false },
  evolve: (s, e) => (e.type === 'Counted' ? { ...s, total: s.total + e.data.by } : { ...s, closed: true }),
  decide(c, s) {
    if (s.closed) throw new ConflictError('the tally is closed', undefined, 'tally-closed');
    if (c.type === 'Touch') return [];
    return c.type === 'Count' ? [{ type: 'Counted', data: { by: c.by } }] : [{ type: 'Closed', data: { total: s.total } }];
  },
};
const tallyCodec = eventCodec<TallyEvent>({
  Counted: { version: 2, upcast: { 1: (d) => ({ by: Number((d as { by: string }).by) }) } },
  Closed: { version: 1 },
});

const NOW = new Date('2026-06-01T08:00:00.000Z');
const ctx: CommandContext = { actor: { id: 'clerk-1', roles: ['clerk'] }, correlationId: 'corr-1' };
const count = (by: number): TallyCommand => ({ type: 'Count', by });

describe('the command shell (PGlite)', () => {
  // One store for the file, with the event store's own tables only: each test writes streams of its own.
  let t: TestStore;
  let shell: CommandShell<Tally, TallyCommand, TallyEvent>;
  let n = 0;
  let tally = '';
  let other = '';
  let note = '';
  beforeAll(async () => {
    t = await openTestStore('pglite', [EventStore1764000000000, StreamChain1764000010000]);
    shell = commandShell({ store: t.store, decider: tallyDecider, codec: tallyCodec, clock: { now: () => NOW } });
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(() => {
    n += 1;
    [tally, other, note] = [`tally-${n}`, `other-${n}`, `note-${n}`];
  });

  it('given an old-schema event, when a command is handled, then the state folds the upcast history and the events come back typed with their place in the log', async () => {
    await t.store.append(tally, [{ ...testEvent('Counted', { by: '2' }), schemaVersion: 1 }], { expectedVersion: 'no-stream' });

    const handled = await shell.handle(tally, count(3), ctx, { patientId: 'p1' });

    expect(handled.state).toEqual({ total: 5, closed: false });
    expect(handled.version).toBe(2);
    const [event] = handled.events;
    if (event?.type !== 'Counted') throw new Error('expected Counted');
    expect(event.data.by).toBe(3); // typed: no cast at the call site
    expect(event).toMatchObject({ streamId: tally, version: 2, globalSeq: (await t.store.head()).lastSeq });
    expect(event.eventId).toBe(event.stored.eventId);
    expect(event.hash).toBe(event.stored.hash);
    const [, stored] = await t.store.readStream(tally);
    expect(stored).toMatchObject({ type: 'Counted', schemaVersion: 2, data: { by: 3 }, occurredAt: NOW.toISOString(), metadata: { actor: ctx.actor, correlationId: 'corr-1', patientId: 'p1' } });
  });

  it('when the decider decides nothing, then nothing is appended and the version is the one read', async () => {
    await shell.handle(tally, count(1), ctx);
    const handled = await shell.handle(tally, { type: 'Touch' }, ctx);
    expect(handled).toEqual({ state: { total: 1, closed: false }, events: [], version: 1 });
    expect(await t.store.streamVersion(tally)).toBe(1);
  });

  it('a refusal is the decider’s typed error, and nothing is appended', async () => {
    await shell.handle(tally, { type: 'Close' }, ctx);
    await expect(shell.handle(tally, count(1), ctx)).rejects.toMatchObject({ code: 'tally-closed' });
    expect(await t.store.streamVersion(tally)).toBe(1);
  });

  describe('expectedVersion', () => {
    it('a number is checked against the version read: a stale one is a ConcurrencyError naming the current version', async () => {
      await shell.handle(tally, count(1), ctx);
      await expect(shell.handle(tally, count(1), ctx, { expectedVersion: 0 })).rejects.toMatchObject({ code: 'concurrency-conflict', streamId: tally, expectedVersion: 0, actualVersion: 1 });
      expect((await shell.handle(tally, count(1), ctx, { expectedVersion: 1 })).version).toBe(2);
    });

    it('no-stream: the stream must not exist (refused by the append, expected version 0)', async () => {
      expect((await shell.handle(tally, count(1), ctx, { expectedVersion: 'no-stream' })).version).toBe(1);
      const refused = shell.handle(tally, count(1), ctx, { expectedVersion: 'no-stream' });
      await expect(refused).rejects.toBeInstanceOf(ConcurrencyError);
      await expect(refused).rejects.toMatchObject({ streamId: tally, expectedVersion: 0, actualVersion: 1 });
    });

    it('any: the stream is not read (the decider sees its initial state) and the append does not check', async () => {
      await shell.handle(tally, { type: 'Close' }, ctx);
      const handled = await shell.handle(tally, count(4), ctx, { expectedVersion: 'any' });
      expect(handled.state).toEqual({ total: 4, closed: false });
      expect(handled.version).toBe(2);
    });

    it('undefined: a writer between the read and the append makes it a ConcurrencyError (no lost update)', async () => {
      await shell.handle(tally, count(1), ctx);
      // Another writer appends between this shell's read and its append.
      const racing = new Proxy(t.store, {
        get: (target, prop, receiver) =>
          prop === 'readStream'
            ? async (id: string) => {
                const read = await target.readStream(id);
                await target.append(id, [{ ...testEvent('Counted', { by: 9 }), schemaVersion: 2 }], { expectedVersion: 'any' });
                return read;
              }
            : Reflect.get(target, prop, receiver),
      });
      const raced = commandShell({ store: racing, decider: tallyDecider, codec: tallyCodec, clock: { now: () => NOW } });
      await expect(raced.handle(tally, count(1), ctx)).rejects.toMatchObject({ code: 'concurrency-conflict', expectedVersion: 1, actualVersion: 2 });
    });
  });

  describe('retry', () => {
    /** A command made per attempt, conditional on `other` at the version this attempt "read". */
    function attempts(readVersion: (attempt: number) => number) {
      const seen: number[] = [];
      const input = async (attempt: number): Promise<{ command: TallyCommand; conditions: ReadCondition[] }> => {
        seen.push(attempt);
        return { command: count(attempt), conditions: [{ streamId: other, version: readVersion(attempt) }] };
      };
      return { seen, input };
    }

    beforeEach(async () => {
      await t.store.append(other, [testEvent('Moved')], { expectedVersion: 'no-stream' }); // `other` is at version 1
    });

    it('a moved read condition is decided again on fresh input, and the attempt that holds is recorded', async () => {
      const { seen, input } = attempts((n) => (n < 3 ? 0 : 1));
      const handled = await shell.handle(tally, input, ctx, { retry: { when: conditionFailed, attempts: 5 } });
      expect(seen).toEqual([1, 2, 3]);
      expect(handled.state.total).toBe(3);
      expect((await t.store.readStream(tally)).map((e) => e.data)).toEqual([{ by: 3 }]);
    });

    it('attempts are bounded: the last conflict propagates, nothing is appended', async () => {
      const { seen, input } = attempts(() => 0);
      await expect(shell.handle(tally, input, ctx, { retry: { when: conditionFailed, attempts: 4 } })).rejects.toMatchObject({ code: 'condition-failed', streamId: other });
      expect(seen).toEqual([1, 2, 3, 4]);
      expect(await t.store.streamVersion(tally)).toBe(0);
    });

    it('only what the policy names is retried: a stale If-Match is answered at once', async () => {
      const { seen, input } = attempts(() => 1);
      await expect(shell.handle(tally, input, ctx, { expectedVersion: 3, retry: { when: conditionFailed, attempts: 5 } })).rejects.toMatchObject({ code: 'concurrency-conflict' });
      expect(seen).toEqual([1]);
    });

    it('without a policy a conflict is not retried; the shell’s policy is the default and a call may override it', async () => {
      const once = attempts(() => 0);
      await expect(shell.handle(tally, once.input, ctx)).rejects.toMatchObject({ code: 'condition-failed' });
      expect(once.seen).toEqual([1]);

      const retrying = commandShell({ store: t.store, decider: tallyDecider, codec: tallyCodec, clock: { now: () => NOW }, retry: { when: conditionFailed, attempts: 2 } });
      const twice = attempts(() => 0);
      await expect(retrying.handle(tally, twice.input, ctx)).rejects.toMatchObject({ code: 'condition-failed' });
      expect(twice.seen).toEqual([1, 2]);

      const overridden = attempts(() => 0);
      await expect(retrying.handle(tally, overridden.input, ctx, { retry: { when: () => false, attempts: 9 } })).rejects.toMatchObject({ code: 'condition-failed' });
      expect(overridden.seen).toEqual([1]);
    });

    it('a refusal is never retried', async () => {
      await shell.handle(tally, { type: 'Close' }, ctx);
      const { seen, input } = attempts(() => 1);
      await expect(shell.handle(tally, input, ctx, { retry: { when: () => true, attempts: 5 } })).rejects.toMatchObject({ code: 'tally-closed' });
      expect(seen).toEqual([1]);
    });
  });

  describe('alongside', () => {
    const noting = (streamId: string) => ({ streamId, events: [testEvent('Noted')], expectedVersion: 'no-stream' as const });

    it('is appended in the same transaction, before the decided events', async () => {
      const handled = await shell.handle(tally, count(1), ctx, { alongside: [noting(note)] });
      const [noted] = await t.store.readStream(note);
      expect(handled.events[0]?.globalSeq).toBe((noted?.globalSeq ?? NaN) + 1);
    });

    it('is appended even when the decider decides nothing', async () => {
      const handled = await shell.handle(tally, { type: 'Touch' }, ctx, { alongside: [noting(note)] });
      expect(handled.events).toEqual([]);
      expect(await t.store.streamVersion(note)).toBe(1);
    });

    it('a conflict on one of them names its stream, and nothing is written', async () => {
      await t.store.append(note, [testEvent('Noted')], { expectedVersion: 'no-stream' });
      await expect(shell.handle(tally, count(1), ctx, { alongside: [noting(note)] })).rejects.toMatchObject({ streamId: note });
      expect(await t.store.streamVersion(tally)).toBe(0);
    });
  });
});
