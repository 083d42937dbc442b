import { DEFAULT_PARAMETERS, type Detection, IncidentLinker, type Observation, SentinelEngine, validateParameters } from './rules.js';

const T0 = Date.parse('2026-11-02T09:00:00Z'); // a Monday, 09:00 UTC
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
let seq = 0;
function access(actorId: string, patientId: string | null, at: number, over: Partial<Extract<Observation, { kind: 'access' }>> = {}): Observation {
  seq += 1;
  return { kind: 'access', ref: { eventId: `e${seq}`, sequence: seq, hash: `h${seq}` }, at, actorId, roles: ['clinician'], patientId, decision: 'PERMIT', emergency: false, consentVersion: 0, purpose: 'TREATMENT', ...over };
}
function run(engine: SentinelEngine, observations: Observation[]): Detection[] {
  return observations.flatMap((o) => engine.observe(o));
}
const rules = (ds: Detection[]) => ds.map((d) => d.rule);
/** n accesses by one actor to n distinct patients, a minute apart from `start`. */
const sweep = (actor: string, n: number, start: number, step = MIN, prefix = 'p') => Array.from({ length: n }, (_, i) => access(actor, `${prefix}${i}`, start + i * step));

describe('sentinel rules', () => {
  beforeEach(() => {
    seq = 0;
  });

  describe('many-patients (≥ 30 distinct in 60 min, ≥ 150 in 24 h)', () => {
    it('fires at 30 distinct patients within the hour, not at 29', () => {
      expect(rules(run(new SentinelEngine(), sweep('u1', 29, T0)))).toEqual([]);
      const ds = run(new SentinelEngine(), sweep('u1', 30, T0));
      expect(rules(ds)).toEqual(['many-patients']);
      expect(ds[0]).toMatchObject({ severity: 'high', facts: { distinctPatients: 30 }, ruleVersion: 1 });
      expect(ds[0]?.evidence).toHaveLength(30);
    });
    it('does not fire when the 30 straddle the window (2.5 min apart: never 30 within 60 min)', () => {
      expect(rules(run(new SentinelEngine(), sweep('u1', 40, T0, 2.5 * MIN)))).toEqual([]);
    });
    it('fires on 150 in 24 hours, not 149; exempt roles never', () => {
      expect(rules(run(new SentinelEngine(), sweep('u1', 149, T0, 6 * MIN)))).toEqual([]);
      expect(rules(run(new SentinelEngine(), sweep('u1', 150, T0, 6 * MIN)))).toEqual(['many-patients']);
      const exempt = new SentinelEngine({ ...DEFAULT_PARAMETERS, manyPatients: { ...DEFAULT_PARAMETERS.manyPatients, exemptRoles: ['radiologist'] } });
      expect(rules(run(exempt, sweep('u1', 40, T0).map((o) => ({ ...o, roles: ['radiologist'] }) as Observation)))).toEqual([]);
    });
    it('raises once per cool-down, and again after it', () => {
      const engine = new SentinelEngine();
      expect(rules(run(engine, sweep('u1', 45, T0)))).toEqual(['many-patients']);
      expect(rules(run(engine, sweep('u1', 30, T0 + 25 * HOUR, MIN, 'q')))).toEqual(['many-patients']);
    });
  });

  describe('denied-burst (≥ 10 DENY or ≥ 5 distinct patients denied in 10 min)', () => {
    it('fires at 10 denials of one patient, not 9; at 5 distinct patients, not 4', () => {
      const deny = (n: number, distinct: boolean) => Array.from({ length: n }, (_, i) => access('u2', distinct ? `p${i}` : 'p0', T0 + i * 30_000, { decision: 'DENY' }));
      expect(rules(run(new SentinelEngine(), deny(9, false)))).toEqual([]);
      expect(rules(run(new SentinelEngine(), deny(10, false)))).toEqual(['denied-burst']);
      expect(rules(run(new SentinelEngine(), deny(4, true)))).toEqual([]);
      const ds = run(new SentinelEngine(), deny(5, true));
      expect(ds.map((d) => [d.rule, d.severity])).toEqual([['denied-burst', 'high']]);
    });
    it('does not fire when the denials straddle the 10-minute window', () => {
      const spread = Array.from({ length: 12 }, (_, i) => access('u2', 'p0', T0 + i * 70_000, { decision: 'DENY' }));
      expect(rules(run(new SentinelEngine(), spread))).toEqual([]);
    });
  });

  describe('after-hours (22:00-06:00 or weekends, where the actor has no activity at that hour)', () => {
    const history = (actor: string, hourUtc: number) => Array.from({ length: 15 }, (_, d) => access(actor, 'p1', Date.parse('2026-10-19T00:00:00Z') + d * DAY + hourUtc * HOUR));
    it('fires low on a first access at 23:00 after warm-up, never above low', () => {
      const engine = new SentinelEngine();
      run(engine, history('u3', 10));
      const ds = run(engine, [access('u3', 'p1', Date.parse('2026-11-04T23:10:00Z'))]);
      expect(ds.map((d) => [d.rule, d.severity])).toEqual([['after-hours', 'low']]);
    });
    it('does not fire where the actor works at that hour, at 21:59, or during warm-up', () => {
      const nightShift = new SentinelEngine();
      run(nightShift, history('u3', 23));
      expect(rules(run(nightShift, [access('u3', 'p1', Date.parse('2026-11-04T23:10:00Z'))]))).toEqual([]);
      const day = new SentinelEngine();
      run(day, history('u3', 10));
      expect(rules(run(day, [access('u3', 'p1', Date.parse('2026-11-04T21:59:00Z'))]))).toEqual([]);
      expect(rules(run(new SentinelEngine(), [access('u3', 'p1', Date.parse('2026-11-04T23:10:00Z'))]))).toEqual([]);
    });
  });

  describe('volume-spike (reads in an hour above μ+4σ of the same hour in earlier weeks, and ≥ 50)', () => {
    it('during warm-up only the floor applies: 50 reads fire, 49 do not', () => {
      const burst = (n: number) => Array.from({ length: n }, (_, i) => access('u4', 'p1', T0 + i * 10_000));
      expect(rules(run(new SentinelEngine(), burst(49)))).toEqual([]);
      expect(rules(run(new SentinelEngine(), burst(50)))).toEqual(['volume-spike']);
    });
    it('after warm-up, an hour like the same hour of earlier weeks does not fire, even above the floor', () => {
      const engine = new SentinelEngine();
      for (let w = 0; w < 4; w++) run(engine, Array.from({ length: 60 + w }, (_, i) => access('u4', 'p1', T0 + w * 7 * DAY + i * 30_000)));
      expect(rules(run(engine, Array.from({ length: 63 }, (_, i) => access('u4', 'p1', T0 + 28 * DAY + i * 30_000))))).toEqual([]);
      expect(rules(run(engine, Array.from({ length: 200 }, (_, i) => access('u4', 'p1', T0 + 35 * DAY + i * 10_000))))).toEqual(['volume-spike']);
    });
  });

  describe('vip-access', () => {
    const vip: Observation = { kind: 'patient-profile', at: T0 - DAY, patientId: 'vip', vip: true, employee: false, familyNameIndex: 'f-vip', addressIndex: 'a-vip' };
    it('5 distinct actors on one VIP in 24 hours raise one case about the patient; 4 do not', () => {
      const engine = new SentinelEngine();
      run(engine, [vip]);
      expect(rules(run(engine, ['a', 'b', 'c', 'd'].map((u, i) => access(u, 'vip', T0 + i * HOUR))))).toEqual([]);
      const ds = run(engine, [access('e', 'vip', T0 + 5 * HOUR)]);
      expect(ds.map((d) => [d.rule, d.subject.kind, d.actorIds.length])).toEqual([['vip-access', 'patient', 5]]);
    });
    it('actors spread over more than 24 hours do not add up', () => {
      const engine = new SentinelEngine();
      run(engine, [vip]);
      expect(rules(run(engine, ['a', 'b', 'c', 'd', 'e'].map((u, i) => access(u, 'vip', T0 + i * 7 * HOUR))))).toEqual([]);
    });
    it('an access without a treatment purpose, or breaking the glass, is unexplained', () => {
      const engine = new SentinelEngine();
      run(engine, [vip]);
      expect(run(engine, [access('a', 'vip', T0, { purpose: 'RESEARCH' })]).map((d) => d.facts.reason)).toEqual(['unexplained']);
    });
  });

  describe('relationship', () => {
    const member = (patientId: string | null = null): Observation => ({ kind: 'workforce', at: T0 - DAY, actorId: 'u5', status: 'active', since: T0 - 400 * DAY, familyNameIndex: 'f-smith', addressIndex: 'a-1', patientId });
    const profile = (patientId: string, familyNameIndex: string, addressIndex: string, employee = false): Observation => ({ kind: 'patient-profile', at: T0 - DAY, patientId, vip: false, employee, familyNameIndex, addressIndex });
    it('self-access, same address, same (rare) family name and co-worker each raise once', () => {
      const engine = new SentinelEngine();
      run(engine, [member('p-self'), profile('p-self', 'f-x', 'a-x'), profile('p-home', 'f-y', 'a-1'), profile('p-kin', 'f-smith', 'a-z'), profile('p-colleague', 'f-w', 'a-w', true), profile('p-other', 'f-o', 'a-o')]);
      const ds = run(engine, [access('u5', 'p-self', T0), access('u5', 'p-home', T0 + MIN), access('u5', 'p-kin', T0 + 2 * MIN), access('u5', 'p-colleague', T0 + 3 * MIN), access('u5', 'p-other', T0 + 4 * MIN), access('u5', 'p-kin', T0 + 5 * MIN)]);
      expect(ds.map((d) => [d.facts.reason, d.severity])).toEqual([
        ['self-access', 'high'],
        ['same-address', 'high'],
        ['same-family-name', 'medium'],
        ['co-worker', 'medium'],
      ]);
    });
    it('a common family name weighs low', () => {
      const engine = new SentinelEngine({ ...DEFAULT_PARAMETERS, relationship: { rareNameAtMost: 2 } });
      run(engine, [member(), profile('p1', 'f-smith', 'a-2'), profile('p2', 'f-smith', 'a-3'), profile('p3', 'f-smith', 'a-4')]);
      expect(run(engine, [access('u5', 'p1', T0)]).map((d) => d.severity)).toEqual(['low']);
    });
  });

  describe('btg-overuse (> 3 emergency accesses in 7 days, or one unreviewed after 72 h)', () => {
    it('the fourth emergency access in a week fires, the third does not', () => {
      const e = (i: number) => access('u6', `p${i}`, T0 + i * DAY, { emergency: true });
      const engine = new SentinelEngine();
      expect(rules(run(engine, [e(0), e(1), e(2)]).filter((d) => d.facts.reason === 'frequency'))).toEqual([]);
      expect(run(engine, [e(3)]).filter((d) => d.facts.reason === 'frequency')).toHaveLength(1);
    });
    it('an emergency access unreviewed 72 hours later fires on the next event; a reviewed one does not', () => {
      const engine = new SentinelEngine();
      const first = access('u6', 'p1', T0, { emergency: true }) as Extract<Observation, { kind: 'access' }>;
      const second = access('u6', 'p2', T0 + HOUR, { emergency: true }) as Extract<Observation, { kind: 'access' }>;
      run(engine, [first, second, { kind: 'emergency-reviewed', at: T0 + 2 * HOUR, accessEventId: second.ref.eventId }]);
      expect(run(engine, [access('u7', 'p9', T0 + 71 * HOUR)])).toEqual([]);
      const ds = run(engine, [access('u7', 'p9', T0 + 73 * HOUR)]);
      expect(ds.map((d) => [d.rule, d.subject.id, d.facts.accessEventId])).toEqual([['btg-overuse', 'u6', first.ref.eventId]]);
    });
  });

  describe('post-withdrawal, bulk-export, dormant-account, repeat-offender', () => {
    it('a PERMIT citing a consent version older than the stream current one fires; the current one does not', () => {
      const engine = new SentinelEngine();
      run(engine, [{ kind: 'consent', at: T0, patientId: 'p1', version: 3 }]);
      expect(rules(run(engine, [access('u1', 'p1', T0 + MIN, { consentVersion: 3 })]))).toEqual([]);
      expect(rules(run(engine, [access('u1', 'p1', T0 + 2 * MIN, { consentVersion: 2 })]))).toEqual(['post-withdrawal']);
    });
    it('an export of 50 patients fires, 49 not; 200 patients exported by one actor in a UTC day fire, 199 not', () => {
      const exp = (n: number, at: number, from = 0): Observation => ({ kind: 'export', ref: { eventId: `x${at}`, sequence: 1, hash: 'h' }, at, actorId: 'r1', patientIds: Array.from({ length: n }, (_, i) => `p${from + i}`) });
      expect(rules(run(new SentinelEngine(), [exp(49, T0)]))).toEqual([]);
      expect(rules(run(new SentinelEngine(), [exp(50, T0)]))).toEqual(['bulk-export']);
      const singles = (n: number, start: number) => Array.from({ length: n }, (_, i) => exp(1, start + i * MIN, i));
      expect(rules(run(new SentinelEngine(), singles(199, T0)))).toEqual([]);
      expect(rules(run(new SentinelEngine(), singles(200, T0)))).toEqual(['bulk-export']);
      // 150 before midnight and 150 after: two days, neither reaches 200.
      const late = Date.parse('2026-11-02T21:30:00Z');
      expect(rules(run(new SentinelEngine(), singles(300, late)))).toEqual([]);
    });
    it('activity by a terminated account fires high; a return after 90 idle days medium; 89 days nothing', () => {
      const engine = new SentinelEngine();
      run(engine, [{ kind: 'workforce', at: T0, actorId: 'u8', status: 'terminated', since: T0 + DAY, familyNameIndex: 'f', addressIndex: 'a', patientId: null }]);
      expect(rules(run(engine, [access('u8', 'p1', T0 + HOUR)]))).toEqual([]);
      expect(run(engine, [access('u8', 'p1', T0 + 2 * DAY)]).map((d) => [d.rule, d.severity])).toEqual([['dormant-account', 'high']]);
      const idle = new SentinelEngine();
      run(idle, [access('u9', 'p1', T0)]);
      const dormant = (ds: Detection[]) => ds.filter((d) => d.rule === 'dormant-account').map((d) => [d.rule, d.severity]);
      expect(dormant(run(idle, [access('u9', 'p1', T0 + 89 * DAY)]))).toEqual([]);
      expect(dormant(run(idle, [access('u9', 'p1', T0 + 180 * DAY)]))).toEqual([['dormant-account', 'medium']]);
    });
    it('an actor with a confirmed incident: any later detection is one step more severe', () => {
      const engine = new SentinelEngine();
      run(engine, [{ kind: 'verdict', at: T0, actorId: 'u1', verdict: 'true-positive' }]);
      const ds = run(engine, sweep('u1', 30, T0 + HOUR));
      expect(ds.map((d) => [d.rule, d.severity])).toEqual([['many-patients', 'critical']]);
      expect(ds[0]?.facts.repeatOffender).toEqual(['u1']);
    });
  });

  it('is deterministic: the same observations raise the same detections', () => {
    const obs = [...sweep('u1', 35, T0), ...Array.from({ length: 12 }, (_, i) => access('u2', 'p0', T0 + i * 1000, { decision: 'DENY' }))];
    seq = 0;
    const a = run(new SentinelEngine(), obs);
    const b = run(new SentinelEngine(), obs);
    expect(a).toEqual(b);
    expect(a.map((d) => d.detectionId)).toEqual(['many-patients:actor:u1:2026-11-02T08:29:00.000Z', 'denied-burst:actor:u2:2026-11-02T08:50:09.000Z']);
  });

  it('refuses nonsensical parameters at start', () => {
    expect(validateParameters({ ...DEFAULT_PARAMETERS, manyPatients: { perHour: 0, perDay: 150, exemptRoles: [] }, afterHours: { ...DEFAULT_PARAMETERS.afterHours, startHour: 25 } })).toEqual([
      'manyPatients.perHour must be a positive number (is 0)',
      'afterHours.startHour must be an hour 0-23 (is 25)',
    ]);
    expect(() => new SentinelEngine({ ...DEFAULT_PARAMETERS, coolDownHours: Number.NaN })).toThrow(/coolDownHours/);
  });

  it('links detections of one subject within 24 hours into one incident, and opens a new one after', () => {
    const linker = new IncidentLinker(24);
    const d = (id: string, at: string, subject = 'u1') => ({ detectionId: id, at, subject: { kind: 'actor', id: subject } }) as Detection;
    const first = linker.route(d('d1', '2026-11-02T10:00:00.000Z'));
    expect(first.opens).toBe(true);
    expect(linker.route(d('d2', '2026-11-03T09:00:00.000Z'))).toEqual({ incidentId: first.incidentId, opens: false });
    expect(linker.route(d('d3', '2026-11-02T11:00:00.000Z', 'u2')).opens).toBe(true);
    expect(linker.route(d('d4', '2026-11-05T09:00:00.000Z')).opens).toBe(true);
    linker.ended(first.incidentId);
  });
});
