import { FindingsEngine, type FindingRaisedData, type LoggedEvent } from './findings.js';
import { findingDecider, type FindingView } from './finding.decide.js';
import { fold } from '@custos/decider';

/** A log built by hand: each event gets the next sequence and a time a minute after the last. */
function log() {
  const events: LoggedEvent[] = [];
  const t0 = Date.parse('2026-03-01T08:00:00Z');
  return {
    events,
    add(type: string, streamId: string, data: Record<string, unknown>, actor = 'someone'): LoggedEvent {
      const n = events.length;
      const metadata = { actor: { id: actor, roles: [] }, correlationId: `c${n}` };
      const e = { eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, globalSeq: n, hash: `h${n}`, type, streamId, occurredAt: new Date(t0 + n * 60_000).toISOString(), data, metadata };
      events.push(e);
      return e;
    },
  };
}

const run = (events: readonly LoggedEvent[], engine = new FindingsEngine({ maxConsentLoss: 0.1, minKappa: 0.6, kappaWindow: 50 })): FindingRaisedData[] => events.flatMap((e) => engine.observe(e));
const flag = { kind: 'representation', dimension: 'ethnicity', group: 'black', interval: [0.2, 0.6] };
const release = (datasetId: string, flagged: unknown[], over: Record<string, unknown> = {}) => ({ releaseId: `rel-${datasetId}`, datasetId, requester: 'res-1', flagged, cleared: [], referenceVersion: 1, cells: [{ group: {}, patients: 123 }], ...over });
const snapshot = (datasetId: string, snapshotId: string, imageIds: string[]) => ({ snapshotId, datasetId, entries: imageIds.map((imageId, i) => ({ annotationId: `a-${snapshotId}-${i}`, version: 1, imageId, label: 'nodule' })) });
const gap = { dimension: 'sex', metric: 'sensitivity', gap: 0.12, groups: ['male', 'female'] };
const ref = (snapshotId: string) => ({ datasetId: 'ds-1', snapshotId, rootHash: 'ab'.repeat(32), treeSize: 3, purpose: 'AI_TRAINING' });

