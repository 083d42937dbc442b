import type { NewEvent, StoredEvent } from '@custos/event-store';
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

  describe('a second detection about the same actor', () => {
    const snooping = async () => {
      for (let i = 0; i < 35; i++) await t.store.append(`access-q${i}`, [access('snoop', `q${i}`, T0 + i * 60_000)], { expectedVersion: 'any' });
    };
    // Five patients denied within minutes: a denied burst, an hour after the many-patients detection.
    const probing = async () => {
      for (let i = 0; i < 5; i++) await t.store.append(`access-d${i}`, [access('snoop', `d${i}`, T0 + 60 * 60_000 + i * 1000, 'DENY')], { expectedVersion: 'any' });
    };
    const recorded = async (): Promise<StoredEvent[]> => (await t.store.readAll(0, 10_000)).filter((e) => e.type !== 'AccessDecided' && e.type !== 'IncidentTransitioned');

    it('is linked to the open incident by the incident decider, once', async () => {
      await snooping();
      await probing();
      const runner = new SentinelRunner(t.db, t.store, logger);
      await runner.catchUp();
      expect(runner.counts).toEqual({ recorded: 2, alreadyRecorded: 0 });
      const events = await recorded();
      expect(events.map((e) => e.type)).toEqual(['DetectionRaised', 'IncidentOpened', 'DetectionRaised', 'DetectionLinked']);
      const [, opened, second, linked] = events;
      expect(linked?.streamId).toBe(opened?.streamId);
      expect(linked?.data).toMatchObject({ incidentId: (opened?.data as { incidentId: string }).incidentId, detectionId: (second?.data as { detectionId: string }).detectionId, rule: 'denied-burst' });
      expect(linked?.metadata).toEqual({ actor: { id: 'custos-sentinel', roles: ['system'] }, correlationId: (second?.data as { detectionId: string }).detectionId });
      expect(linked?.occurredAt).toBe(second?.occurredAt);

      await t.db.execute('DELETE FROM custos_sentinel_position');
      const again = new SentinelRunner(t.db, t.store, logger);
      await again.catchUp();
      expect(again.counts).toEqual({ recorded: 0, alreadyRecorded: 2 });
      expect(await recorded()).toHaveLength(4);
    });

    it('opens a new incident when the one it was routed to ended before the sentinel read that far (the decider links nothing to an ended case)', async () => {
      await snooping();
      const runner = new SentinelRunner(t.db, t.store, logger);
      await runner.catchUp();
      const [, opened] = await recorded();
      const incidentId = (opened?.data as { incidentId: string }).incidentId;
      await probing();
      // An officer dismisses the case after the denials were logged, before the sentinel reads them.
      await t.store.append(
        opened?.streamId ?? '',
        [{ type: 'IncidentTransitioned', schemaVersion: 1, data: { incidentId, from: 'OPEN', to: 'DISMISSED', officer: 'officer-1', at: new Date(T0 + 2 * 60 * 60_000).toISOString(), note: 'known' }, metadata: { actor: { id: 'officer-1', roles: ['privacy-officer'] }, correlationId: 'c' }, occurredAt: new Date(T0 + 2 * 60 * 60_000) }],
        { expectedVersion: 1 },
      );
      await runner.catchUp();
      expect(runner.counts).toEqual({ recorded: 2, alreadyRecorded: 0 });
      const events = await recorded();
      expect(events.map((e) => e.type)).toEqual(['DetectionRaised', 'IncidentOpened', 'DetectionRaised', 'IncidentOpened']);
      expect((events[3]?.data as { incidentId: string }).incidentId).not.toBe(incidentId);
      expect(events[3]?.data).toMatchObject({ source: 'sentinel', rules: ['denied-burst'], detectionIds: [(events[2]?.data as { detectionId: string }).detectionId] });
    });
  });
});
