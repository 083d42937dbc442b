import { ConcurrencyError, ValidationError } from '@custos/errors';
import { openTestStore, type StoreKind, testEvent, type TestStore } from '@custos/testing';
import { Database, EventStore, GENESIS_HASH, hashEvent, verifyChain } from './index.js';
import { ALL_MIGRATIONS } from '@custos/contexts';
import { EventStore1764000000000 } from './migrations/1764000000000-event-store.js';
import { StreamChain1764000010000 } from './migrations/1764000010000-stream-chain.js';

/** The event store's own tables: these tests need no context. */
const STORE_MIGRATIONS = [EventStore1764000000000, StreamChain1764000010000];

describe.each<StoreKind>(['pglite', 'postgres'])('EventStore on %s', (kind) => {
  let t: TestStore;
  beforeEach(async () => {
    t = await openTestStore(kind, STORE_MIGRATIONS);
  });
  afterEach(async () => {
    await t.close();
  });

  it('appends to a stream and reads it back, versions from 1, global positions dense from 0', async () => {
    const first = await t.store.append('consent-p1', [testEvent('A'), testEvent('B')], { expectedVersion: 'no-stream' });
    expect(first.nextExpectedVersion).toBe(2);
    const second = await t.store.append('access-x', [testEvent('C')], { expectedVersion: 0 });
    await t.store.append('consent-p1', [testEvent('D', { nested: { b: 2, a: [1, 'x', null] } })], { expectedVersion: 2 });

    const stream = await t.store.readStream('consent-p1');
    expect(stream.map((e) => [e.type, e.version, e.globalSeq])).toEqual([
      ['A', 1, 0],
      ['B', 2, 1],
      ['D', 3, 3],
    ]);
    expect(second.events[0]?.globalSeq).toBe(2);
    expect(stream[2]?.data).toEqual({ nested: { b: 2, a: [1, 'x', null] } });
    expect(stream[0]?.metadata.actor.id).toBe('tester');
    const all = await t.store.readAll(0);
    expect(all.map((e) => e.globalSeq)).toEqual([0, 1, 2, 3]);
    expect(all[0]?.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < all.length; i++) expect(all[i]?.prevHash).toBe(all[i - 1]?.hash);
    for (const e of all) {
      const { hash, ...rest } = e;
      expect(hashEvent(rest)).toBe(hash);
    }
    expect(await t.store.head()).toEqual({ lastSeq: 3, lastHash: all[3]?.hash });
    expect(await t.store.readAll(2, 1)).toHaveLength(1);
    expect(await t.store.streamVersion('consent-p1')).toBe(3);
    expect(await t.store.streamVersion('nothing-here')).toBe(0);
  });

  it('refuses a stale expected version with a typed ConcurrencyError naming the current version', async () => {
    await t.store.append('consent-p1', [testEvent()], { expectedVersion: 'no-stream' });
    await expect(t.store.append('consent-p1', [testEvent()], { expectedVersion: 'no-stream' })).rejects.toMatchObject({
      constructor: ConcurrencyError,
      code: 'concurrency-conflict',
      actualVersion: 1,
    });
    await expect(t.store.append('consent-p1', [testEvent()], { expectedVersion: 5 })).rejects.toBeInstanceOf(ConcurrencyError);
    await t.store.append('consent-p1', [testEvent()], { expectedVersion: 'any' });
    expect(await t.store.streamVersion('consent-p1')).toBe(2);
  });

  it('lets exactly one of many racing writers with the same expected version win', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => t.store.append('consent-race', [testEvent()], { expectedVersion: 'no-stream' })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected.every((r) => r.reason instanceof ConcurrencyError)).toBe(true);
    expect(await t.store.streamVersion('consent-race')).toBe(1);
  });

  it('keeps one unbroken chain under many concurrent appenders', async () => {
    const streams = 40;
    const appendsPerStream = 10;
    // On PostgreSQL, three independent stores stand in for three gateway processes.
    const extra: Database[] = [];
    const stores: EventStore[] = [t.store];
    if (t.pg) {
      for (let i = 0; i < 2; i++) {
        const db = await Database.open({ kind: 'postgres', url: t.pg.url, poolSize: 4 }, ALL_MIGRATIONS);
        extra.push(db);
        stores.push(new EventStore(db));
      }
    }
    try {
      await Promise.all(
        Array.from({ length: streams }, async (_, s) => {
          const store = stores[s % stores.length] as EventStore;
          for (let v = 0; v < appendsPerStream; v++) {
            await store.append(`access-s${s}`, [testEvent('Hit', { s, v })], { expectedVersion: v });
          }
        }),
      );
    } finally {
      await Promise.all(extra.map((d) => d.close()));
    }
    const report = await verifyChain(t.db);
    expect(report).toEqual({ ok: true, checked: streams * appendsPerStream, lastSeq: streams * appendsPerStream - 1 });
    const all = await t.store.readAll(0, 10_000);
    expect(all.map((e) => e.globalSeq)).toEqual(Array.from({ length: streams * appendsPerStream }, (_, i) => i));
    for (let s = 0; s < streams; s++) {
      const stream = await t.store.readStream(`access-s${s}`);
      expect(stream.map((e) => (e.data as { v: number }).v)).toEqual(Array.from({ length: appendsPerStream }, (_, i) => i));
    }
  });

  it('lets one writer win across processes too, the rest get ConcurrencyError (never a constraint error)', async () => {
    if (!t.pg) return; // PGlite has a single process by construction
    const dbs = await Promise.all([0, 1, 2].map(() => Database.open({ kind: 'postgres', url: t.pg!.url, poolSize: 2 }, ALL_MIGRATIONS)));
    try {
      const stores = dbs.map((d) => new EventStore(d));
      for (let round = 0; round < 15; round++) {
        const results = await Promise.allSettled(stores.flatMap((s) => [1, 2].map(() => s.append(`consent-x${round}`, [testEvent()], { expectedVersion: 'no-stream' }))));
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConcurrencyError);
      }
    } finally {
      await Promise.all(dbs.map((d) => d.close()));
    }
    expect((await verifyChain(t.db)).ok).toBe(true);
  });

  it('writes a batch across streams in one transaction, all or nothing', async () => {
    await t.store.append('image-1', [testEvent()], { expectedVersion: 'no-stream' });
    const ok = await t.store.appendBatch([
      { streamId: 'image-2', events: [testEvent(), testEvent()], expectedVersion: 'no-stream' },
      { streamId: 'image-1', events: [testEvent()], expectedVersion: 1 },
    ]);
    expect(ok.map((r) => r.nextExpectedVersion)).toEqual([2, 2]);
    await expect(
      t.store.appendBatch([
        { streamId: 'image-3', events: [testEvent()], expectedVersion: 'no-stream' },
        { streamId: 'image-1', events: [testEvent()], expectedVersion: 1 },
      ]),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await t.store.streamVersion('image-3')).toBe(0);
    expect((await t.store.head()).lastSeq).toBe(3);
  });

  it('writes one outbox row per event in the same transaction', async () => {
    await t.store.append('image-1', [testEvent(), testEvent(), testEvent()], { expectedVersion: 'any' });
    const rows = await t.db.query<{ global_seq: number }>('SELECT global_seq FROM custos_outbox ORDER BY global_seq');
    expect(rows.map((r) => Number(r.global_seq))).toEqual([0, 1, 2]);
  });

  it('refuses UPDATE, DELETE and TRUNCATE of the log in the database itself', async () => {
    await t.store.append('image-1', [testEvent()], { expectedVersion: 'any' });
    await expect(t.db.query(`UPDATE custos_events SET type = 'Forged'`)).rejects.toThrow(/append-only: UPDATE refused/);
    await expect(t.db.query('DELETE FROM custos_events')).rejects.toThrow(/append-only: DELETE refused/);
    await expect(t.db.query('TRUNCATE custos_events CASCADE')).rejects.toThrow(/append-only: TRUNCATE refused/);
    expect((await verifyChain(t.db)).ok).toBe(true);
  });

  it('rejects bad input before touching the database', async () => {
    await expect(t.store.append('bad stream id!', [testEvent()], { expectedVersion: 'any' })).rejects.toBeInstanceOf(ValidationError);
    await expect(t.store.append('image-1', [], { expectedVersion: 'any' })).rejects.toBeInstanceOf(ValidationError);
    await expect(t.store.append('image-1', [testEvent('T', { s: 'a\u0000b' })], { expectedVersion: 'any' })).rejects.toBeInstanceOf(ValidationError);
    await expect(t.store.append('image-1', [testEvent('T', { n: Number.NaN })], { expectedVersion: 'any' })).rejects.toBeInstanceOf(ValidationError);
    await expect(t.store.append('image-1', [testEvent()], { expectedVersion: -1 })).rejects.toBeInstanceOf(ValidationError);
    expect((await t.store.head()).lastSeq).toBe(-1);
  });

  it('retries a failed group commit item by item, so only the faulty item fails', async () => {
    // Two items that reach the database with the same event id: the whole group commit fails
    // on the unique constraint, then each item is committed alone and only the second fails.
    const same = { next: () => '00000000-0000-4000-8000-00000000beef' };
    const store = new EventStore(t.db, { ids: same });
    const results = await Promise.allSettled([store.append('image-a', [testEvent()], { expectedVersion: 'any' }), store.append('image-b', [testEvent()], { expectedVersion: 'any' })]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const ok = await Promise.all(Array.from({ length: 20 }, (_, i) => t.store.append(`image-${i}`, [testEvent()], { expectedVersion: 'any' })));
    expect(ok).toHaveLength(20);
    expect((await verifyChain(t.db)).ok).toBe(true);
  });

  it('refuses an append whose read condition moved (condition-failed), even within one group commit', async () => {
    await t.store.append('consent-p1', [testEvent()], { expectedVersion: 'no-stream' });
    await t.store.append('access-p1', [testEvent()], { expectedVersion: 'any', conditions: [{ streamId: 'consent-p1', version: 1 }] });
    await expect(t.store.append('access-p1', [testEvent()], { expectedVersion: 'any', conditions: [{ streamId: 'consent-p1', version: 0 }] })).rejects.toMatchObject({ code: 'condition-failed' });
    const [change, decision] = await Promise.allSettled([
      t.store.append('consent-p1', [testEvent()], { expectedVersion: 1 }),
      t.store.append('access-p1', [testEvent()], { expectedVersion: 'any', conditions: [{ streamId: 'consent-p1', version: 1 }] }),
    ]);
    expect(change.status).toBe('fulfilled');
    expect(decision.status).toBe('rejected');
    expect(await t.store.streamVersion('consent-p1')).toBe(2);
  });

  it('refuses lone surrogates before touching the database', async () => {
    await expect(t.store.append('image-1', [testEvent('T', { s: 'a\ud800b' })], { expectedVersion: 'any' })).rejects.toMatchObject({ code: 'ill-formed-text' });
  });
});