describe('the dataset rules (findings)', () => {
  it('snapshot-while-flagged: a snapshot taken while a balance release flags a group, naming both events and who acted', () => {
    const l = log();
    l.add('DatasetSnapshotted', 'snapshot-s0', snapshot('ds-1', 's0', []));
    const r = l.add('BalanceReleased', 'privacy-ds-1', release('ds-1', [flag]), 'res-1');
    const s = l.add('DatasetSnapshotted', 'snapshot-s1', snapshot('ds-1', 's1', []), 'stew-1');
    l.add('DatasetSnapshotted', 'snapshot-x', snapshot('ds-2', 'x', []));
    const found = run(l.events);
    expect(found).toHaveLength(1);
    const [f] = found as [FindingRaisedData];
    expect(f).toMatchObject({ rule: 'snapshot-while-flagged', ruleVersion: 2, datasetId: 'ds-1', at: s.occurredAt, facts: { snapshotId: 's1', releaseId: 'rel-ds-1', releaseIds: ['rel-ds-1'], flagged: [flag] } });
    expect(f.evidence).toEqual([
      { eventId: r.eventId, sequence: r.globalSeq, hash: r.hash },
      { eventId: s.eventId, sequence: s.globalSeq, hash: s.hash },
    ]);
    expect(f.actors).toEqual(['stew-1', 'res-1']);
    expect(f.findingId).toMatch(/^fnd-[0-9a-f]{24}$/);
    // The noisy counts of the release never reach a finding.
    expect(JSON.stringify(f)).not.toContain('123');
  });

  it('snapshot-while-flagged: a release that flags nothing does not clear a flag; only a release clearing the group does', () => {
    const l = log();
    const a = l.add('BalanceReleased', 'privacy-ds-1', release('ds-1', [flag], { releaseId: 'A' }));
    // B: too noisy to say (nothing flagged, nothing cleared); another dimension; a release recorded before `cleared` existed.
    l.add('BalanceReleased', 'privacy-ds-1', release('ds-1', [], { releaseId: 'B', query: { by: ['ethnicity'], epsilon: '0.000004' } }));
    l.add('BalanceReleased', 'privacy-ds-1', release('ds-1', [], { releaseId: 'B2', cleared: [{ kind: 'representation', dimension: 'sex', group: 'female', interval: [0.9, 1.2] }] }));
    l.add('BalanceReleased', 'privacy-ds-1', { releaseId: 'B3', datasetId: 'ds-1', flagged: [] });
    // The same group with a label is another flag: clearing it leaves the representation flag.
    l.add('BalanceReleased', 'privacy-ds-1', release('ds-1', [], { releaseId: 'B4', cleared: [{ ...flag, kind: 'label-prevalence', label: 'nodule' }] }));
    const s1 = l.add('DatasetSnapshotted', 'snapshot-s1', snapshot('ds-1', 's1', []));
    const first = run(l.events);
    expect(first).toHaveLength(1);
    expect(first[0]?.evidence.map((e) => e.eventId)).toEqual([a.eventId, s1.eventId]);
    expect(first[0]?.facts).toMatchObject({ releaseId: 'A', releaseIds: ['A'], flagged: [{ ...flag, releaseId: 'A' }] });
    // C clears the group (its whole interval at or above the minimum): the next snapshot is not found.
    l.add('BalanceReleased', 'privacy-ds-1', release('ds-1', [], { releaseId: 'C', cleared: [{ ...flag, interval: [0.85, 1.3] }] }));
    l.add('DatasetSnapshotted', 'snapshot-s2', snapshot('ds-1', 's2', []));
    expect(run(l.events)).toHaveLength(1);
  });

  it('snapshot-while-flagged: groups flagged by several releases cite each; a group flagged again cites the latest', () => {
    const l = log();
    const female = { kind: 'representation', dimension: 'sex', group: 'female', interval: [0.3, 0.7] };
    l.add('BalanceReleased', 'privacy-ds-1', release('ds-1', [flag], { releaseId: 'A', requester: 'res-a' }));
    const b = l.add('BalanceReleased', 'privacy-ds-1', release('ds-1', [female], { releaseId: 'B', requester: 'res-b' }), 'res-b');
    const c = l.add('BalanceReleased', 'privacy-ds-1', release('ds-1', [flag], { releaseId: 'C', requester: 'res-c' }), 'res-c');
    const s = l.add('DatasetSnapshotted', 'snapshot-s1', snapshot('ds-1', 's1', []), 'stew-9');
    const [f] = run(l.events) as [FindingRaisedData];
    expect(f.evidence.map((e) => e.eventId)).toEqual([b.eventId, c.eventId, s.eventId]);
    expect(f.facts).toMatchObject({ releaseId: 'C', releaseIds: ['B', 'C'] });
    expect(f.actors).toEqual(['stew-9', 'res-b', 'res-c']);
    // Another dataset's flags are its own.
    expect(run([...l.events, l.add('DatasetSnapshotted', 'snapshot-o', snapshot('ds-2', 'o', []))])).toHaveLength(1);
  });

  it('evaluation-gap: an evaluation with a flagged gap is found; one without is not', () => {
    const l = log();
    const m = l.add('ModelRegistered', 'model-m1', { modelId: 'm1', trainedOn: [], validatedOn: [] }, 'dev-1');
    l.add('ModelEvaluated', 'model-m1', { evaluationId: 'ev-0', modelId: 'm1', testSnapshot: ref('t0'), gaps: [gap], flagged: [] });
    const ev = l.add('ModelEvaluated', 'model-m1', { evaluationId: 'ev-1', modelId: 'm1', testSnapshot: ref('t1'), gaps: [gap], flagged: [gap], tooSmall: [{ dimension: 'sex', group: 'other', n: 3 }], thresholds: { maxGap: 0.05, minGroupSize: 30 } }, 'dev-2');
    const found = run(l.events);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ rule: 'evaluation-gap', modelId: 'm1', datasetId: 'ds-1', facts: { evaluationId: 'ev-1', testSnapshotId: 't1', flagged: [gap], tooSmall: 1 } });
    expect(found[0]?.evidence.map((e) => e.eventId)).toEqual([m.eventId, ev.eventId]);
    expect(found[0]?.summary).toContain('sensitivity by sex: 0.120');
    expect(found[0]?.actors).toEqual(['dev-2', 'dev-1']);
  });

  it('consent-loss: more than the share of a model\'s patients withdrawing AI_TRAINING after its snapshot raises one finding, no patient named', () => {
    const l = log();
    for (let i = 0; i < 10; i++) l.add('ImageRegistered', `image-i${i}`, { imageId: `i${i}`, patientId: `p${i}`, datasetId: 'ds-1', demographics: { sealed: 'x' } });
    // A withdrawal before the snapshot does not count (the patient is not lost after it).
    l.add('ConsentChanged', 'consent-p0', { patientId: 'p0', purpose: 'AI_TRAINING', status: 'denied' });
    l.add('ConsentChanged', 'consent-p0', { patientId: 'p0', purpose: 'AI_TRAINING', status: 'granted' });
    l.add('DatasetSnapshotted', 'snapshot-s1', snapshot('ds-1', 's1', ['i0', 'i1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7', 'i8', 'i9', 'i9']), 'stew-1');
    l.add('ModelRegistered', 'model-m1', { modelId: 'm1', trainedOn: [ref('s1')], validatedOn: [] }, 'dev-1');
    // 1 of 10 = 10%: not more than 10%.
    l.add('ConsentWithdrawn', 'consent-p1', { patientId: 'p1', purpose: 'AI_TRAINING' });
    // Another purpose, or a re-grant, changes nothing.
    l.add('ConsentChanged', 'consent-p2', { patientId: 'p2', purpose: 'RESEARCH', status: 'denied' });
    l.add('ConsentChanged', 'consent-p1', { patientId: 'p1', purpose: 'AI_TRAINING', status: 'granted' });
    l.add('ConsentChanged', 'consent-p3', { patientId: 'p3', purpose: 'AI_TRAINING', status: 'denied' });
    expect(run(l.events)).toEqual([]);
    const tip = l.add('ConsentChanged', 'consent-p4', { patientId: 'p4', purpose: 'AI_TRAINING', status: 'denied' });
    // Once per model: a third withdrawal raises nothing new while the finding stands.
    l.add('ConsentChanged', 'consent-p5', { patientId: 'p5', purpose: 'AI_TRAINING', status: 'denied' });
    const found = run(l.events);
    expect(found).toHaveLength(1);
    const [f] = found as [FindingRaisedData];
    expect(f).toMatchObject({ rule: 'consent-loss', modelId: 'm1', at: tip.occurredAt, facts: { patients: 10, withdrawn: 2, share: 0.2, threshold: 0.1, perSnapshot: [{ snapshotId: 's1', patients: 10, withdrawn: 2 }] } });
    expect(f.evidence.map((e) => e.sequence)).toContain(tip.globalSeq);
    expect(JSON.stringify(f)).not.toMatch(/\bp[0-9]\b/);
    // The registrant and the snapshot taker; not whoever recorded a withdrawal.
    expect(f.actors).toEqual(['dev-1', 'stew-1']);
  });

  it('consent-loss re-arms when the steward resolves the finding', () => {
    const l = log();
    for (let i = 0; i < 4; i++) l.add('ImageRegistered', `image-i${i}`, { imageId: `i${i}`, patientId: `p${i}`, datasetId: 'ds-1' });
    l.add('DatasetSnapshotted', 'snapshot-s1', snapshot('ds-1', 's1', ['i0', 'i1', 'i2', 'i3']));
    // Withdrawn after the snapshot but before the model was registered: counted at registration.
    l.add('ConsentWithdrawn', 'consent-p0', { patientId: 'p0', purpose: 'AI_TRAINING' });
    l.add('ModelRegistered', 'model-m1', { modelId: 'm1', trainedOn: [ref('s1')], validatedOn: [ref('s1')] });
    const engine = new FindingsEngine({ maxConsentLoss: 0.1, minKappa: 0.6, kappaWindow: 50 });
    const first = run(l.events, engine);
    expect(first).toHaveLength(1);
    expect(first[0]?.facts).toMatchObject({ patients: 4, withdrawn: 1 });
    const more: LoggedEvent[] = [];
    const push = (type: string, streamId: string, data: Record<string, unknown>) => more.push(l.add(type, streamId, data));
    push('FindingRaised', `finding-${first[0]?.findingId}`, { ...first[0] });
    push('ConsentWithdrawn', 'consent-p1', { patientId: 'p1', purpose: 'AI_TRAINING' });
    push('FindingTransitioned', `finding-${first[0]?.findingId}`, { findingId: first[0]?.findingId, from: 'acknowledged', to: 'resolved', note: 'retrained' });
    push('ConsentWithdrawn', 'consent-p2', { patientId: 'p2', purpose: 'AI_TRAINING' });
    const second = run(more, engine);
    expect(second).toHaveLength(1);
    expect(second[0]?.findingId).not.toBe(first[0]?.findingId);
    expect(second[0]?.facts).toMatchObject({ withdrawn: 3 });
  });

  it('replay of the same log raises the same findings with the same ids; malformed events are skipped', () => {
    const l = log();
    l.add('BalanceReleased', 'privacy-ds-1', { datasetId: 'ds-1', flagged: 'not a list' });
    l.add('DatasetSnapshotted', 'snapshot-s1', { snapshotId: 's1', datasetId: 'ds-1', entries: null });
    l.add('ModelEvaluated', 'model-m9', { modelId: 'm9', flagged: [null, 7] });
    l.add('ModelRegistered', 'model-m2', { modelId: 'm2', trainedOn: [null, { snapshotId: 7 }] });
    l.add('ConsentChanged', 'consent-px', null as unknown as Record<string, unknown>);
    l.add('BalanceReleased', 'privacy-ds-1', release('ds-1', [flag, flag]));
    l.add('DatasetSnapshotted', 'snapshot-s2', snapshot('ds-1', 's2', []));
    l.add('ModelEvaluated', 'model-m1', { evaluationId: 'e', modelId: 'm1', testSnapshot: ref('s2'), flagged: [gap] });
    const a = run(l.events);
    const b = run(l.events);
    expect(a.map((f) => f.rule)).toEqual(['evaluation-gap', 'snapshot-while-flagged', 'evaluation-gap']);
    expect(b).toEqual(a);
    expect(new Set(a.map((f) => f.findingId)).size).toBe(3);
  });

  it('refuses a threshold outside 0..1 at start', () => {
    expect(() => new FindingsEngine({ maxConsentLoss: 1.5, minKappa: 0.6, kappaWindow: 50 })).toThrow(/maxConsentLoss/);
    expect(() => new FindingsEngine({ maxConsentLoss: Number.NaN, minKappa: 0.6, kappaWindow: 50 })).toThrow(/maxConsentLoss/);
  });
});

