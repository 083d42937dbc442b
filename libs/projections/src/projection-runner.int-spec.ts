import type { Sql, StoredEvent } from '@custos/event-store';
import { createLogger } from '@custos/platform';
import { pino } from 'pino';
import { openTestStore, snapshotTables, type StoreKind, testEvent, type TestStore } from '@custos/testing';
import { type Projection, ProjectionRunner, quarantineSummary, StoreEventFeed, StreamCatalogueProjection } from './index.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

/** A read model with a NOT NULL column fed from the event: an event without `n` is refused by its SQL. */
class Strict implements Projection {
  readonly name = 'strict';
  readonly tables = ['test_strict'];
  async apply(sql: Sql, e: StoredEvent): Promise<void> {
    await sql.execute('INSERT INTO test_strict (global_seq, n) VALUES ($1, $2)', [e.globalSeq, (e.data as { n?: number }).n ?? null]);
  }
  /** As the real projections do: the whole batch in one statement, so one bad row fails it all. */
  async applyBatch(sql: Sql, events: readonly StoredEvent[]): Promise<void> {
    await sql.execute('INSERT INTO test_strict (global_seq, n) SELECT * FROM unnest($1::bigint[], $2::int[])', [events.map((e) => e.globalSeq), events.map((e) => (e.data as { n?: number }).n ?? null)]);
  }
}

/** Code that trusts the event's shape: throws a TypeError (no SQL involved) on an event without `n`. */
class Fragile implements Projection {
  readonly name = 'fragile';
  readonly tables = [];
  seen = 0;
  apply(_sql: Sql, e: StoredEvent): Promise<void> {
    this.seen += (e.data as { n?: number }).n!.toFixed(0).length > 0 ? 1 : 0;
    return Promise.resolve();
  }
}

