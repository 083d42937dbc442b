import { metadataFor } from '@custos/event-store';
import { ProjectionRunner } from '@custos/projections';
import { commandContextOf, openTestStore, principals, snapshotTables, type TestStore } from '@custos/testing';
import type { IncidentCommand } from './domain/incident.decide.js';
import { type IncidentOpenedData, incidentStreamId } from './domain/incident.events.js';
import { profileStreamId, type ReferenceEvent } from './domain/reference.events.js';
import { IncidentsProjection, PatientProfilesProjection } from './incidents.projection.js';
import { listIncidents } from './incident.queries.js';
import { referenceCodec } from './reference.handlers.js';
import { incidentShell } from './sentinel-runner.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

const T0 = '2026-12-01T10:00:00.000Z';
const T1 = '2026-12-01T11:00:00.000Z';
const opened = (incidentId: string, over: Partial<IncidentOpenedData> = {}): IncidentOpenedData => ({
  incidentId,
  source: 'sentinel',
  title: `many-patients by u1 (${incidentId})`,
  severity: 'medium',
  subject: { kind: 'actor', id: 'u1' },
  detectionIds: ['d1'],
  rules: ['many-patients'],
  patientIds: ['p1', 'p2'],
  discoveredAt: T0,
  openedAt: T0,
  evidence: [{ eventId: 'e1', sequence: 1, hash: 'h1' }],
  ...over,
});

/**
 * Incidents below HTTP: cases decided and stored through the shell on PGlite by the security
 * officer, projected into the incident list (state, severity, rules, patients) and the
 * patient profiles; a replay from the log gives the same rows.
 */
describe('incidents and patient profiles projections (PGlite)', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await openTestStore('pglite', ALL_MIGRATIONS);
  });
  afterEach(() => t.close());

  const officer = principals.securityOfficer();
  const by = { by: officer.sub, at: T1 };
  const run = (incidentId: string, command: IncidentCommand) => incidentShell(t.store, { now: () => new Date(T1) }).handle(incidentStreamId(incidentId), command, commandContextOf(officer));

  it('lists each case with its state, raised severity, linked rules and patients, and a replay agrees', async () => {
    await run('inc-1', { type: 'OpenIncident', opened: opened('inc-1') });
    await run('inc-1', { type: 'LinkDetection', detectionId: 'd2', rule: 'vip-access', severity: 'high', patientIds: ['p3'], evidence: [{ eventId: 'e2', sequence: 2, hash: 'h2' }], at: T1 });
    await run('inc-1', { type: 'TransitionIncident', to: 'TRIAGED', note: 'looked at the trail', ...by });
    await run('inc-1', { type: 'AddPatients', patientIds: ['p9'], note: 'shared login', ...by });
    await run('inc-2', { type: 'OpenIncident', opened: opened('inc-2', { subject: { kind: 'patient', id: 'p7' }, patientIds: ['p7'], rules: ['vip-snooping'], severity: 'low' }) });
    await run('inc-2', { type: 'ChangeSeverity', to: 'critical', reason: 'a VIP', ...by });
    const profile: ReferenceEvent = {
      type: 'PatientProfileRecorded',
      data: { patientId: 'p7', familyName: 'Doe', address: '1 Main St', region: 'CA', country: 'US', euDataSubject: false, vip: true, employee: false, familyNameIndex: 'fi', addressIndex: 'ai' },
    };
    const steward = principals.steward();
    await t.store.append(profileStreamId('p7'), [{ ...referenceCodec.encode(profile), metadata: metadataFor(commandContextOf(steward), 'p7'), occurredAt: new Date(T1) }], { expectedVersion: 'no-stream' });

    const projections = [new IncidentsProjection(), new PatientProfilesProjection()];
    const runner = new ProjectionRunner(t.db, projections);
    await runner.applyBatch(await t.store.readAll(0));
    expect(await runner.faults()).toEqual([]);

    const { items } = await listIncidents(t.db, { limit: 10 });
    expect(items.map((i) => [i.incidentId, i.state, i.severity, i.subject, i.rules, i.patientIds, i.detections])).toEqual([
      ['inc-2', 'OPEN', 'critical', { kind: 'patient', id: 'p7' }, ['vip-snooping'], ['p7'], 1],
      ['inc-1', 'TRIAGED', 'high', { kind: 'actor', id: 'u1' }, ['many-patients', 'vip-access'], ['p1', 'p2', 'p3', 'p9'], 2],
    ]);
    expect((await listIncidents(t.db, { limit: 10, patient: 'p9' })).items.map((i) => i.incidentId)).toEqual(['inc-1']);
    expect(await t.db.query('SELECT patient_id, region, country, eu_data_subject, vip, employee FROM custos_rm_patient_profiles')).toEqual([
      { patient_id: 'p7', region: 'CA', country: 'US', eu_data_subject: false, vip: true, employee: false },
    ]);

    const tables = projections.flatMap((p) => p.tables);
    const live = await snapshotTables(t.db, tables);
    await runner.replay(t.store);
    expect(await snapshotTables(t.db, tables)).toEqual(live);
  });
});
