import type { StoredEvent } from '@custos/event-store';
import { observationsOf, SentinelCore } from './sentinel-runner.js';

const T0 = Date.parse('2026-11-02T09:00:00Z'); // a Monday, 09:00 UTC
let seq = 0;

/** A DICOMweb decision as the gateway records it (AccessDecided with its `dicom` part). */
function dicomDecision(actor: string, patientId: string, at: number, level: string, decision: 'PERMIT' | 'DENY' = 'PERMIT'): StoredEvent {
  seq += 1;
  return {
    globalSeq: seq,
    eventId: `ev-${seq}`,
    streamId: `access-${patientId}`,
    version: 1,
    type: 'AccessDecided',
    schemaVersion: 2,
    data: {
      resourceType: 'image',
      resourceId: `1.2.3.${seq}`,
      action: level === 'metadata' || level === 'search' ? 'view' : 'download',
      purpose: 'TREATMENT',
      patientId,
      decision,
      rule: decision === 'PERMIT' ? 'clinician-treatment' : 'no-matching-rule',
      reason: 'r',
      emergency: false,
      consentVersion: 0,
      policyVersion: 'v',
      dicom: { level, studyUid: `1.2.3.${seq}`, purposeSource: 'header', deidentified: false },
    },
    metadata: { actor: { id: actor, roles: ['clinician'] }, correlationId: `c${seq}`, patientId },
    occurredAt: new Date(at).toISOString(),
    hash: `h${seq}`,
    prevHash: `h${seq - 1}`,
  } as StoredEvent;
}

describe('the sentinel sees DICOMweb accesses like any other', () => {
  beforeEach(() => {
    seq = 0;
  });

  it('observes a permitted retrieve of whole instances as an access and an export of the patient; metadata, searches and refusals as accesses only', () => {
    for (const level of ['study', 'series', 'instance']) {
      expect(observationsOf(dicomDecision('dr-1', 'p1', T0, level)).map((o) => o.kind)).toEqual(['export', 'access']);
    }
    for (const level of ['metadata', 'frames', 'rendered', 'search']) {
      expect(observationsOf(dicomDecision('dr-1', 'p1', T0, level)).map((o) => o.kind)).toEqual(['access']);
    }
    expect(observationsOf(dicomDecision('dr-1', 'p1', T0, 'study', 'DENY')).map((o) => o.kind)).toEqual(['access']);
  });

  it("raises bulk-export when one actor retrieves 200 patients' studies in a day through DICOMweb, not at 199", () => {
    const sweep = (n: number) => Array.from({ length: n }, (_, i) => dicomDecision('dr-bulk', `p${i}`, T0 + i * 1000, 'study'));
    const core = new SentinelCore();
    const at199 = sweep(199).flatMap((e) => core.evaluate(e)).map((r) => r.detection.rule);
    expect(at199).not.toContain('bulk-export');
    const at200 = core.evaluate(dicomDecision('dr-bulk', 'p199', T0 + 200_000, 'study')).map((r) => [r.detection.rule, r.detection.subject.id]);
    expect(at200).toContainEqual(['bulk-export', 'dr-bulk']);
  });
});
