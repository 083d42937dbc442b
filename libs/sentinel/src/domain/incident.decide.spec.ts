import { fold } from '@custos/decider';
import { given } from '@custos/testing';
import { type IncidentCommand, incidentDecider } from './incident.decide.js';
import type { IncidentEvent, IncidentOpenedData, LawEnforcementHoldData } from './incident.events.js';

const at = '2026-12-01T10:00:00.000Z';
const opened: IncidentOpenedData = {
  incidentId: 'inc-1',
  source: 'sentinel',
  title: 'many-patients by u1',
  severity: 'high',
  subject: { kind: 'actor', id: 'u1' },
  detectionIds: ['d1'],
  rules: ['many-patients'],
  patientIds: ['p1', 'p2'],
  discoveredAt: at,
  openedAt: at,
  evidence: [{ eventId: 'e1', sequence: 1, hash: 'h1' }],
};
const history = (...states: Array<[string, string]>): IncidentEvent[] => [
  { type: 'IncidentOpened', data: opened },
  ...states.map(([from, to]) => ({ type: 'IncidentTransitioned' as const, data: { incidentId: 'inc-1', from: from as never, to: to as never, officer: 'so-1', at, note: 'n' } })),
];
const move = (to: string, note = 'looked at the trail') => ({ type: 'TransitionIncident' as const, to: to as never, note, by: 'so-1', at });

