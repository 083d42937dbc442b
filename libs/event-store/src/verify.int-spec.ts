import { openTestStore, type StoreKind, testEvent, type TestStore } from '@custos/testing';
import { hashEvent, type StoredEvent, verifyChain } from './index.js';
import { EventStore1764000000000 } from './migrations/1764000000000-event-store.js';
import { StreamChain1764000010000 } from './migrations/1764000010000-stream-chain.js';

/** The event store's own tables: these tests need no context. */
const STORE_MIGRATIONS = [EventStore1764000000000, StreamChain1764000010000];

/**
 * Tampering as a superuser would: triggers disabled, rows rewritten behind the store's back.
 * `verify` must name the first broken global sequence for each kind of tampering.
 */
describe.each<StoreKind>(['pglite', 'postgres'])('verifyChain on %s', (kind) => {
  let t: TestStore;
  let events: StoredEvent[];

  beforeEach(async () => {
    t = await openTestStore(kind, STORE_MIGRATIONS);
    for (let i = 0; i < 10; i++) await t.store.append(`access-${i % 3}`, [testEvent('Seen', { i })], { expectedVersion: 'any' });
    events = await t.store.readAll(0);
  });
  afterEach(async () => {
    await t.close();
  });

  /** Runs statements with the append-only triggers off, as a superuser attacker could. */
  async function tamper(...statements: Array<[string, unknown[]?]>): Promise<void> {
    await t.db.transaction(async (sql) => {
      await sql.execute('ALTER TABLE custos_events DISABLE TRIGGER USER');
      for (const [text, params] of statements) await sql.execute(text, params ?? []);
      await sql.execute('ALTER TABLE custos_events ENABLE TRIGGER USER');
    });
  }

  it('passes an untouched log and reports progress', async () => {
    const progress: number[] = [];
    const report = await verifyChain(t.db, { pageSize: 3, onProgress: (n) => progress.push(n) });
    expect(report).toEqual({ ok: true, checked: 10, lastSeq: 9 });
    expect(progress).toEqual([3, 6, 9, 10, 10]);
  });

  it('detects a modified row at its sequence', async () => {
    await tamper([`UPDATE custos_events SET data = '{"i": 999}' WHERE global_seq = 5`]);
    expect(await verifyChain(t.db)).toMatchObject({ ok: false, firstBrokenSeq: 5, reason: 'hash-mismatch', checked: 5 });
  });

  it('detects a deleted row at its sequence', async () => {
    await tamper(['DELETE FROM custos_events WHERE global_seq = 4']);
    expect(await verifyChain(t.db)).toMatchObject({ ok: false, firstBrokenSeq: 4, reason: 'missing-event' });
  });

  it('detects a deleted tail against the chain head', async () => {
    await tamper(['DELETE FROM custos_events WHERE global_seq >= 8']);
    expect(await verifyChain(t.db)).toMatchObject({ ok: false, firstBrokenSeq: 8, reason: 'head-mismatch' });
  });

  it('detects an inserted row whose hash was not recomputed, at its sequence', async () => {
    // Shift 6.. up by one and slip a row in at 6.
    await tamper(
      ['UPDATE custos_events SET global_seq = global_seq + 1000 WHERE global_seq >= 6'],
      ['UPDATE custos_events SET global_seq = global_seq - 999 WHERE global_seq >= 1000'],
      [
        `INSERT INTO custos_events (global_seq, event_id, stream_id, version, type, schema_version, data, metadata, occurred_at, prev_hash, hash)
         VALUES (6, '11111111-1111-4111-8111-111111111111', 'access-forged', 1, 'Seen', 1, '{"i": -1}', $1, now(), $2, repeat('a', 64))`,
        [JSON.stringify(events[6]?.metadata), events[5]?.hash],
      ],
    );
    expect(await verifyChain(t.db)).toMatchObject({ ok: false, firstBrokenSeq: 6, reason: 'hash-mismatch' });
  });

  it('detects a cleverly forged inserted row where the chain stops linking: the next event', async () => {
    // The forger recomputes a valid hash for the row it inserts at 6; the original event 6 (now
    // at 7) still names the old predecessor, so the chain breaks there. Signed checkpoints
    // (the verifiability issue) anchor the head so that even a full rewrite is caught.
    const forged = {
      eventId: '11111111-1111-4111-8111-111111111111',
      streamId: 'access-forged',
      version: 1,
      globalSeq: 6,
      type: 'Seen',
      schemaVersion: 1,
      data: { i: -1 },
      metadata: events[6]!.metadata,
      occurredAt: '2026-01-01T00:00:00.000Z',
      prevHash: events[5]!.hash,
    };
    await tamper(
      ['UPDATE custos_events SET global_seq = global_seq + 1000 WHERE global_seq >= 6'],
      ['UPDATE custos_events SET global_seq = global_seq - 999 WHERE global_seq >= 1000'],
      [
        `INSERT INTO custos_events (global_seq, event_id, stream_id, version, type, schema_version, data, metadata, occurred_at, prev_hash, hash)
         VALUES (6, $1, 'access-forged', 1, 'Seen', 1, '{"i": -1}', $2, $3, $4, $5)`,
        [forged.eventId, JSON.stringify(forged.metadata), forged.occurredAt, forged.prevHash, hashEvent(forged)],
      ],
    );
    expect(await verifyChain(t.db)).toMatchObject({ ok: false, firstBrokenSeq: 7, reason: 'prev-hash-mismatch' });
  });

  it('detects two reordered rows at the first of them', async () => {
    await tamper(
      ['UPDATE custos_events SET global_seq = 1003 WHERE global_seq = 3'],
      ['UPDATE custos_events SET global_seq = 3 WHERE global_seq = 4'],
      ['UPDATE custos_events SET global_seq = 4 WHERE global_seq = 1003'],
    );
    expect(await verifyChain(t.db)).toMatchObject({ ok: false, firstBrokenSeq: 3, reason: 'prev-hash-mismatch' });
  });

  it('detects a row appended behind the chain head', async () => {
    await tamper([
      `INSERT INTO custos_events (global_seq, event_id, stream_id, version, type, schema_version, data, metadata, occurred_at, prev_hash, hash)
       VALUES (10, '22222222-2222-4222-8222-222222222222', 'access-late', 1, 'Seen', 1, '{}', $1, now(), $2, repeat('b', 64))`,
      [JSON.stringify(events[0]?.metadata), events[9]?.hash],
    ]);
    expect(await verifyChain(t.db)).toMatchObject({ ok: false, firstBrokenSeq: 10 });
  });
});
