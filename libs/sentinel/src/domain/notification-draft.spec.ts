import { notificationDrafts } from './notification-draft.js';

const base = { incidentId: 'inc-1', discoveredAt: '2026-12-20T10:00:00.000Z', awareAt: '2026-12-20T10:00:00.000Z', patientIds: ['p1', 'p2'], state: 'BREACH_ASSESSED' as const };
const assessed = (eu: number, decision: 'breach' | 'low-probability-of-compromise' = 'breach') => ({ decision, affected: { total: 2, byRegion: { CA: 2 }, euResidents: eu }, by: 'so-1', at: '2026-12-21T00:00:00.000Z' });

describe('notification drafts', () => {
  it('drafts the five HIPAA elements with the breach and discovery dates and the kinds of information, marking what a person must write', () => {
    const [hipaa] = notificationDrafts({ ...base, assessment: assessed(0) }, { breachStart: '2026-12-18T19:04:00.000Z', dataCategories: ['image', 'annotation'], records: 40 });
    expect(hipaa?.applicable).toBe(true);
    expect(hipaa?.sent).toBe(false);
    expect(hipaa?.sections.map((s) => s.element)).toEqual(['164.404(c)(1)(A)', '164.404(c)(1)(B)', '164.404(c)(1)(C)', '164.404(c)(1)(D)', '164.404(c)(1)(E)']);
    expect(hipaa?.sections[0]?.text).toContain('On 2026-12-18');
    expect(hipaa?.sections[0]?.text).toContain('discovered this on 2026-12-20');
    expect(hipaa?.sections[1]).toMatchObject({ needsHuman: false, text: "The information involved: medical images (with their imaging metadata); clinicians' annotations of medical images." });
    expect(hipaa?.sections[4]).toMatchObject({ needsHuman: true });
    expect(hipaa?.sections[4]?.text).toMatch(/^\[TO BE COMPLETED/);
  });

  it('drafts GDPR Art. 33(3) only as applicable when EU residents are affected; nothing applies without a breach', () => {
    const [, noEu] = notificationDrafts({ ...base, assessment: assessed(0) }, { breachStart: null, dataCategories: [], records: 1 });
    expect(noEu?.applicable).toBe(false);
    const [, eu] = notificationDrafts({ ...base, assessment: assessed(1) }, { breachStart: null, dataCategories: ['image'], records: 3 });
    expect(eu?.applicable).toBe(true);
    expect(eu?.sections[0]?.text).toContain('(of whom 1 EU residents)');
    expect(notificationDrafts({ ...base, assessment: assessed(1, 'low-probability-of-compromise') }, { breachStart: null, dataCategories: [], records: 0 }).map((d) => d.applicable)).toEqual([false, false]);
    expect(notificationDrafts({ ...base, assessment: null }, { breachStart: null, dataCategories: [], records: 0 })[0]?.why).toMatch(/no breach assessment/);
  });
});
