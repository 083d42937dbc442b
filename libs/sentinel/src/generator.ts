import type { StoredEvent } from '@custos/event-store';

/**
 * A seeded month of a hospital: 200 clinicians, each with a panel of 25 of 5,000 patients,
 * working weekdays 08:00-17:00 UTC; and seven planted cases. Replayed through the sentinel it
 * must raise exactly one incident per case and none for anyone else.
 */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAY = 86_400_000;
const HOUR = 3_600_000;
const START = Date.parse('2026-10-05T00:00:00Z'); // a Monday

export function generateMonth(seed: number): { events: StoredEvent[]; expected: Record<string, string> } {
  const rnd = mulberry32(seed);
  const raw: Array<Omit<StoredEvent, 'globalSeq' | 'eventId' | 'hash' | 'prevHash' | 'version'> & { at: number }> = [];
  const push = (at: number, type: string, streamId: string, data: Record<string, unknown>, actor = 'system', roles: string[] = ['system']) =>
    raw.push({ at, type, streamId, schemaVersion: 1, data, metadata: { actor: { id: actor, roles }, correlationId: 'gen' }, occurredAt: new Date(at).toISOString() });
  const consent = new Map<string, number>();
  const access = (at: number, actor: string, patient: string, over: Record<string, unknown> = {}) =>
    push(at, 'AccessDecided', `access-${patient}`, { resourceType: 'image', resourceId: `img-${patient}`, action: 'view', purpose: 'TREATMENT', patientId: patient, decision: 'PERMIT', rule: 'clinician-treatment', reason: 'ok', emergency: false, consentVersion: consent.get(patient) ?? 0, policyVersion: 'v', ...over }, actor, ['clinician']);
  const actor = (i: number) => `u${String(i).padStart(3, '0')}`;
  const patient = (i: number) => `p${String(i).padStart(4, '0')}`;

  // Reference data first: every patient and member has their own name and address.
  for (let i = 0; i < 5000; i++) push(START - DAY, 'PatientProfileRecorded', `patient-profile-${patient(i)}`, { patientId: patient(i), region: 'CA', country: 'US', euDataSubject: false, vip: i === 4500, employee: false, familyNameIndex: `fp${i}`, addressIndex: `ap${i}` });
  for (let i = 0; i < 200; i++) push(START - DAY, 'WorkforceMemberRecorded', `workforce-${actor(i)}`, { actorId: actor(i), status: 'active', since: new Date(START - 400 * DAY).toISOString(), familyNameIndex: `fu${i}`, addressIndex: `au${i}`, patientId: null });
  // Planted 2: u010 shares a (rare) family name with p4000.
  push(START - DAY, 'PatientProfileRecorded', 'patient-profile-p4000', { patientId: 'p4000', region: 'CA', country: 'US', euDataSubject: false, vip: false, employee: false, familyNameIndex: 'fu10', addressIndex: 'ap4000' });
  // Planted 6: p4700's consent changes twice on day 5.
  push(START + 5 * DAY + 7 * HOUR, 'ConsentChanged', 'consent-p4700', { patientId: 'p4700' });
  push(START + 5 * DAY + 7.5 * HOUR, 'ConsentChanged', 'consent-p4700', { patientId: 'p4700' });
  // Planted 7: u050 leaves on day 27.
  push(START + 27 * DAY, 'WorkforceMemberRecorded', 'workforce-u050', { actorId: 'u050', status: 'terminated', since: new Date(START + 27 * DAY).toISOString(), familyNameIndex: 'fu50', addressIndex: 'au50', patientId: null });

  // 30 days of ordinary work.
  for (let day = 0; day < 30; day++) {
    const dow = new Date(START + day * DAY).getUTCDay();
    if (dow === 0 || dow === 6) continue;
    for (let a = 0; a < 200; a++) {
      if (a === 50 && day >= 27) continue;
      const n = 10 + Math.floor(rnd() * 11);
      for (let k = 0; k < n; k++) {
        const at = START + day * DAY + 8 * HOUR + Math.floor(rnd() * 9 * HOUR);
        access(at, actor(a), patient(a * 25 + Math.floor(rnd() * 25)));
      }
    }
  }
  // Consent versions as the log has them when each access is made (p4700 at 2 after day 5).
  for (const r of raw) if (r.type === 'AccessDecided' && (r.data as { patientId: string }).patientId === 'p4700' && r.at > START + 5 * DAY + 8 * HOUR) (r.data as { consentVersion: number }).consentVersion = 2;

  // Planted 1: u007 opens 40 patients outside their panel one evening.
  for (let k = 0; k < 40; k++) access(START + 18 * DAY + 19 * HOUR + k * 80_000, 'u007', patient(3000 + k * 7));
  // Planted 2: u010 opens p4000.
  access(START + 15 * DAY + 10 * HOUR, 'u010', 'p4000');
  // Planted 3: six staff open the VIP p4500 within a morning.
  for (let k = 0; k < 6; k++) access(START + 22 * DAY + 9 * HOUR + k * 20 * 60_000, actor(120 + k), 'p4500');
  // Planted 4: u030 probes 12 patients and is refused each time, within 5 minutes.
  for (let k = 0; k < 12; k++) access(START + 11 * DAY + 14 * HOUR + k * 25_000, 'u030', patient(1000 + k), { decision: 'DENY', rule: 'no-consent' });
  // Planted 5: a regulator exports 300 patients in one day.
  for (let k = 0; k < 300; k++) push(START + 23 * DAY + 9 * HOUR + k * 60_000, 'AuditDataRead', 'audit-reads', { route: '/v1/exports', resourceType: 'audit-log', patientId: patient(k), filters: {}, itemsReturned: 3, rule: 'regulator-export' }, 'reg-1', ['regulator']);
  // Planted 6: u040 is let in on p4700 citing consent version 1 (superseded).
  access(START + 9 * DAY + 11 * HOUR, 'u040', 'p4700', { consentVersion: 1 });
  // Planted 7: u050 signs in after leaving.
  access(START + 28 * DAY + 10 * HOUR, 'u050', patient(50 * 25));

  raw.sort((x, y) => x.at - y.at);
  const versions = new Map<string, number>();
  const events = raw.map(({ at: _at, ...e }, i) => {
    const version = (versions.get(e.streamId) ?? 0) + 1;
    versions.set(e.streamId, version);
    return { ...e, globalSeq: i, eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, hash: `h${i}`, prevHash: `h${i - 1}`, version } as StoredEvent;
  });
  return {
    events,
    expected: { 'actor:u007': 'many-patients', 'actor:u010': 'relationship', 'patient:p4500': 'vip-access', 'actor:u030': 'denied-burst', 'actor:reg-1': 'bulk-export', 'actor:u040': 'post-withdrawal', 'actor:u050': 'dormant-account' },
  };
}

