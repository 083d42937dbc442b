import type { StoredEvent } from '@custos/event-store';
import { DEFAULT_PARAMETERS, type Observation, SentinelEngine, sentinelParameters } from './domain/rules.js';
import { observationsOf, SentinelCore } from './sentinel-runner.js';

const T0 = Date.parse('2026-11-02T09:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
let seq = 0;

/** One officer's read of one patient's audit data, as the gateway records it. */
function auditRead(actor: string, patientId: string | null, at: number, route = '/v1/patients/:patientId/access-trail'): StoredEvent {
  seq += 1;
  return {
    globalSeq: seq,
    eventId: `ev-${seq}`,
    streamId: 'audit-reads',
    version: seq,
    type: 'AuditDataRead',
    schemaVersion: 1,
    data: { route, resourceType: 'access-trail', patientId, filters: {}, itemsReturned: 3, rule: 'security-officer' },
    metadata: { actor: { id: actor, roles: ['security_officer'] }, correlationId: `c${seq}` },
    occurredAt: new Date(at).toISOString(),
    hash: `h${seq}`,
    prevHash: `h${seq - 1}`,
  } as StoredEvent;
}

/** `n` trails of distinct patients read by one officer, `step` apart. */
const trails = (actor: string, n: number, start: number, step = MIN, prefix = 'p') => Array.from({ length: n }, (_, i) => auditRead(actor, `${prefix}${i}`, start + i * step));

function replay(events: StoredEvent[], core = new SentinelCore()) {
  return events.flatMap((e) => core.evaluate(e));
}

describe('oversight-reads: an officer reading many patients’ audit trails in a window (≥ 20 distinct patients in 60 min)', () => {
  beforeEach(() => {
    seq = 0;
  });

  it('fires at the 20th distinct patient’s trail within the hour, naming them, and not at 19', () => {
    expect(replay(trails('so-1', 19, T0))).toEqual([]);
    const raised = replay(trails('so-1', 20, T0));
    expect(raised.map((r) => [r.detection.rule, r.detection.severity, r.opens])).toEqual([['oversight-reads', 'medium', true]]);
    const d = raised[0]?.detection;
    expect(d?.subject).toEqual({ kind: 'actor', id: 'so-1' });
    expect(d?.patientIds).toHaveLength(20);
    expect(d?.evidence).toHaveLength(20);
    expect(d?.facts).toMatchObject({ distinctPatients: 20, reads: 20 });
    // The 40 trails of the report: one case, not forty.
    seq = 0;
    expect(replay(trails('so-1', 40, T0)).map((r) => r.detection.rule)).toEqual(['oversight-reads']);
  });

  it('does not fire when the reads straddle the window (4 min apart: never 20 within 60 min), nor for one patient read again and again', () => {
    expect(replay(trails('so-1', 40, T0, 4 * MIN))).toEqual([]);
    expect(replay(Array.from({ length: 50 }, (_, i) => auditRead('so-1', 'p1', T0 + i * 1000)))).toEqual([]);
  });

  it('counts each officer apart, ignores reads that name no patient, and leaves regulators’ exports to bulk-export', () => {
    const events = [...trails('so-1', 10, T0), ...trails('so-2', 10, T0 + 1000, MIN, 'q'), ...Array.from({ length: 30 }, (_, i) => auditRead('so-1', null, T0 + 20 * MIN + i * 1000, '/v1/audit/search'))];
    expect(replay(events)).toEqual([]);
    const exports = Array.from({ length: 30 }, (_, i) => auditRead('reg-1', `p${i}`, T0 + i * 1000, '/v1/exports'));
    expect(replay(exports)).toEqual([]);
    expect(observationsOf(exports[0] as StoredEvent)).toMatchObject([{ kind: 'export', patientIds: ['p0'] }]);
    expect(observationsOf(auditRead('so-1', 'p9', T0))).toMatchObject([{ kind: 'audit-read', actorId: 'so-1', patientId: 'p9' }]);
  });

  it('takes its threshold and window from SENTINEL_RULES and refuses nonsense there', () => {
    const p = sentinelParameters({ oversightReads: { patients: 5, windowMinutes: 10 } });
    const engine = new SentinelEngine(p);
    const obs = (i: number, at: number): Observation => ({ kind: 'audit-read', ref: { eventId: `e${i}`, sequence: i, hash: `h${i}` }, at, actorId: 'so-1', patientId: `p${i}`, route: '/v1/patients/:patientId/access-trail' });
    expect(Array.from({ length: 5 }, (_, i) => engine.observe(obs(i, T0 + i * 3 * MIN))).flat()).toEqual([]);
    expect(Array.from({ length: 5 }, (_, i) => engine.observe(obs(10 + i, T0 + 2 * HOUR + i * MIN))).flat().map((d) => d.rule)).toEqual(['oversight-reads']);
    expect(() => sentinelParameters({ oversightReads: { patients: 0 } })).toThrow(/oversightReads.patients/);
    expect(DEFAULT_PARAMETERS.oversightReads).toEqual({ patients: 20, windowMinutes: 60 });
  });
});

