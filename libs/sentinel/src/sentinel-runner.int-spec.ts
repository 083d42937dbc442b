import { type NewEvent } from '@custos/event-store';
import { ProjectionRunner } from '@custos/projections';
import { openTestStore, snapshotTables, type StoreKind, type TestStore } from '@custos/testing';
import pino from 'pino';
import { IncidentsProjection, PatientProfilesProjection } from './incidents.projection.js';
import { SentinelRunner } from './sentinel-runner.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

const T0 = Date.parse('2026-11-02T19:00:00Z');
const access = (actor: string, patientId: string, at: number, decision: 'PERMIT' | 'DENY' = 'PERMIT'): NewEvent => ({
  type: 'AccessDecided',
  schemaVersion: 2,
  data: { resourceType: 'image', resourceId: `img-${patientId}`, action: 'view', purpose: 'TREATMENT', patientId, decision, rule: 'r', reason: 'x', emergency: false, consentVersion: 0, policyVersion: 'v' },
  metadata: { actor: { id: actor, roles: ['clinician'] }, correlationId: 'c', patientId },
  occurredAt: new Date(at),
});

describe.each<StoreKind>(['pglite', 'postgres'])('the sentinel runner on %s', (kind) => {
  let t: TestStore;
  const logger = pino({ level: 'silent' });
  beforeEach(async () => {
    t = await openTestStore(kind, ALL_MIGRATIONS);
  });
  afterEach(async () => {
    await t.close();
  });

  it('records each detection once with its incident, survives a restart and a lost position without recording twice, and the read model rebuilds the same', async () => {
    for (let i = 0; i < 35; i++) await t.store.append(`access-q${i}`, [access('snoop', `q${i}`, T0 + i * 60_000)], { expectedVersion: 'any' });
    for (let i = 0; i < 10; i++) await t.store.append('access-z', [access('prober', 'z', T0 + i * 1000, 'DENY')], { expectedVersion: 'any' });
    const runner = new SentinelRunner(t.db, t.store, logger);
    await runner.catchUp();
    expect(runner.counts).toEqual({ recorded: 2, alreadyRecorded: 0 });
    const types = async () => (await t.store.readAll(0, 10_000)).map((e) => e.type).filter((x) => x !== 'AccessDecided');
    expect(await types()).toEqual(['DetectionRaised', 'IncidentOpened', 'DetectionRaised', 'IncidentOpened']);
    // Its own records are in the log now: evaluating them raises nothing.
    await runner.catchUp();
    expect(runner.counts.recorded).toBe(2);

    // A restart resumes from the saved position: nothing re-evaluated, nothing recorded.
    const restarted = new SentinelRunner(t.db, t.store, logger);
    await restarted.catchUp();
    expect(restarted.counts).toEqual({ recorded: 0, alreadyRecorded: 0 });
    // A lost position (a crash before it was saved): everything evaluated again, nothing recorded twice.
    await t.db.execute('DELETE FROM custos_sentinel_position');
    const again = new SentinelRunner(t.db, t.store, logger);
    await again.catchUp();
    expect(again.counts).toEqual({ recorded: 0, alreadyRecorded: 2 });
    expect(await types()).toHaveLength(4);

    // The incidents read model: live, then rebuilt from the log, the same rows.
    const projections = [new IncidentsProjection(), new PatientProfilesProjection()];
    const live = new ProjectionRunner(t.db, projections, 'sentinel-test');
    for (let from = 0; ; ) {
      const events = await t.store.readAll(from, 500);
      if (events.length === 0) break;
      await live.applyBatch(events);
      from = (events[events.length - 1]?.globalSeq ?? 0) + 1;
    }
    const before = await snapshotTables(t.db, ['custos_rm_incidents']);
    expect((before.custos_rm_incidents as unknown[]).length).toBe(2);
    await live.replay(t.store);
    expect(await snapshotTables(t.db, ['custos_rm_incidents'])).toEqual(before);
  });
});
