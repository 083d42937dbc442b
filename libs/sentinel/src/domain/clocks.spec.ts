import { annualLogDue, countAffected, incidentClocks } from './clocks.js';
import type { IncidentView } from './incident.decide.js';

type Facts = Pick<IncidentView, 'assessment' | 'discoveredAt' | 'awareAt' | 'notifications' | 'holds'>;
const assessed = (total: number, byRegion: Record<string, number> = {}, euResidents = 0, decision: 'breach' | 'low-probability-of-compromise' = 'breach'): Facts['assessment'] => ({
  decision,
  affected: { total, byRegion, euResidents },
  by: 'so-1',
  at: '2026-12-22T00:00:00.000Z',
});
const facts = (over: Partial<Facts>): Facts => ({ assessment: null, discoveredAt: '2026-12-20T10:00:00.000Z', awareAt: '2026-12-20T10:00:00.000Z', notifications: [], holds: [], ...over });
const byName = (clocks: ReturnType<typeof incidentClocks>) => Object.fromEntries(clocks.map((c) => [c.clock, c]));

describe('incident clocks (HIPAA 164.404-412, GDPR Art. 33)', () => {
  it('given discovery on 2026-12-20 and 450 affected, the HHS annual log is due 2027-03-01', () => {
    const c = byName(incidentClocks(facts({ assessment: assessed(450, { CA: 450 }) }), new Date('2027-01-05T00:00:00Z')));
    expect(c['hipaa-hhs']).toMatchObject({ status: 'running', deadline: '2027-03-01T00:00:00.000Z' });
    expect(c['hipaa-individuals']).toMatchObject({ status: 'running', deadline: '2027-02-18T10:00:00.000Z' });
    expect(c['hipaa-media']?.status).toBe('not-applicable');
    expect(c['gdpr-art33']?.status).toBe('not-applicable');
  });

  it('given discovery in 2027, the annual log is due 2028-02-29 (a leap year)', () => {
    expect(annualLogDue(new Date('2027-06-01T00:00:00Z')).toISOString()).toBe('2028-02-29T00:00:00.000Z');
    const c = byName(incidentClocks(facts({ discoveredAt: '2027-03-03T00:00:00.000Z', assessment: assessed(12) }), new Date('2027-03-04T00:00:00Z')));
    expect(c['hipaa-hhs']?.deadline).toBe('2028-02-29T00:00:00.000Z');
  });

  it('500 or more: HHS with the individual notices; more than 500 in one state: the media too; 500 exactly in one state: not the media', () => {
    let c = byName(incidentClocks(facts({ assessment: assessed(501, { TX: 501 }) }), new Date('2026-12-21T00:00:00Z')));
    expect(c['hipaa-hhs']?.deadline).toBe(c['hipaa-individuals']?.deadline);
    expect(c['hipaa-media']).toMatchObject({ status: 'running', deadline: '2027-02-18T10:00:00.000Z' });
    c = byName(incidentClocks(facts({ assessment: assessed(700, { TX: 500, CA: 200 }) }), new Date('2026-12-21T00:00:00Z')));
    expect(c['hipaa-media']?.status).toBe('not-applicable');
    expect(c['hipaa-hhs']?.deadline).toBe('2027-02-18T10:00:00.000Z');
  });

  it('GDPR: 72 hours from awareness when EU residents are affected; overdue after, met once the authority is notified', () => {
    const f = facts({ awareAt: '2026-12-21T08:00:00.000Z', assessment: assessed(3, {}, 2) });
    expect(byName(incidentClocks(f, new Date('2026-12-24T07:59:59Z')))['gdpr-art33']).toMatchObject({ status: 'running', deadline: '2026-12-24T08:00:00.000Z' });
    expect(byName(incidentClocks(f, new Date('2026-12-24T08:00:01Z')))['gdpr-art33']?.status).toBe('overdue');
    const notified = { ...f, notifications: [{ recipientClass: 'supervisory-authority' as const, channel: 'portal', date: '2026-12-23T00:00:00.000Z', contentHash: 'ab', by: 'so-1' }] };
    expect(byName(incidentClocks(notified, new Date('2027-01-30T00:00:00Z')))['gdpr-art33']).toMatchObject({ status: 'met', metAt: '2026-12-23T00:00:00.000Z' });
  });

  it('a hold moves a deadline that falls within it to its end; an oral hold is at most 30 days (the decider caps it)', () => {
    const hold = { kind: 'oral' as const, agency: 'FBI', from: '2027-02-10T00:00:00.000Z', until: '2027-02-25T00:00:00.000Z', by: 'so-1' };
    const c = byName(incidentClocks(facts({ assessment: assessed(10), holds: [hold] }), new Date('2027-02-20T00:00:00Z')));
    expect(c['hipaa-individuals']).toMatchObject({ status: 'running', deadline: '2027-02-25T00:00:00.000Z', hold: { kind: 'oral', until: '2027-02-25T00:00:00.000Z' } });
    // The annual log's deadline lies outside the hold: unmoved.
    expect(c['hipaa-hhs']).toMatchObject({ deadline: '2027-03-01T00:00:00.000Z', hold: null });
  });

  it('no assessment, or low probability of compromise: nothing runs', () => {
    expect(incidentClocks(facts({}), new Date()).every((c) => c.status === 'not-applicable')).toBe(true);
    expect(incidentClocks(facts({ assessment: assessed(900, { CA: 900 }, 5, 'low-probability-of-compromise') }), new Date()).every((c) => c.status === 'not-applicable')).toBe(true);
  });

  it('overdue once the deadline has passed without the notice', () => {
    expect(byName(incidentClocks(facts({ assessment: assessed(10) }), new Date('2027-02-19T00:00:00Z')))['hipaa-individuals']?.status).toBe('overdue');
  });

  it('counts from the affected list when the assessment undercounts it: 80 patients read, 50 assessed → 80, and the media clock for a state above 500', () => {
    const list = Array.from({ length: 80 }, (_, i) => ({ region: i < 70 ? 'CA' : null, euDataSubject: i === 0 }));
    const observed = countAffected(list);
    expect(observed).toEqual({ total: 80, byRegion: { CA: 70 }, euResidents: 1 });
    const c = byName(incidentClocks(facts({ assessment: assessed(50, { CA: 50 }) }), new Date('2026-12-21T00:00:00Z'), observed));
    expect(c['hipaa-individuals']?.basis).toContain('breach of 80 individuals');
    expect(c['gdpr-art33']?.status).toBe('running');
    const big = countAffected(Array.from({ length: 501 }, () => ({ region: 'TX', euDataSubject: false })));
    expect(byName(incidentClocks(facts({ assessment: assessed(10, { TX: 10 }) }), new Date('2026-12-21T00:00:00Z'), big))['hipaa-media']?.status).toBe('running');
    // The assessment's wider finding stands when the list is smaller.
    expect(byName(incidentClocks(facts({ assessment: assessed(600, { TX: 600 }) }), new Date('2026-12-21T00:00:00Z'), observed))['hipaa-hhs']?.basis).toContain('600 affected');
  });
});
