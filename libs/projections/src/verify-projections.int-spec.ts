import type { StoredEvent } from '@custos/event-store';
import { openTestStore, type StoreKind, testEvent, type TestStore } from '@custos/testing';
import { ProjectionRunner, Projections1764000001000, StreamCatalogueProjection, verifyProjections } from './index.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

/** The projector's state as Kafka leaves it (out of order, a ledger beyond the checkpoint) and while it runs. */
describe.each<StoreKind>(['pglite', 'postgres'])('verifyProjections on %s', (kind) => {
  let t: TestStore;
  const projections = [new StreamCatalogueProjection()];
  const migrations = [Projections1764000001000];
  beforeEach(async () => {
    t = await openTestStore(kind, ALL_MIGRATIONS);
  });
  afterEach(async () => {
    await t.close();
  });

  async function seed(n: number): Promise<StoredEvent[]> {
    for (let i = 0; i < n; i++) await t.store.append(`access-${i % 7}`, [testEvent(i % 3 === 0 ? 'AccessDenied' : 'AccessPermitted', { i })], { expectedVersion: 'any' });
    return t.store.readAll(0, 10_000);
  }

  it('compares what was applied beyond a gap too (the ledger), and leaves the live state untouched', async () => {
    const events = await seed(30);
    const runner = new ProjectionRunner(t.db, projections);
    await runner.applyBatch(events.slice(0, 10));
    await runner.applyBatch(events.slice(15, 20)); // another partition ahead: ledger 15..19
    expect(await runner.position()).toBe(9);
    const before = await t.db.query('SELECT * FROM custos_rm_streams ORDER BY stream_id');
    expect(await verifyProjections(t.db, projections, migrations)).toMatchObject({ ok: true, position: 9, events: 15, differences: [] });
    expect(await t.db.query('SELECT * FROM custos_rm_streams ORDER BY stream_id')).toEqual(before);
    expect(await t.db.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'custos_verify_%'")).toEqual([]);

    await t.db.execute("UPDATE custos_rm_event_types SET event_count = event_count + 1 WHERE type = 'AccessDenied'");
    expect(await verifyProjections(t.db, projections, migrations)).toMatchObject({ ok: false, differences: [{ table: 'custos_rm_event_types', key: { type: 'AccessDenied' }, kind: 'differs' }] });
  });

  it('sees no difference while the projector keeps applying (one snapshot for the live state and the log)', async () => {
    const events = await seed(120);
    const runner = new ProjectionRunner(t.db, projections);
    await runner.applyBatch(events.slice(0, 20));
    let stop = false;
    const projecting = (async () => {
      for (let from = 20; from < events.length && !stop; from += 5) {
        await runner.applyBatch(events.slice(from, from + 5));
        await t.store.append('access-live', [testEvent('AccessPermitted', { from })], { expectedVersion: 'any' });
      }
    })();
    try {
      for (let round = 0; round < 4; round++) expect(await verifyProjections(t.db, projections, migrations, { pageSize: 7 })).toMatchObject({ ok: true, differences: [] });
    } finally {
      stop = true;
      await projecting;
    }
  });
});
