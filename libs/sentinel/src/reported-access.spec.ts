import type { StoredEvent } from '@custos/event-store';
import { observationsOf, SentinelCore } from './sentinel-runner.js';

const T0 = Date.parse('2026-11-02T09:00:00Z'); // a Monday, 09:00 UTC
const MIN = 60_000;
let seq = 0;

/** An access another system reported (AccessReported as the ingest records it), one patient, by agent `who` of `source`. */
function reported(source: string, who: string, patientId: string, at: number, outcome = '0'): StoredEvent {
  seq += 1;
  return {
    globalSeq: seq,
    eventId: `ev-${seq}`,
    streamId: `access-${patientId}`,
    version: 1,
    type: 'AccessReported',
    schemaVersion: 1,
    data: {
      source: { client: source, observer: { reference: 'Device/ehr' }, site: null },
      auditEventId: `ae-${seq}`,
      recorded: new Date(at).toISOString(),
      type: { code: 'rest' },
      subtype: [],
      action: 'R',
      outcome,
      decision: outcome === '0' ? 'reported-success' : 'reported-failure',
      actorId: `${source}/${who}`,
      agents: [{ who: { identifier: { value: who } }, requestor: true, type: [], roles: [] }],
      purposeOfEvent: [{ code: 'TREAT' }],
      purpose: 'TREATMENT',
      emergency: false,
      entities: [{ what: { reference: `Patient/${patientId}` }, type: null, role: null }],
      patientId,
    },
    metadata: { actor: { id: source, roles: ['audit-source'] }, correlationId: `c${seq}`, patientId },
    occurredAt: new Date(at).toISOString(),
    hash: `h${seq}`,
    prevHash: `h${seq - 1}`,
  } as StoredEvent;
}

/** A decision Custos made itself, for comparison. */
function decided(actor: string, patientId: string, at: number): StoredEvent {
  seq += 1;
  return {
    ...reported('x', 'y', patientId, at),
    eventId: `ev-${seq}`,
    globalSeq: seq,
    type: 'AccessDecided',
    data: { resourceType: 'image', resourceId: `img-${patientId}`, action: 'view', purpose: 'TREATMENT', patientId, decision: 'PERMIT', rule: 'clinician-treatment', reason: 'ok', emergency: false, consentVersion: 0, policyVersion: 'v' },
    metadata: { actor: { id: actor, roles: ['clinician'] }, correlationId: `c${seq}`, patientId },
  } as StoredEvent;
}

const rulesRaised = (core: SentinelCore, events: StoredEvent[]) => events.flatMap((e) => core.evaluate(e)).map((r) => [r.detection.rule, r.detection.subject.id]);

describe('the sentinel sees reported accesses like any other', () => {
  beforeEach(() => {
    seq = 0;
  });

  it('observes a reported access as an access by the source-qualified agent, a reported failure as a refusal', () => {
    expect(observationsOf(reported('ehr-1', 'u42', 'p1', T0))).toEqual([expect.objectContaining({ kind: 'access', actorId: 'ehr-1/u42', patientId: 'p1', decision: 'PERMIT', purpose: 'TREATMENT' })]);
    expect(observationsOf(reported('ehr-1', 'u42', 'p1', T0, '8'))).toEqual([expect.objectContaining({ decision: 'DENY' })]);
  });

  it('raises many-patients when one agent of one source reads 30 patients within the hour, not at 29', () => {
    const sweep = (n: number) => Array.from({ length: n }, (_, i) => reported('ehr-1', 'u42', `p${i}`, T0 + i * MIN));
    expect(rulesRaised(new SentinelCore(), sweep(29))).toEqual([]);
    expect(rulesRaised(new SentinelCore(), sweep(30))).toEqual([['many-patients', 'ehr-1/u42']]);
  });

  it('counts agents per source: the same user id at two sources, or a source naming a Custos user, is not one actor', () => {
    const mixed = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? reported('ehr-1', 'dr-1', `p${i}`, T0 + i * MIN) : reported('viewer-2', 'dr-1', `p${i}`, T0 + i * MIN)));
    expect(rulesRaised(new SentinelCore(), mixed)).toEqual([]);
    const posing = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? reported('ehr-1', 'dr-1', `p${i}`, T0 + i * MIN) : decided('dr-1', `p${i}`, T0 + i * MIN)));
    expect(rulesRaised(new SentinelCore(), posing)).toEqual([]);
  });
});
