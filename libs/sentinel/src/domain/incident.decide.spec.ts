import { given } from '@custos/testing';
import { incidentDecider } from './incident.decide.js';
import type { IncidentEvent, IncidentOpenedData } from './incident.events.js';

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
    given(incidentDecider, history())
      .when({ type: 'PlaceHold', kind: 'oral', agency: 'FBI', from: '2027-01-01T00:00:00.000Z', until: '2027-06-01T00:00:00.000Z', by: 'so-1' })
      .then((e) => expect(e[0]?.data).toMatchObject({ until: '2027-01-31T00:00:00.000Z' }));
    given(incidentDecider, history()).when({ type: 'PlaceHold', kind: 'written', agency: 'FBI', from: '2027-01-01T00:00:00.000Z', by: 'so-1' }).thenFails('hold-needs-end');
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
});
