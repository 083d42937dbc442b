import { given } from '@custos/testing';
import { groupDomains } from './groups.js';
import { type EvaluateModel, modelDecider, type RegisterModel } from './model.decide.js';
import type { ModelEvaluated, ModelEvent, ModelRegistered, SnapshotRef } from './model.events.js';

const snap = (id: string): SnapshotRef => ({ datasetId: 'ds-1', snapshotId: id, rootHash: 'ab'.repeat(32), treeSize: 6, purpose: 'AI_TRAINING' });
const registered: ModelRegistered = {
  type: 'ModelRegistered',
  data: { modelId: 'm1', name: 'chest-nodules', version: '1.0.0', trainedOn: [snap('s-train')], validatedOn: [snap('s-val')], developer: 'dev-1' },
};
/** One image per snapshot, its own, unless told otherwise. */
const ownImages = (refs: readonly SnapshotRef[]) => Object.fromEntries(refs.map((r) => [r.snapshotId, [`img-${r.snapshotId}`]]));
const register = (over: Partial<RegisterModel['model']> = {}, images?: RegisterModel['images']): RegisterModel => {
  const model = { ...registered.data, ...over };
  return { type: 'RegisterModel', model, images: images ?? ownImages([...model.trainedOn, ...model.validatedOn]) };
};
/** What a refusal names: its code and details. */
const refusal = (run: () => unknown): { code?: unknown; details?: Record<string, unknown> } => {
  try {
    run();
  } catch (e) {
    return e as { code?: unknown; details?: Record<string, unknown> };
  }
  throw new Error('not refused');
};
const metric = (value: number, lo = Math.max(0, value - 0.02), hi = Math.min(1, value + 0.02)) => ({ value, ci: [lo, hi] });
const group = (dimension: string, g: string, n: number, sens: number) => ({ dimension, group: g, n, sensitivity: metric(sens), specificity: metric(0.9), auc: metric(0.85) });
const domains = groupDomains(['asian', 'black', 'white', 'other', 'unknown']);
const evaluate = (groups: unknown, over: Partial<EvaluateModel> = {}): EvaluateModel => ({
  type: 'EvaluateModel',
  evaluationId: 'e1',
  testSnapshot: snap('s-test'),
  groups,
  thresholds: { maxGap: 0.05, minGroupSize: 30 },
  domains,
  by: 'dev-1',
  images: { 's-train': ['i1', 'i2'], 's-test': ['i3', 'i4'] },
  ...over,
});