describe('the incident (event-sourced case)', () => {
  it('given an open incident, when triaged with a note, then the transition is recorded from OPEN', () => {
    given(incidentDecider, history()).when(move('TRIAGED')).then([{ type: 'IncidentTransitioned', data: { incidentId: 'inc-1', from: 'OPEN', to: 'TRIAGED', officer: 'so-1', at, note: 'looked at the trail' } }]);
  });

  it('refuses an illegal transition (409 illegal-transition) and one without a note (400 note-required)', () => {
    given(incidentDecider, history()).when(move('CONTAINED')).thenFails('illegal-transition');
    given(incidentDecider, history()).when(move('TRIAGED', '  ')).thenFails('note-required');
    given(incidentDecider, history(['OPEN', 'TRIAGED'], ['TRIAGED', 'INVESTIGATING'], ['INVESTIGATING', 'CONTAINED'])).when(move('BREACH_ASSESSED')).thenFails('illegal-transition');
  });

  it('goes on hold and back, and a closed case needs a verdict first', () => {
    given(incidentDecider, history(['OPEN', 'TRIAGED'], ['TRIAGED', 'INVESTIGATING'])).when(move('ON_HOLD')).then((e) => expect(e[0]?.type).toBe('IncidentTransitioned'));
    const resolved = history(['OPEN', 'TRIAGED'], ['TRIAGED', 'INVESTIGATING'], ['INVESTIGATING', 'CONTAINED'], ['BREACH_ASSESSED', 'RESOLVED']);
    given(incidentDecider, resolved).when(move('CLOSED')).thenFails('verdict-required');
  });

  it('records a breach assessment only once contained, with its four factors and counts that add up', () => {
    const assessment = {
      factors: { natureAndExtent: 'names, MRNs', unauthorizedPerson: 'a clerk', acquiredOrViewed: 'viewed', mitigation: 'account locked' },
      decision: 'breach' as const,
      rationale: 'viewed without need',
      affected: { total: 40, byRegion: { CA: 38, NV: 2 }, euResidents: 1 },
    };
    const contained = history(['OPEN', 'TRIAGED'], ['TRIAGED', 'INVESTIGATING'], ['INVESTIGATING', 'CONTAINED']);
    given(incidentDecider, contained)
      .when({ type: 'AssessBreach', assessment, by: 'so-1', at })
      .then([{ type: 'BreachAssessed', data: { incidentId: 'inc-1', ...assessment, by: 'so-1', at } }]);
    given(incidentDecider, history()).when({ type: 'AssessBreach', assessment, by: 'so-1', at }).thenFails('illegal-transition');
    given(incidentDecider, contained)
      .when({ type: 'AssessBreach', assessment: { ...assessment, affected: { total: 10, byRegion: { CA: 38 }, euResidents: 0 } }, by: 'so-1', at })
      .thenFails('bad-counts');
  });

  it('caps an oral law-enforcement hold at 30 days and needs an end date for a written one', () => {
    const later = '2027-02-01T00:00:00.000Z';
    given(incidentDecider, history())
      .when({ type: 'PlaceHold', kind: 'oral', agency: 'FBI', from: '2027-01-01T00:00:00.000Z', until: '2027-06-01T00:00:00.000Z', by: 'so-1', at: later })
      .then((e) => expect(e[0]?.data).toMatchObject({ until: '2027-01-31T00:00:00.000Z', at: later }));
    given(incidentDecider, history()).when({ type: 'PlaceHold', kind: 'written', agency: 'FBI', reference: 'FBI-1', from: '2027-01-01T00:00:00.000Z', by: 'so-1', at: later }).thenFails('hold-needs-end');
  });

  it('links a detection once; reopening is explicit and only from an ended state', () => {
    const link = { type: 'LinkDetection' as const, detectionId: 'd2', rule: 'after-hours', severity: 'low' as const, patientIds: ['p3'], evidence: [], at };
    given(incidentDecider, history()).when(link).then((e) => expect(e).toHaveLength(1));
    given(incidentDecider, [...history(), { type: 'DetectionLinked', data: { incidentId: 'inc-1', ...link, detectionId: 'd2' } } as IncidentEvent]).when(link).then([]);
    given(incidentDecider, history()).when({ type: 'ReopenIncident', note: 'new facts', by: 'so-1', at }).thenFails('illegal-transition');
    given(incidentDecider, history(['OPEN', 'DISMISSED'])).when({ type: 'ReopenIncident', note: 'new facts', by: 'so-1', at }).then((e) => expect(e[0]?.type).toBe('IncidentReopened'));
  });

  it('opening twice records nothing; anything else on no incident is 404', () => {
    given(incidentDecider, history()).when({ type: 'OpenIncident', opened }).then([]);
    given(incidentDecider, []).when(move('TRIAGED')).thenFails('incident-not-found');
  });

  it('moving the discovery date needs a note and cannot lie in the future', () => {
    given(incidentDecider, history()).when({ type: 'DateDiscovery', discoveredAt: '2026-11-30T00:00:00.000Z', note: '', by: 'so-1', at }).thenFails('note-required');
    given(incidentDecider, history()).when({ type: 'DateDiscovery', discoveredAt: '2027-01-01T00:00:00.000Z', note: 'x', by: 'so-1', at }).thenFails('bad-date');
  });

  describe('separation of duties: nobody works a case about themselves (403 separation-of-duties)', () => {
    const asSubject = { by: 'u1', at };
    const steps = [
      { type: 'AssignIncident' as const, assignee: 'u1', ...asSubject },
      { type: 'ChangeSeverity' as const, to: 'low' as const, reason: 'not that bad', ...asSubject },
      { type: 'RecordVerdict' as const, verdict: 'false-positive' as const, note: 'fine', ...asSubject },
      move('DISMISSED'),
      { type: 'DateDiscovery' as const, discoveredAt: '2026-11-01T00:00:00.000Z', note: 'x', ...asSubject },
      { type: 'AttachEvidence' as const, evidence: [{ eventId: 'e2', sequence: 2, hash: 'h2' }], note: 'x', ...asSubject },
      { type: 'PlaceHold' as const, kind: 'oral' as const, agency: 'FBI', from: at, ...asSubject },
      { type: 'AddPatients' as const, patientIds: ['p9'], note: 'x', ...asSubject },
    ];
    it('given a case about actor u1, when u1 assigns, re-rates, judges, dismisses, re-dates, adds evidence, holds or adds patients, then each is refused', () => {
      for (const step of steps) given(incidentDecider, history()).when({ ...step, by: 'u1' }).thenFails('separation-of-duties');
    });
    it('given a case about actor u1, when another officer assigns it to u1, then it is refused; to anyone else it is recorded', () => {
      given(incidentDecider, history()).when({ type: 'AssignIncident', assignee: 'u1', by: 'so-1', at }).thenFails('separation-of-duties');
      // Ids folded as an identity provider might: 'U1' is the subject too.
      given(incidentDecider, history()).when({ type: 'AssignIncident', assignee: 'U1', by: 'so-1', at }).thenFails('separation-of-duties');
      given(incidentDecider, history()).when({ ...move('DISMISSED'), by: 'U1' }).thenFails('separation-of-duties');
      given(incidentDecider, history()).when({ type: 'AssignIncident', assignee: 'so-2', by: 'so-1', at }).then([{ type: 'IncidentAssigned', data: { incidentId: 'inc-1', assignee: 'so-2', by: 'so-1', at } }]);
    });
    it("given a patient's case, when an officer the trail shows on that patient acts, then it is refused; one not involved may act", () => {
      const patientCase: IncidentEvent[] = [{ type: 'IncidentOpened', data: { ...opened, subject: { kind: 'patient', id: 'p1' } } }];
      given(incidentDecider, patientCase).when({ ...move('TRIAGED'), involved: true }).thenFails('separation-of-duties');
      given(incidentDecider, patientCase).when({ type: 'RecordVerdict', verdict: 'false-positive', note: 'n', by: 'so-1', at, involved: true }).thenFails('separation-of-duties');
      given(incidentDecider, patientCase).when(move('TRIAGED')).then((e) => expect(e[0]?.type).toBe('IncidentTransitioned'));
    });
  });

  describe('an ended case changes only by reopening (409 incident-ended, naming reopen)', () => {
    const closed = [...history(['OPEN', 'TRIAGED'], ['TRIAGED', 'INVESTIGATING'], ['INVESTIGATING', 'CONTAINED'], ['BREACH_ASSESSED', 'RESOLVED']), { type: 'VerdictRecorded' as const, data: { incidentId: 'inc-1', verdict: 'true-positive' as const, by: 'so-1', at, note: 'n' } }, ...history(['RESOLVED', 'CLOSED']).slice(1)];
    const dismissed = history(['OPEN', 'DISMISSED']);
    const changes = [
      { type: 'RecordVerdict' as const, verdict: 'false-positive' as const, note: 'on second thought', by: 'so-2', at },
      { type: 'ChangeSeverity' as const, to: 'low' as const, reason: 'r', by: 'so-2', at },
      { type: 'DateDiscovery' as const, discoveredAt: '2026-11-01T00:00:00.000Z', note: 'x', by: 'so-2', at },
      { type: 'AssignIncident' as const, assignee: 'so-3', by: 'so-2', at },
      { type: 'AttachEvidence' as const, evidence: [{ eventId: 'e2', sequence: 2, hash: 'h2' }], note: 'x', by: 'so-2', at },
      { type: 'PlaceHold' as const, kind: 'oral' as const, agency: 'FBI', from: at, by: 'so-2', at },
      { type: 'AddPatients' as const, patientIds: ['p9'], note: 'x', by: 'so-2', at },
      move('TRIAGED'),
    ];
    it('given a CLOSED or DISMISSED case, when anything but reopen is asked, then 409 incident-ended with allowed [reopen]', () => {
      for (const ended of [closed, dismissed]) {
        for (const c of changes) {
          expect(() => given(incidentDecider, ended).when(c).then([])).toThrow(expect.objectContaining({ code: 'incident-ended', status: 409, details: expect.objectContaining({ allowed: ['reopen'] }) }));
        }
        given(incidentDecider, ended).when({ type: 'ReopenIncident', note: 'new facts', by: 'so-2', at }).then((e) => expect(e[0]?.type).toBe('IncidentReopened'));
      }
    });
    it('given a reopened case, when the verdict changes, then it is recorded', () => {
      const reopened = [...closed, { type: 'IncidentReopened' as const, data: { incidentId: 'inc-1', from: 'CLOSED' as const, officer: 'so-2', at, note: 'n' } }];
      given(incidentDecider, reopened).when(changes[0] as IncidentCommand).then((e) => expect(e[0]?.type).toBe('VerdictRecorded'));
    });
  });

  describe('legal clocks resist being moved', () => {
    const date = (discoveredAt: string, awareAt?: string) => ({ type: 'DateDiscovery' as const, discoveredAt, ...(awareAt ? { awareAt } : {}), note: 'first access seen earlier', by: 'so-1', at: '2026-12-20T00:00:00.000Z' });
    it('given a case discovered at its first detection, when discovery or awareness is dated later (even to now), then 400 discovery-too-late', () => {
      given(incidentDecider, history()).when(date('2026-12-19T00:00:00.000Z')).thenFails('discovery-too-late');
      given(incidentDecider, history()).when(date('2026-11-01T00:00:00.000Z', '2026-12-02T00:00:00.000Z')).thenFails('discovery-too-late');
    });
    it('given a case, when discovery is dated earlier with a note, then it is recorded and shows in the clock history', () => {
      given(incidentDecider, history())
        .when(date('2026-11-01T00:00:00.000Z'))
        .then([{ type: 'DiscoveryDated', data: { incidentId: 'inc-1', discoveredAt: '2026-11-01T00:00:00.000Z', awareAt: at, by: 'so-1', at: '2026-12-20T00:00:00.000Z', note: 'first access seen earlier' } }]);
      const dated: IncidentEvent = { type: 'DiscoveryDated', data: { incidentId: 'inc-1', discoveredAt: '2026-11-01T00:00:00.000Z', awareAt: at, by: 'so-1', at, note: 'n' } };
      const view = fold(incidentDecider, [...history(), dated]);
      expect(view?.clockHistory).toEqual([{ change: 'discovery', at, by: 'so-1', discoveredAt: { from: at, to: '2026-11-01T00:00:00.000Z' }, awareAt: { from: at, to: at } }]);
    });
    it('given a later detection linked, when discovery is moved up to it, then it is still refused past the first one', () => {
      const linked: IncidentEvent = { type: 'DetectionLinked', data: { incidentId: 'inc-1', detectionId: 'd2', rule: 'after-hours', severity: 'low', patientIds: [], evidence: [], at: '2026-12-10T00:00:00.000Z' } };
      given(incidentDecider, [...history(), linked]).when(date('2026-12-05T00:00:00.000Z')).thenFails('discovery-too-late');
    });

    const oral = (from: string): LawEnforcementHoldData => ({ incidentId: 'inc-1', kind: 'oral', agency: 'FBI', from, until: new Date(Date.parse(from) + 30 * 86_400_000).toISOString(), by: 'so-1', at: from });
    const hold = (kind: 'oral' | 'written', from: string, until?: string, reference?: string) => ({ type: 'PlaceHold' as const, kind, agency: 'FBI', from, ...(until ? { until } : {}), ...(reference ? { reference } : {}), by: 'so-1', at: '2027-06-01T00:00:00.000Z' });
    it('given 30 days of oral holds already, when another oral hold is placed, then 409 oral-hold-exhausted; given 20, the next is capped at the 10 left', () => {
      given(incidentDecider, [...history(), { type: 'LawEnforcementHold', data: oral('2027-01-01T00:00:00.000Z') }]).when(hold('oral', '2027-02-01T00:00:00.000Z')).thenFails('oral-hold-exhausted');
      const twenty: LawEnforcementHoldData = { ...oral('2027-01-01T00:00:00.000Z'), until: '2027-01-21T00:00:00.000Z' };
      given(incidentDecider, [...history(), { type: 'LawEnforcementHold', data: twenty }])
        .when(hold('oral', '2027-02-01T00:00:00.000Z', '2027-03-01T00:00:00.000Z'))
        .then((e) => expect(e[0]?.data).toMatchObject({ from: '2027-02-01T00:00:00.000Z', until: '2027-02-11T00:00:00.000Z' }));
    });
    it('given a written hold, then it needs a reference and ends within 365 days of its start; a hold does not start in the future', () => {
      given(incidentDecider, history()).when(hold('written', '2027-01-01T00:00:00.000Z', '9999-12-31T00:00:00.000Z', 'FBI-2027-1')).thenFails('hold-too-long');
      given(incidentDecider, history()).when(hold('written', '2027-01-01T00:00:00.000Z', '2027-06-01T00:00:00.000Z')).thenFails('hold-needs-reference');
      given(incidentDecider, history()).when(hold('written', '2027-07-01T00:00:00.000Z', '2027-08-01T00:00:00.000Z', 'FBI-2027-1')).thenFails('bad-date');
      given(incidentDecider, history())
        .when(hold('written', '2027-01-01T00:00:00.000Z', '2028-01-01T00:00:00.000Z', 'FBI-2027-1'))
        .then((e) => expect(e[0]?.data).toMatchObject({ kind: 'written', reference: 'FBI-2027-1', until: '2028-01-01T00:00:00.000Z' }));
    });
  });

  describe('invariants: no transport stores a case its projection cannot take', () => {
    it('given nothing, when an incident is opened without a subject (an array, null, a bad kind, an empty id), then 400 bad-subject', () => {
      for (const subject of [[], null, undefined, { kind: 'alien', id: 'x' }, { kind: 'actor', id: '' }, { kind: 'actor' }]) {
        given(incidentDecider, []).when({ type: 'OpenIncident', opened: { ...opened, subject: subject as never } }).thenFails('bad-subject');
      }
      given(incidentDecider, []).when({ type: 'OpenIncident', opened: { ...opened, title: '' } }).thenFails('bad-incident');
      given(incidentDecider, []).when({ type: 'OpenIncident', opened: { ...opened, patientIds: null as never } }).thenFails('bad-incident');
    });
    it('given a contained case, when the assessment lacks a factor or its counts (arrays, nulls, negatives), then it is refused', () => {
      const contained = history(['OPEN', 'TRIAGED'], ['TRIAGED', 'INVESTIGATING'], ['INVESTIGATING', 'CONTAINED']);
      const good = { factors: { natureAndExtent: 'a', unauthorizedPerson: 'b', acquiredOrViewed: 'c', mitigation: 'd' }, decision: 'breach' as const, rationale: 'r', affected: { total: 1, byRegion: {}, euResidents: 0 } };
      const bad: Array<[Record<string, unknown>, string]> = [
        [{ factors: [] }, 'bad-assessment'],
        [{ factors: { natureAndExtent: 'a', unauthorizedPerson: 'b', acquiredOrViewed: 'c' } }, 'note-required'],
        [{ affected: [] }, 'bad-counts'],
        [{ affected: { total: -1, byRegion: {}, euResidents: 0 } }, 'bad-counts'],
        [{ affected: { total: 1, byRegion: [], euResidents: 0 } }, 'bad-counts'],
        [{ affected: { total: 1, byRegion: { CA: null }, euResidents: 0 } }, 'bad-counts'],
        [{ decision: 'maybe' }, 'bad-assessment'],
      ];
      for (const [change, code] of bad) given(incidentDecider, contained).when({ type: 'AssessBreach', assessment: { ...good, ...change } as never, by: 'so-1', at }).thenFails(code);
    });
  });

  it('given a case, when an officer adds patients with a note, then only the new ones are recorded and join the case', () => {
    given(incidentDecider, history()).when({ type: 'AddPatients', patientIds: ['p2', 'p3'], note: 'shared login', by: 'so-1', at }).then([{ type: 'PatientsAdded', data: { incidentId: 'inc-1', patientIds: ['p3'], by: 'so-1', at, note: 'shared login' } }]);
    given(incidentDecider, history()).when({ type: 'AddPatients', patientIds: ['p3'], note: ' ', by: 'so-1', at }).thenFails('note-required');
    given(incidentDecider, history()).when({ type: 'AddPatients', patientIds: ['../x'], note: 'n', by: 'so-1', at }).thenFails('bad-patients');
    expect(fold(incidentDecider, [...history(), { type: 'PatientsAdded', data: { incidentId: 'inc-1', patientIds: ['p3'], by: 'so-1', at, note: 'n' } }])?.patientIds).toEqual(['p1', 'p2', 'p3']);
  });

  it('refuses a notification dated in the future or before the discovery (400 bad-date): its date stops the clocks', () => {
    const breach = [...history(['OPEN', 'TRIAGED'], ['TRIAGED', 'INVESTIGATING'], ['INVESTIGATING', 'CONTAINED'])];
    const assessed: IncidentEvent = {
      type: 'BreachAssessed',
      data: { incidentId: 'inc-1', factors: { natureAndExtent: 'a', unauthorizedPerson: 'b', acquiredOrViewed: 'c', mitigation: 'd' }, decision: 'breach', rationale: 'r', affected: { total: 1, byRegion: {}, euResidents: 0 }, by: 'so-1', at },
    };
    const now = '2026-12-05T10:00:00.000Z';
    const notify = (date: string) => ({ type: 'RecordNotification' as const, recipientClass: 'hhs' as const, channel: 'portal', date, contentHash: 'a'.repeat(64), by: 'so-1', at: now });
    given(incidentDecider, [...breach, assessed]).when(notify('2027-01-04T10:00:00.000Z')).thenFails('bad-date');
    given(incidentDecider, [...breach, assessed]).when(notify('2026-12-05T10:00:00.001Z')).thenFails('bad-date');
    given(incidentDecider, [...breach, assessed]).when(notify('2000-01-01T00:00:00.000Z')).thenFails('bad-date');
    given(incidentDecider, [...breach, assessed]).when(notify('2026-11-30T23:59:59.999Z')).thenFails('bad-date');
    given(incidentDecider, [...breach, assessed])
      .when(notify(at))
      .then([{ type: 'NotificationRecorded', data: { incidentId: 'inc-1', recipientClass: 'hhs', channel: 'portal', date: at, contentHash: 'a'.repeat(64), by: 'so-1' } }]);
    given(incidentDecider, [...breach, assessed]).when(notify(now)).then((e) => expect(e).toHaveLength(1));
  });

  it.each([
    ['a zero-width space', '\u200b'],
    ['a Hangul filler', '\u3164'],
    ['a braille blank', '\u2800'],
    ['a halfwidth Hangul filler', '\uffa0'],
  ])('refuses a note, a reason, a factor, a hold agency or reference made only of %s (400 note-required / hold-needs-reference)', (_, blank) => {
    const text = `${blank.repeat(12)} ${blank}`;
    given(incidentDecider, history()).when(move('TRIAGED', text)).thenFails('note-required');
    given(incidentDecider, history()).when({ type: 'RecordVerdict', verdict: 'false-positive', note: text, by: 'so-1', at }).thenFails('note-required');
    given(incidentDecider, history()).when({ type: 'ChangeSeverity', to: 'low', reason: text, by: 'so-1', at }).thenFails('note-required');
    given(incidentDecider, history()).when({ type: 'PlaceHold', kind: 'oral', agency: text, from: at, by: 'so-1', at }).thenFails('note-required');
    given(incidentDecider, history()).when({ type: 'PlaceHold', kind: 'written', agency: 'FBI', reference: text, from: at, until: '2026-12-20T00:00:00.000Z', by: 'so-1', at }).thenFails('hold-needs-reference');
    const contained = history(['OPEN', 'TRIAGED'], ['TRIAGED', 'INVESTIGATING'], ['INVESTIGATING', 'CONTAINED']);
    const assessment = { factors: { natureAndExtent: text, unauthorizedPerson: 'b', acquiredOrViewed: 'c', mitigation: 'd' }, decision: 'breach' as const, rationale: 'r', affected: { total: 1, byRegion: {}, euResidents: 0 } };
    given(incidentDecider, contained).when({ type: 'AssessBreach', assessment, by: 'so-1', at }).thenFails('note-required');
    given(incidentDecider, contained).when({ type: 'AssessBreach', assessment: { ...assessment, factors: { ...assessment.factors, natureAndExtent: 'a' }, rationale: text }, by: 'so-1', at }).thenFails('note-required');
    // One letter among them is a note.
    given(incidentDecider, history()).when(move('TRIAGED', `${text}x`)).then((e) => expect(e).toHaveLength(1));
  });
});
