import type { StoredEvent } from '@custos/event-store';
import { fold } from '@custos/decider';
import { ocsfProblems } from '../test/ocsf-schema.js';
import { incidentDecider } from './domain/incident.decide.js';
import type { IncidentEvent } from './domain/incident.events.js';
import { SentinelEngine } from './domain/rules.js';
import { accessToOcsf, detectionToOcsf, incidentToOcsf } from './ocsf.js';

const stored = (type: string, data: unknown, seq = 1, actor = 'dr-1'): StoredEvent => ({
  eventId: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
  streamId: 's',
  version: 1,
  globalSeq: seq,
  type,
  schemaVersion: 1,
  data,
  metadata: { actor: { id: actor, roles: ['clinician'] }, correlationId: `c${seq}` },
  occurredAt: '2026-11-02T19:00:00.000Z',
  prevHash: 'a'.repeat(64),
  hash: 'b'.repeat(64),
});

describe('OCSF 1.8.0 export (validated against the schema of ocsf/ocsf-schema 1.8.0)', () => {
  it('writes access decisions as Web Resource Access Activity: grant and deny', () => {
    const permit = accessToOcsf(stored('AccessDecided', { resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT', patientId: 'p1', decision: 'PERMIT', rule: 'r', reason: 'x', emergency: false, consentVersion: 2, policyVersion: 'v' }));
    const deny = accessToOcsf(stored('AccessDecided', { resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'RESEARCH', patientId: 'p1', decision: 'DENY', rule: 'r', reason: 'x', emergency: false, consentVersion: 0, policyVersion: 'v' }));
    const route = accessToOcsf(stored('RouteAccessDenied', { method: 'GET', route: '/v1/incidents', action: 'read', subject: 'Incident', patientId: null, rule: 'no-rule' }));
    for (const e of [permit, deny, route]) expect(ocsfProblems(e as Record<string, unknown>)).toEqual([]);
    expect([permit?.activity_id, deny?.activity_id, route?.activity_id]).toEqual([1, 2, 2]);
    expect(accessToOcsf(stored('ConsentChanged', {}))).toBeNull();
  });

  it('writes accesses other systems reported as Web Resource Access Activity by the source-qualified agent, marked as reported', () => {
    const data = { source: { client: 'ehr-1', observer: null, site: null }, auditEventId: 'ae-1', recorded: '2026-11-02T18:59:00.000Z', action: 'R', outcome: '4', decision: 'reported-failure', actorId: 'ehr-1/u42', purpose: 'TREATMENT', patientId: 'p1', entities: [{ what: { reference: 'Patient/p1' } }, { what: { reference: 'List/l1' } }] };
    const reported = accessToOcsf(stored('AccessReported', data, 2, 'ehr-1'));
    expect(ocsfProblems(reported as Record<string, unknown>)).toEqual([]);
    expect(reported).toMatchObject({ activity_id: 2, actor: { user: { uid: 'ehr-1/u42' } }, web_resources: [{ uid: 'List/l1', type: 'reported', data: { patient_id: 'p1' } }], unmapped: { reported_by: 'ehr-1', audit_event_id: 'ae-1' } });
  });

  it('writes detections as Detection Finding and incidents as Incident Finding with status and verdict', () => {
    const engine = new SentinelEngine();
    let detection;
    for (let i = 0; i < 30 && !detection; i++) {
      [detection] = engine.observe({ kind: 'access', ref: { eventId: `e${i}`, sequence: i, hash: 'h' }, at: Date.parse('2026-11-02T19:00:00Z') + i * 60_000, actorId: 'snoop', roles: ['clinician'], patientId: `p${i}`, decision: 'PERMIT', emergency: false, consentVersion: 0, purpose: 'TREATMENT' });
    }
    const finding = detectionToOcsf(stored('DetectionRaised', detection, 40, 'custos-sentinel'));
    expect(ocsfProblems(finding)).toEqual([]);
    expect(finding).toMatchObject({ class_uid: 2004, severity_id: 4, finding_info: { analytic: { uid: 'many-patients', type_id: 1 } } });

    const opened: IncidentEvent = {
      type: 'IncidentOpened',
      data: { incidentId: 'inc-1', source: 'sentinel', title: 't', severity: 'high', subject: { kind: 'actor', id: 'snoop' }, detectionIds: ['d1'], rules: ['many-patients'], patientIds: ['p1'], discoveredAt: '2026-11-02T19:30:00.000Z', openedAt: '2026-11-02T19:30:00.000Z', evidence: [{ eventId: 'e1', sequence: 1, hash: 'h' }] },
    };
    const verdict: IncidentEvent = { type: 'VerdictRecorded', data: { incidentId: 'inc-1', verdict: 'true-positive', by: 'so-1', at: '2026-11-03T00:00:00.000Z', note: 'n' } };
    const closed: IncidentEvent = { type: 'IncidentTransitioned', data: { incidentId: 'inc-1', from: 'RESOLVED', to: 'CLOSED', officer: 'so-1', at: '2026-11-04T00:00:00.000Z', note: 'n' } };
    const first = incidentToOcsf(stored('IncidentOpened', opened.data, 41), fold(incidentDecider, [opened]) as never);
    const last = incidentToOcsf(stored('IncidentTransitioned', closed.data, 43), fold(incidentDecider, [opened, verdict, closed]) as never);
    for (const e of [first, last]) expect(ocsfProblems(e)).toEqual([]);
    expect([first.activity_id, first.status_id]).toEqual([1, 1]);
    expect([last.activity_id, last.status_id, last.verdict_id]).toEqual([3, 5, 2]);
  });

  it('the validator itself refuses what the schema refuses', () => {
    expect(ocsfProblems({ class_uid: 2004, category_uid: 2, activity_id: 1, type_uid: 200401, time: 1, severity_id: 9, metadata: { version: '1.8.0', product: {} }, finding_info: { uid: 'x' }, bogus: 1 })).toEqual([
      '$.severity_id: 9 is not one of 0, 1, 2, 3, 4, 5, 6, 99',
      '$.metadata.product: needs at least one of name, uid',
      '$.bogus: not an attribute of this class or object',
    ]);
    expect(ocsfProblems({ class_uid: 2004, category_uid: 2, activity_id: 1, type_uid: 200402, time: 1, severity_id: 1, metadata: { version: '1.8.0', product: {} } })).toEqual(['$.finding_info: required', '$.metadata.product: needs at least one of name, uid', 'type_uid: not class_uid * 100 + activity_id']);
  });
});
