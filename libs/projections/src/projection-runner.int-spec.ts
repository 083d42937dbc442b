import type { Sql, StoredEvent } from '@custos/event-store';
import { createLogger } from '@custos/platform';
import { openTestStore, snapshotTables, type StoreKind, testEvent, type TestStore } from '@custos/testing';
import { type Projection, ProjectionRunner, StoreEventFeed, StreamCatalogueProjection } from './index.js';

/** Counts every application, duplicates included: exactly-once shows as one row per sequence. */
class ApplicationLog implements Projection {
  readonly name = 'application-log';
  readonly tables = ['test_applications'];
  async apply(sql: Sql, e: StoredEvent): Promise<void> {
    await sql.execute('INSERT INTO test_applications (global_seq) VALUES ($1)', [e.globalSeq]);
  }
}

describe.each<StoreKind>(['pglite', 'postgres'])('ProjectionRunner on %s', (kind) => {
  let t: TestStore;
  const catalogue = new StreamCatalogueProjection();
  beforeEach(async () => {
    t = await openTestStore(kind);
    await t.db.execute('CREATE TABLE test_applications (global_seq bigint NOT NULL)');
  });
  afterEach(async () => {
    await t.close();
  });

  async function seed(n: number): Promise<StoredEvent[]> {
    for (let i = 0; i < n; i++) await t.store.append(`access-${i % 7}`, [testEvent(i % 3 === 0 ? 'AccessDenied' : 'AccessPermitted', { i })], { expectedVersion: 'any' });
    return t.store.readAll(0, 10_000);
  }

  it('applies each event exactly once however batches arrive: shuffled, split, redelivered', async () => {
    const events = await seed(60);
    const runner = new ProjectionRunner(t.db, [catalogue, new ApplicationLog()]);
    const shuffled = [...events].sort((a, b) => ((a.globalSeq * 7919) % 61) - ((b.globalSeq * 7919) % 61));
    await runner.applyBatch(shuffled.slice(0, 25));
    await runner.applyBatch(shuffled.slice(10, 40)); // overlaps the first batch
    await runner.applyBatch(shuffled.slice(35));
    await runner.applyBatch(events); // a full redelivery
    const rows = await t.db.query<{ n: string | number; d: string | number }>('SELECT count(*) AS n, count(DISTINCT global_seq) AS d FROM test_applications');
    expect(Number(rows[0]?.n)).toBe(60);
    expect(Number(rows[0]?.d)).toBe(60);
    expect(await runner.position()).toBe(59);
    const ledger = await t.db.query('SELECT * FROM custos_projection_ledger');
    expect(ledger).toHaveLength(0); // pruned below the checkpoint
    const [types] = await t.db.query<{ n: string | number }>('SELECT sum(event_count) AS n FROM custos_rm_event_types');
    expect(Number(types?.n)).toBe(60);
  });

  it('holds the checkpoint below a gap until the gap is filled', async () => {
    const events = await seed(10);
    const runner = new ProjectionRunner(t.db, [catalogue]);
    await runner.applyBatch(events.filter((e) => e.globalSeq !== 4));
    expect(await runner.position()).toBe(3);
    // Only what lies beyond the gap is in the ledger; what continued the checkpoint moved it.
    const ledger = await t.db.query<{ global_seq: number | string }>('SELECT global_seq FROM custos_projection_ledger ORDER BY global_seq');
    expect(ledger.map((r) => Number(r.global_seq))).toEqual([5, 6, 7, 8, 9]);
    await runner.applyBatch([events[4]!]);
    expect(await runner.position()).toBe(9);
    expect(await t.db.query('SELECT * FROM custos_projection_ledger')).toHaveLength(0);
  });

  it('replays the log into the same state as live projection, byte for byte', async () => {
    const events = await seed(50);
    const runner = new ProjectionRunner(t.db, [catalogue]);
    // Live: out of order, in small batches, as partitions would deliver.
    const odd = events.filter((e) => e.globalSeq % 2 === 1);
    const even = events.filter((e) => e.globalSeq % 2 === 0);
    for (let i = 0; i < 25; i += 5) {
      await runner.applyBatch(odd.slice(i, i + 5));
      await runner.applyBatch(even.slice(i, i + 5));
    }
    const live = await snapshotTables(t.db, catalogue.tables);
    const progress: number[] = [];
    const replayed = await runner.replay(t.store, { pageSize: 20, onProgress: (done) => progress.push(done) });
    expect(replayed).toBe(50);
    expect(progress).toEqual([20, 40, 50]);
    expect(await snapshotTables(t.db, catalogue.tables)).toEqual(live);
    expect(JSON.stringify(await snapshotTables(t.db, catalogue.tables))).toBe(JSON.stringify(live));
    expect(await runner.position()).toBe(49);
    const streams = await t.db.query<{ stream_id: string; version: number; event_count: number }>('SELECT stream_id, version, event_count FROM custos_rm_streams ORDER BY stream_id');
    expect(streams.map((s) => [s.stream_id, s.version, s.event_count])).toEqual([
      ['access-0', 8, 8],
      ['access-1', 7, 7],
      ['access-2', 7, 7],
      ['access-3', 7, 7],
      ['access-4', 7, 7],
      ['access-5', 7, 7],
      ['access-6', 7, 7],
    ]);
  });

  it('feeds projections in process from the store (embedded mode) and trims the outbox behind it', async () => {
    await seed(30);
    const runner = new ProjectionRunner(t.db, [catalogue]);
    const feed = new StoreEventFeed(t.store, t.db, runner, createLogger('silent'), { batchSize: 7, pollIntervalMs: 10 });
    expect(await feed.catchUp()).toBe(29);
    expect(await t.db.query('SELECT * FROM custos_outbox')).toHaveLength(0);
    feed.start();
    await t.store.append('consent-p1', [testEvent('ConsentGranted')], { expectedVersion: 'no-stream' });
    const deadline = Date.now() + 10_000;
    while ((await runner.position()) < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await feed.stop();
    expect(await runner.position()).toBe(30);
  });
});
