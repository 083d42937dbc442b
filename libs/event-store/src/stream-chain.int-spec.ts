import { openTestStore, type StoreKind, testEvent, type TestStore } from '@custos/testing';
import { GENESIS_HASH, hashEvent, readLog, verifyChain } from './index.js';
import { EventStore1764000000000 } from './migrations/1764000000000-event-store.js';
import { StreamChain1764000010000 } from './migrations/1764000010000-stream-chain.js';

/** The event store's own tables: these tests need no context. */
const STORE_MIGRATIONS = [EventStore1764000000000, StreamChain1764000010000];

describe.each<StoreKind>(['pglite', 'postgres'])('stream chains on %s', (kind) => {
  let t: TestStore;
  beforeEach(async () => {
    t = await openTestStore(kind, STORE_MIGRATIONS);
  });
  afterEach(async () => {
    await t.close();
  });

  it('links each event to the previous event of its stream, in one group commit or across many, covered by its hash', async () => {
    // Interleaved streams, some appended concurrently (one group commit), some one by one.
    await Promise.all(Array.from({ length: 12 }, (_, i) => t.store.append(`access-s${i % 3}`, [testEvent('TestHappened', { i })], { expectedVersion: 'any' })));
    await t.store.append('access-s1', [testEvent('TestHappened', { i: 'a' }), testEvent('TestHappened', { i: 'b' })], { expectedVersion: 'any' });
    const events = await readLog(t.db, 0, 1000, 1000);
    const last = new Map<string, string>();
    for (const e of events) {
      expect(e.streamPrevHash).toBe(last.get(e.streamId) ?? GENESIS_HASH);
      const { hash, ...rest } = e;
      expect(hashEvent(rest)).toBe(hash);
      last.set(e.streamId, e.hash);
    }
    expect(await verifyChain(t.db)).toMatchObject({ ok: true });
  });

  it('verify names an event whose stream link was changed even with its hash and every later hash recomputed', async () => {
    for (let i = 0; i < 6; i++) await t.store.append(`access-s${i % 2}`, [testEvent('TestHappened', { i })], { expectedVersion: 'any' });
    await t.db.transaction(async (sql) => {
      await sql.execute('ALTER TABLE custos_events DISABLE TRIGGER USER');
      const events = await readLog(sql, 3, 100, 100);
      let prevHash = events[0]!.prevHash;
      for (const e of events) {
        const streamPrevHash = e.globalSeq === 3 ? GENESIS_HASH : e.streamPrevHash; // event 3 now claims to start its stream
        const hash = hashEvent({ ...e, prevHash, ...(streamPrevHash ? { streamPrevHash } : {}) });
        await sql.execute('UPDATE custos_events SET prev_hash = $1, hash = $2, stream_prev_hash = $3 WHERE global_seq = $4', [prevHash, hash, streamPrevHash, e.globalSeq]);
        prevHash = hash;
      }
      await sql.execute('UPDATE custos_chain_head SET last_hash = $1 WHERE id = 1', [prevHash]);
      await sql.execute('ALTER TABLE custos_events ENABLE TRIGGER USER');
    });
    expect(await verifyChain(t.db)).toMatchObject({ ok: false, firstBrokenSeq: 3, reason: 'stream-link-mismatch' });
  });
});
