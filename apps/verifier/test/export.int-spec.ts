import { KeyService, openKek } from '@custos/keys';
import { Checkpoints, exportBundle, LogTree } from '@custos/log';
import { openTestStore, type StoreKind, testEvent, type TestStore } from '@custos/testing';
import { verifyBundle } from '../src/verify-bundle.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

/**
 * The export as `libs/log` writes it, from a real store, read by the offline verifier: a
 * stream with versions before the window (their links carry their own proofs), another
 * patient's events in between, and events after the checkpoint (left out).
 */
describe.each<StoreKind>(['pglite', 'postgres'])('a patient export on %s, checked offline', (kind) => {
  let t: TestStore;
  beforeEach(async () => {
    t = await openTestStore(kind, ALL_MIGRATIONS);
  });
  afterEach(async () => {
    await t.close();
  });

  const at = (day: number) => ({ ...testEvent('AccessDecided', { day, decision: day % 3 ? 'PERMIT' : 'DENY' }, 'p1'), occurredAt: new Date(Date.UTC(2026, 0, day)) });

  it('proves every link, signs the heads, leaves out what came after the checkpoint, and fails a dropped tail', async () => {
    for (const day of [1, 2, 3, 4, 5, 6]) {
      await t.store.append('access-p1', [at(day)], { expectedVersion: 'any' });
      await t.store.append('access-p2', [testEvent('AccessDecided', { day }, 'p2')], { expectedVersion: 'any' });
    }
    await t.store.append('consent-p1', [{ ...testEvent('ConsentGranted', { purpose: 'TREATMENT' }, 'p1'), occurredAt: new Date(Date.UTC(2026, 0, 4)) }], { expectedVersion: 'any' });
    const tree = new LogTree(t.db);
    await tree.integrate();
    const keys = new KeyService(t.db, await openKek({ kind: 'memory' }, () => undefined));
    const checkpoints = new Checkpoints(t.db, keys, 'custos.test/log');
    await checkpoints.sign(tree);
    await t.store.append('access-p1', [at(7)], { expectedVersion: 'any' }); // after the checkpoint
    await tree.integrate();
    const jwks = await keys.jwks();

    const window = { patientId: 'p1', from: new Date(Date.UTC(2026, 0, 3)), to: new Date(Date.UTC(2027, 0, 1)) };
    const bundle = await exportBundle(t.db, tree, checkpoints, jwks, window, new Date());
    expect(bundle.format).toBe('custos-export/2');
    expect(bundle.checkpoint.treeSize).toBe(13);
    expect(bundle.events.map((e) => [e.event.streamId, e.event.version])).toEqual([
      ['access-p1', 3],
      ['access-p1', 4],
      ['access-p1', 5],
      ['access-p1', 6],
      ['consent-p1', 1],
    ]); // in global order
    const access = bundle.streams.find((s) => s.streamId === 'access-p1')!;
    expect(access.versionAtCheckpoint).toBe(6); // version 7 came after the checkpoint
    expect(access.links.map((l) => l.leaf !== undefined)).toEqual([true, true, false, false, false, false]); // before the window: proven by their own leaf
    expect(await verifyBundle(JSON.parse(JSON.stringify(bundle)) as unknown, { jwks })).toEqual({ ok: true, treeSize: 13, events: 5, streams: 2, links: 7 });

    const cut = structuredClone(bundle);
    const a = cut.streams.find((s) => s.streamId === 'access-p1')!;
    a.links.splice(4);
    a.versionAtCheckpoint = 4;
    cut.events = cut.events.filter((e) => !(e.event.streamId === 'access-p1' && e.event.version > 4));
    cut.total = cut.events.length;
    expect((await verifyBundle(cut, { jwks })).failure).toMatch(/^stream access-p1: the bundle shows it up to version 4, but Custos signed its head at the checkpoint as version 6/);

    // An earlier version's proof swapped for another event's: caught at that stream and version.
    const swapped = structuredClone(bundle);
    const first = swapped.streams.find((s) => s.streamId === 'access-p1')!.links[0]!;
    first.leaf = swapped.streams.find((s) => s.streamId === 'access-p1')!.links[1]!.leaf!;
    expect((await verifyBundle(swapped, { jwks })).failure).toMatch(/^stream access-p1: version 1 \(global sequence 0\): /);
  });
});