describe('model decider', () => {
  it('given nothing, when a model is registered, then ModelRegistered; given it, a second registration is 409 model-exists', () => {
    given(modelDecider, []).when(register()).then([registered]);
    given(modelDecider, [registered]).when(register()).thenFails('model-exists');
  });

  it('refuses a bad name, version, description or snapshot list', () => {
    given(modelDecider, []).when(register({ name: '' })).thenFails('bad-name');
    given(modelDecider, []).when(register({ name: 'x'.repeat(101) })).thenFails('bad-name');
    given(modelDecider, []).when(register({ version: '1 0' })).thenFails('bad-version');
    given(modelDecider, []).when(register({ description: 'x'.repeat(2001) })).thenFails('bad-description');
    given(modelDecider, []).when(register({ trainedOn: [] })).thenFails('bad-snapshots');
    given(modelDecider, []).when(register({ trainedOn: [snap('a'), snap('a')] })).thenFails('bad-snapshots');
    given(modelDecider, []).when(register({ trainedOn: [snap('a')], validatedOn: [snap('a')] })).thenFails('validation-snapshot-in-training');
  });

  it('an evaluation needs the model (404) and a test snapshot it was not trained on (409)', () => {
    given(modelDecider, []).when(evaluate([group('sex', 'female', 100, 0.9)])).thenFails('not-found');
    given(modelDecider, [registered]).when(evaluate([group('sex', 'female', 100, 0.9)], { testSnapshot: snap('s-train') })).thenFails('test-snapshot-in-training');
  });

  it('computes the largest gap per dimension and metric among judged groups, flags sensitivity beyond maxGap, lists groups too small', () => {
    const groups = [group('sex', 'female', 400, 0.78), group('sex', 'male', 420, 0.91), group('sex', 'other', 12, 0.2), group('ageBand', '18-39', 300, 0.9), group('ageBand', '65+', 200, 0.87), group('ethnicity', 'black', 100, 0.9)];
    given(modelDecider, [registered]).when(evaluate(groups)).then((events: readonly ModelEvent[]) => {
      const e = events[0] as ModelEvaluated;
      expect(e.type).toBe('ModelEvaluated');
      expect(e.data.modelId).toBe('m1');
      expect(e.data.thresholds).toEqual({ maxGap: 0.05, minGroupSize: 30 });
      expect(e.data.gaps.find((g) => g.dimension === 'sex' && g.metric === 'sensitivity')).toEqual({ dimension: 'sex', metric: 'sensitivity', gap: 0.13, groups: ['male', 'female'] });
      expect(e.data.gaps.find((g) => g.dimension === 'ageBand' && g.metric === 'sensitivity')?.gap).toBe(0.03);
      // One judged ethnicity group: no gap to compute.
      expect(e.data.gaps.some((g) => g.dimension === 'ethnicity')).toBe(false);
      expect(e.data.flagged).toEqual([{ dimension: 'sex', metric: 'sensitivity', gap: 0.13, groups: ['male', 'female'] }]);
      expect(e.data.tooSmall).toEqual([{ dimension: 'sex', group: 'other', n: 12 }]);
    });
  });

  it('refuses unknown keys in a result or a metric, naming the field: nothing unchecked rides into the log, nothing is dropped silently', () => {
    const ok = group('sex', 'female', 100, 0.9);
    const state = { model: registered.data, evaluations: 0 };
    const inGroup = refusal(() => modelDecider.decide(evaluate([ok, { ...group('sex', 'male', 100, 0.9), patientName: 'Jane Doe' }]), state));
    expect([inGroup.code, inGroup.details?.field]).toEqual(['bad-groups', 'groups[1].patientName']);
    const inMetric = refusal(() => modelDecider.decide(evaluate([{ ...ok, sensitivity: { value: 0.9, ci: [0.8, 0.95], note: 'Jane Doe' } }]), state));
    expect([inMetric.code, inMetric.details?.field]).toEqual(['bad-metric', 'groups[0].sensitivity.note']);
  });

  it('only the developer who registered the model evaluates it (403 not-model-developer; the same actor in another case is the same)', () => {
    given(modelDecider, [registered]).when(evaluate([group('sex', 'female', 100, 0.9)], { by: 'dev-2' })).thenFails('not-model-developer');
    given(modelDecider, [registered])
      .when(evaluate([group('sex', 'female', 100, 0.9)], { by: 'DEV-1' }))
      .then((events: readonly ModelEvent[]) => expect(events[0]?.type).toBe('ModelEvaluated'));
  });

  it('every snapshot a model names is of an AI_TRAINING dataset (409 snapshot-purpose, naming the field)', () => {
    const research = { ...snap('s-research'), purpose: 'RESEARCH' };
    const trained = refusal(() => modelDecider.decide(register({ trainedOn: [snap('s-train'), research] }), { model: null, evaluations: 0 }));
    expect([trained.code, trained.details?.field]).toEqual(['snapshot-purpose', 'trainedOn[1]']);
    const validated = refusal(() => modelDecider.decide(register({ validatedOn: [research] }), { model: null, evaluations: 0 }));
    expect([validated.code, validated.details?.field]).toEqual(['snapshot-purpose', 'validatedOn[0]']);
    const tested = refusal(() => modelDecider.decide(evaluate([group('sex', 'female', 100, 0.9)], { testSnapshot: research, images: { 's-train': ['i1'], 's-research': ['r1'] } }), { model: registered.data, evaluations: 0 }));
    expect([tested.code, tested.details?.field]).toEqual(['snapshot-purpose', 'testSnapshot']);
  });

  it('validation and test snapshots share no image with the training ones (409 with the count of shared images, no ids)', () => {
    const validated = refusal(() =>
      modelDecider.decide(register({ trainedOn: [snap('s-train'), snap('s-train2')] }, { 's-train': ['i1', 'i2'], 's-train2': ['i3'], 's-val': ['i2', 'i3', 'i9'] }), { model: null, evaluations: 0 }),
    );
    expect([validated.code, validated.details]).toEqual(['validation-overlaps-training', { field: 'validatedOn', sharedImages: 2 }]);
    given(modelDecider, [])
      .when(register({}, { 's-train': ['i1', 'i2'], 's-val': ['i3'] }))
      .then((events: readonly ModelEvent[]) => expect(events[0]?.type).toBe('ModelRegistered'));
    const tested = refusal(() => modelDecider.decide(evaluate([group('sex', 'female', 100, 0.9)], { images: { 's-train': ['i1', 'i2'], 's-test': ['i2', 'i2', 'i7'] } }), { model: registered.data, evaluations: 0 }));
    expect([tested.code, tested.details]).toEqual(['test-snapshot-overlaps-training', { field: 'testSnapshot', sharedImages: 1 }]);
  });

  it('a gap exactly at the threshold is not flagged (beyond means beyond)', () => {
    given(modelDecider, [registered])
      .when(evaluate([group('sex', 'female', 100, 0.85), group('sex', 'male', 100, 0.9)]))
      .then((events: readonly ModelEvent[]) => expect((events[0] as ModelEvaluated).data.flagged).toEqual([]));
  });

  it('refuses hostile results, naming the field', () => {
    const ok = group('sex', 'female', 100, 0.9);
    const cases: Array<[unknown, string]> = [
      [null, 'bad-groups'],
      [[], 'bad-groups'],
      [{ 0: ok }, 'bad-groups'],
      [Array.from({ length: 201 }, () => ok), 'bad-groups'],
      [[null], 'bad-groups'],
      [[[ok]], 'bad-groups'],
      [[{ ...ok, dimension: 'religion' }], 'unknown-dimension'],
      [[{ ...ok, dimension: null }], 'unknown-dimension'],
      [[{ ...ok, group: 'martian' }], 'unknown-group'],
      [[{ ...ok, dimension: 'ageBand', group: 'female' }], 'unknown-group'],
      [[ok, ok], 'duplicate-group'],
      [[{ ...ok, n: -1 }], 'bad-n'],
      [[{ ...ok, n: 1.5 }], 'bad-n'],
      [[{ ...ok, n: 1e308 }], 'bad-n'],
      [[{ ...ok, n: '100' }], 'bad-n'],
      [[{ ...ok, sensitivity: null }], 'bad-metric'],
      [[{ ...ok, sensitivity: [0.9, [0.8, 1]] }], 'bad-metric'],
      [[{ ...ok, sensitivity: { value: 'NaN', ci: [0, 1] } }], 'bad-metric'],
      [[{ ...ok, sensitivity: { value: Number.NaN, ci: [0, 1] } }], 'bad-metric'],
      [[{ ...ok, sensitivity: { value: 1.5, ci: [0, 1] } }], 'bad-metric'],
      [[{ ...ok, auc: { value: 0.5, ci: [0.6, 0.4] } }], 'bad-metric'],
      [[{ ...ok, auc: { value: 0.5, ci: [0.6, 0.9] } }], 'bad-metric'],
      [[{ ...ok, auc: { value: 0.5, ci: [0.4] } }], 'bad-metric'],
      [[{ ...ok, specificity: { value: 0.5, ci: [-0.1, 0.6] } }], 'bad-metric'],
      [[{ ...ok, specificity: { value: 0.5, ci: [0.4, Infinity] } }], 'bad-metric'],
    ];
    for (const [groups, code] of cases) given(modelDecider, [registered]).when(evaluate(groups)).thenFails(code);
    let field: unknown;
    try {
      modelDecider.decide(evaluate([ok, { ...ok, group: 'male', auc: { value: 0.5, ci: [0.6, 0.4] } }]), { model: registered.data, evaluations: 0 });
    } catch (e) {
      field = (e as { details?: { field?: unknown } }).details?.field;
    }
    expect(field).toBe('groups[1].auc.ci');
  });
});