describe('a finding\'s life (decider)', () => {
  const raised: FindingRaisedData = { findingId: 'fnd-000000000000000000000001', rule: 'evaluation-gap', ruleVersion: 1, modelId: 'm1', summary: 's', facts: {}, evidence: [], at: '2026-03-01T08:00:00Z' };
  const step = (state: FindingView | null, to: string, note = 'looked at it') => findingDecider.decide({ type: 'TransitionFinding', to: to as 'open', note, by: 'stew-1', at: '2026-03-02T08:00:00Z' }, state);
  const open = fold(findingDecider, findingDecider.decide({ type: 'RaiseFinding', finding: raised }, null));

  it('is raised once, open', () => {
    expect(open?.state).toBe('open');
    expect(findingDecider.decide({ type: 'RaiseFinding', finding: raised }, open)).toEqual([]);
  });

  it('open → acknowledged → resolved → open; acknowledged → open', () => {
    let s = open;
    for (const to of ['acknowledged', 'open', 'acknowledged', 'resolved', 'open']) {
      const events = step(s, to);
      expect(events).toHaveLength(1);
      s = events.reduce(findingDecider.evolve, s);
      expect(s?.state).toBe(to);
    }
    expect(s?.history.map((h) => `${h.from}>${h.to}`)).toEqual(['open>acknowledged', 'acknowledged>open', 'open>acknowledged', 'acknowledged>resolved', 'resolved>open']);
  });

  it('refuses an illegal step (409 naming the allowed ones), a blank or too long note (400), an unknown finding (404)', () => {
    expect(() => step(open, 'resolved')).toThrow(expect.objectContaining({ code: 'illegal-transition', details: expect.objectContaining({ allowed: ['acknowledged'] }) }));
    expect(() => step(open, 'open')).toThrow(expect.objectContaining({ code: 'illegal-transition' }));
    for (const note of ['', '   ', '\u200b\u200b', null as unknown as string]) expect(() => step(open, 'acknowledged', note)).toThrow(expect.objectContaining({ code: 'note-required' }));
    expect(() => step(open, 'acknowledged', 'x'.repeat(4001))).toThrow(expect.objectContaining({ code: 'note-too-long' }));
    expect(() => step(open, 'closed')).toThrow(expect.objectContaining({ code: 'bad-state' }));
    expect(() => step(null, 'acknowledged')).toThrow(expect.objectContaining({ code: 'finding-not-found' }));
  });

  it('refuses a step by an actor the finding is about (403 separation-of-duties, ids compared as elsewhere); one raised without actors: anyone', () => {
    const about = fold(findingDecider, findingDecider.decide({ type: 'RaiseFinding', finding: { ...raised, actors: ['Stew-1', 'dev-1'] } }, null));
    expect(about?.actors).toEqual(['Stew-1', 'dev-1']);
    expect(() => step(about, 'acknowledged')).toThrow(expect.objectContaining({ status: 403, code: 'separation-of-duties' }));
    const other = findingDecider.decide({ type: 'TransitionFinding', to: 'acknowledged', note: 'seen', by: 'stew-2', at: '2026-03-02T08:00:00Z' }, about);
    expect(other).toHaveLength(1);
    // Every later step too, by the same rule.
    const acknowledged = other.reduce(findingDecider.evolve, about);
    expect(() => step(acknowledged, 'resolved')).toThrow(expect.objectContaining({ code: 'separation-of-duties' }));
    expect(open?.actors).toEqual([]);
    expect(step(open, 'acknowledged')).toHaveLength(1);
  });
});