/** Fails as the store going away would: never quarantined, the batch is retried. */
class Unreachable implements Projection {
  readonly name = 'unreachable';
  readonly tables = [];
  failing = true;
  apply(): Promise<void> {
    if (!this.failing) return Promise.resolve();
    return Promise.reject(Object.assign(new Error('could not serialize access due to concurrent update'), { code: '40001' }));
  }
}

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
    t = await openTestStore(kind, ALL_MIGRATIONS);
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

  describe('a poison event', () => {
    beforeEach(async () => {
      await t.db.execute('CREATE TABLE test_strict (global_seq bigint PRIMARY KEY, n integer NOT NULL)');
    });

    async function seedWithPoison(): Promise<StoredEvent[]> {
      for (let i = 0; i < 10; i++) {
        // The event at global sequence 4 lacks `n`: test_strict's NOT NULL refuses it; the others take it.
        await t.store.append(`thing-${i % 3}`, [testEvent('ThingHappened', i === 4 ? { secret: 'Jane Roe, born 1970' } : { n: i })], { expectedVersion: 'any' });
      }
      return t.store.readAll(0, 100);
    }

    it('is quarantined for the projection that refuses it alone; the others and that projection go on', async () => {
      const events = await seedWithPoison();
      const lines: unknown[] = [];
      const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
      const runner = new ProjectionRunner(t.db, [catalogue, new Strict(), new Fragile(), new ApplicationLog()], 'main', { logger });
      await runner.applyBatch(events.slice(0, 7));
      await runner.applyBatch(events.slice(7));
      expect(await runner.position()).toBe(9);
      const strict = await t.db.query<{ global_seq: number | string }>('SELECT global_seq FROM test_strict ORDER BY global_seq');
      expect(strict.map((r) => Number(r.global_seq))).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 9]);
      const logged = await t.db.query<{ n: number | string }>('SELECT count(*) AS n FROM test_applications');
      expect(Number(logged[0]?.n)).toBe(10); // the other projections took the poison event
      const [types] = await t.db.query<{ n: string | number }>('SELECT sum(event_count) AS n FROM custos_rm_event_types');
      expect(Number(types?.n)).toBe(10);
      const faults = await runner.faults();
      expect(faults).toEqual([
        expect.objectContaining({ projection: 'fragile', globalSeq: 4, eventId: events[4]?.eventId, eventType: 'ThingHappened', code: 'TypeError' }),
        expect.objectContaining({ projection: 'strict', globalSeq: 4, eventId: events[4]?.eventId, eventType: 'ThingHappened', code: '23502' }),
      ]);
      expect(faults[1]?.error).toMatch(/column "n"/);
      expect(await quarantineSummary(t.db)).toMatch(/^events quarantined: fragile \(1 event, first at global sequence 4\), strict \(1 event, first at global sequence 4\)/);
      // One error line per projection, naming it and the event, without the event's data.
      expect(lines).toHaveLength(2);
      expect(lines).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ projection: 'strict', globalSeq: 4, eventType: 'ThingHappened', code: '23502' }),
          expect.objectContaining({ projection: 'fragile', globalSeq: 4, eventType: 'ThingHappened', code: 'TypeError' }),
        ]),
      );
      expect(JSON.stringify(lines)).not.toMatch(/Jane|1970/);
      // Redelivered, the poison event is not applied or recorded twice.
      await runner.applyBatch(events);
      expect(await runner.faults()).toHaveLength(2);
    });

    it('replay reports the quarantined event instead of failing, and clears what no longer fails', async () => {
      const events = await seedWithPoison();
      const runner = new ProjectionRunner(t.db, [catalogue, new Strict()]);
      await runner.applyBatch(events);
      expect(await runner.replay(t.store, { pageSize: 3 })).toBe(10);
      expect(await runner.position()).toBe(9);
      expect((await runner.faults()).map((f) => [f.projection, f.globalSeq])).toEqual([['strict', 4]]);
      // The projection fixed (here: its column now takes a missing value), a replay clears the fault.
      await t.db.execute('ALTER TABLE test_strict ALTER COLUMN n DROP NOT NULL');
      expect(await runner.replay(t.store)).toBe(10);
      expect(await runner.faults()).toEqual([]);
      expect(await quarantineSummary(t.db)).toBeUndefined();
      expect(await t.db.query('SELECT * FROM test_strict')).toHaveLength(10);
    });

    it('two projectors of one group at once, overlapping batches: every event once, the poison recorded once', async () => {
      const events = await seedWithPoison();
      const a = new ProjectionRunner(t.db, [catalogue, new Strict(), new ApplicationLog()]);
      const b = new ProjectionRunner(t.db, [catalogue, new Strict(), new ApplicationLog()]);
      await Promise.all([a.applyBatch(events.slice(0, 6)), b.applyBatch(events.slice(3)), a.applyBatch(events.slice(2, 8)), b.applyBatch(events)]);
      expect(await a.position()).toBe(9);
      const [applied] = await t.db.query<{ n: string | number; d: string | number }>('SELECT count(*) AS n, count(DISTINCT global_seq) AS d FROM test_applications');
      expect([Number(applied?.n), Number(applied?.d)]).toEqual([10, 10]);
      expect(await t.db.query('SELECT * FROM test_strict')).toHaveLength(9);
      expect((await a.faults()).map((f) => [f.projection, f.globalSeq])).toEqual([['strict', 4]]);
    });

    it('never quarantines a failure that says nothing about the event: the batch is retried', async () => {
      const events = await seedWithPoison();
      const unreachable = new Unreachable();
      const runner = new ProjectionRunner(t.db, [catalogue, unreachable]);
      await expect(runner.applyBatch(events)).rejects.toThrow(/serialize/);
      expect(await runner.position()).toBe(-1);
      expect(await runner.faults()).toEqual([]);
      unreachable.failing = false;
      await runner.applyBatch(events);
      expect(await runner.position()).toBe(9);
    });
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