describe('the dataset rules: group-agreement', () => {
  it('a measurement below raises a finding citing it and its reviews; the rule re-arms on a recovery', () => {
    const l = log();
    const reviews = [l.add('AnnotationReviewed', 'annotation-a1', {}), l.add('AnnotationReviewed', 'annotation-a2', {})].map((e) => ({ eventId: e.eventId, sequence: e.globalSeq, hash: e.hash }));
    const measured = (state: string, kappa: number, over: Record<string, unknown> = {}) => ({ datasetId: 'ds-1', dimension: 'sex', group: 'female', kappa, images: 12, window: 12, minKappa: 0.6, state, reviews: [...reviews].reverse(), ...over });
    const m1 = l.add('GroupAgreementMeasured', 'agreement-ds-1', measured('below', 0.2));
    l.add('GroupAgreementMeasured', 'agreement-ds-1', measured('below', 0.1)); // a second below while the first stands: nothing new
    l.add('GroupAgreementMeasured', 'agreement-ds-1', measured('below', 0.1, { group: 'male', reviews: [{ eventId: 1 }, 'x', null] })); // another group; malformed refs dropped
    l.add('GroupAgreementMeasured', 'agreement-ds-1', measured('at-or-above', 0.8));
    const m2 = l.add('GroupAgreementMeasured', 'agreement-ds-1', measured('below', 0.3));
    l.add('GroupAgreementMeasured', 'agreement-ds-1', { datasetId: 'ds-1', state: 'below' }); // malformed: skipped
    const found = run(l.events);
    expect(found.map((f) => [f.rule, f.facts.group, f.at])).toEqual([
      ['group-agreement', 'female', m1.occurredAt],
      ['group-agreement', 'male', expect.any(String)],
      ['group-agreement', 'female', m2.occurredAt],
    ]);
    const [first, male, again] = found as [FindingRaisedData, FindingRaisedData, FindingRaisedData];
    expect(first).toMatchObject({ ruleVersion: 1, datasetId: 'ds-1', facts: { dimension: 'sex', group: 'female', kappa: 0.2, images: 12, window: 12, minKappa: 0.6, reviews: 2 } });
    expect(first.evidence).toEqual([{ eventId: m1.eventId, sequence: m1.globalSeq, hash: m1.hash }, ...reviews]);
    expect(first.summary).toContain('sex=female');
    expect(male.evidence).toHaveLength(1);
    expect(first.actors).toEqual(['someone']);
    expect(again.findingId).not.toBe(first.findingId);
    // Deterministic: a replay of the same log raises the same ids.
    expect(run(l.events).map((f) => f.findingId)).toEqual(found.map((f) => f.findingId));
  });
});
