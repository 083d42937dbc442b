import type { Decider } from '@custos/decider';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '@custos/errors';
import { sameActor } from '@custos/vocabulary';
import { DIMENSIONS, type Dimension, isDimension } from './groups.js';
import type { GroupResult, Metric, MetricGap, MetricResult, ModelEvent, ModelEvaluatedData, ModelRegisteredData, SnapshotRef } from './model.events.js';

/** A model's stream as it stands: registered once, then evaluated any number of times. */
export interface ModelState {
  readonly model: ModelRegisteredData | null;
  readonly evaluations: number;
}

/** Each named snapshot's image ids (of its entries, as the log recorded them), by snapshot id. */
export type SnapshotImages = Readonly<Record<string, readonly string[]>>;

export type RegisterModel = { readonly type: 'RegisterModel'; readonly model: ModelRegisteredData; readonly images: SnapshotImages };

export type EvaluateModel = {
  readonly type: 'EvaluateModel';
  readonly evaluationId: string;
  readonly testSnapshot: SnapshotRef;
  /** As submitted (untrusted: checked here). */
  readonly groups: unknown;
  readonly thresholds: { readonly maxGap: number; readonly minGroupSize: number };
  /** Each dimension's public groups (groupDomains(config.fairness.ethnicityGroups)). */
  readonly domains: Readonly<Record<Dimension, readonly string[]>>;
  readonly by: string;
  /** The image ids of the test snapshot and of every snapshot the model was trained on. */
  readonly images: SnapshotImages;
};

export type ModelCommand = RegisterModel | EvaluateModel;

export const METRICS: readonly Metric[] = ['sensitivity', 'specificity', 'auc'];
export const MAX_GROUPS = 200;
export const MAX_N = 1_000_000_000;
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._:+-]{0,99}$/;
export const MODEL_VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
export const MAX_SNAPSHOTS = 50;

const bad = (field: string, message: string, code: string): ValidationError => new ValidationError(`${field}: ${message}`, { field }, code);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Keys beyond the known ones are refused, naming the first (nothing unchecked rides into the log, nothing is silently dropped). */
function onlyKeys(raw: Record<string, unknown>, known: readonly string[], field: string, code: string): void {
  const extra = Object.keys(raw).find((k) => !known.includes(k));
  if (extra !== undefined) throw bad(`${field}.${extra}`, `is not a known field (known: ${known.join(', ')})`, code);
}

/** Patients consented to AI_TRAINING for AI_TRAINING datasets only: a model learns from, is validated and tested on nothing else. */
export const MODEL_PURPOSE = 'AI_TRAINING';

function checkPurpose(ref: SnapshotRef, field: string): void {
  if (ref.purpose !== MODEL_PURPOSE) {
    throw new ConflictError(`${field}: snapshot ${ref.snapshotId} is of a ${ref.purpose} dataset; models use ${MODEL_PURPOSE} snapshots only`, { field, snapshotId: ref.snapshotId, purpose: ref.purpose }, 'snapshot-purpose');
  }
}

function imagesOf(images: SnapshotImages, refs: readonly SnapshotRef[]): Set<string> {
  const all = new Set<string>();
  for (const r of refs) {
    const ids = images[r.snapshotId];
    if (!ids) throw new Error(`the images of snapshot ${r.snapshotId} were not given`);
    for (const id of ids) all.add(id);
  }
  return all;
}

/** How many distinct images of `these` snapshots are also in `training`. */
function shared(images: SnapshotImages, these: readonly SnapshotRef[], training: readonly SnapshotRef[]): number {
  const train = imagesOf(images, training);
  let n = 0;
  for (const id of imagesOf(images, these)) if (train.has(id)) n += 1;
  return n;
}

/** Only the developer who registered a model adds evaluations to it (403 not-model-developer). */
export function checkDeveloper(model: ModelRegisteredData, by: string): void {
  if (!sameActor(model.developer, by)) throw new ForbiddenError('only the developer who registered this model may evaluate it', undefined, 'not-model-developer');
}

/** A metric as submitted: a finite value in [0, 1] inside its interval [lo, hi] ⊆ [0, 1]. */
function metricOf(raw: unknown, field: string): MetricResult {
  if (!isRecord(raw)) throw bad(field, 'must be an object {value, ci: [lo, hi]}', 'bad-metric');
  onlyKeys(raw, ['value', 'ci'], field, 'bad-metric');
  const { value, ci } = raw;
  const unit = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;
  if (!unit(value)) throw bad(`${field}.value`, 'must be a number in [0, 1]', 'bad-metric');
  if (!Array.isArray(ci) || ci.length !== 2 || !unit(ci[0]) || !unit(ci[1])) throw bad(`${field}.ci`, 'must be [lo, hi], numbers in [0, 1]', 'bad-metric');
  const [lo, hi] = ci as [number, number];
  if (!(lo <= value && value <= hi)) throw bad(`${field}.ci`, 'must hold the value: lo ≤ value ≤ hi', 'bad-metric');
  return { value, ci: [lo, hi] };
}

const GROUP_KEYS = ['dimension', 'group', 'n', 'sensitivity', 'specificity', 'auc'];

/** The submitted results per group, checked: each field named where it is wrong (400). */
export function groupResultsOf(raw: unknown, domains: Readonly<Record<Dimension, readonly string[]>>): GroupResult[] {
  if (!Array.isArray(raw) || raw.length < 1 || raw.length > MAX_GROUPS) throw bad('groups', `must be a list of 1 to ${MAX_GROUPS} results`, 'bad-groups');
  const seen = new Set<string>();
  return raw.map((g: unknown, i) => {
    const at = `groups[${i}]`;
    if (!isRecord(g)) throw bad(at, 'must be an object', 'bad-groups');
    onlyKeys(g, GROUP_KEYS, at, 'bad-groups');
    const { dimension, group, n } = g;
    if (typeof dimension !== 'string' || !isDimension(dimension)) throw bad(`${at}.dimension`, `must be one of ${DIMENSIONS.join(', ')}`, 'unknown-dimension');
    if (typeof group !== 'string' || !domains[dimension].includes(group)) throw bad(`${at}.group`, `must be one of ${dimension}'s groups: ${domains[dimension].join(', ')}`, 'unknown-group');
    const key = `${dimension}\u0000${group}`;
    if (seen.has(key)) throw bad(`${at}.group`, `${dimension}=${group} is given twice`, 'duplicate-group');
    seen.add(key);
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_N) throw bad(`${at}.n`, `must be an integer from 0 to ${MAX_N}`, 'bad-n');
    return { dimension, group, n, sensitivity: metricOf(g.sensitivity, `${at}.sensitivity`), specificity: metricOf(g.specificity, `${at}.specificity`), auc: metricOf(g.auc, `${at}.auc`) };
  });
}

/** Rounded to 1e-9 so that a gap of 0.3 - 0.25 reads 0.05, not 0.04999999999999999. */
const round = (x: number): number => Math.round(x * 1e9) / 1e9;

/**
 * Per dimension and metric, the largest gap between the groups judged (n ≥ minGroupSize; at
 * least two of them), with the best and the worst group; sensitivity gaps beyond maxGap are
 * flagged; groups too small are listed, not judged.
 */
export function judge(groups: readonly GroupResult[], thresholds: { readonly maxGap: number; readonly minGroupSize: number }): Pick<ModelEvaluatedData, 'gaps' | 'flagged' | 'tooSmall'> {
  const gaps: MetricGap[] = [];
  for (const dimension of DIMENSIONS) {
    const judged = groups.filter((g) => g.dimension === dimension && g.n >= thresholds.minGroupSize);
    if (judged.length < 2) continue;
    for (const metric of METRICS) {
      let best = judged[0] as GroupResult;
      let worst = best;
      for (const g of judged) {
        if (g[metric].value > best[metric].value) best = g;
        if (g[metric].value < worst[metric].value) worst = g;
      }
      gaps.push({ dimension, metric, gap: round(best[metric].value - worst[metric].value), groups: [best.group, worst.group] });
    }
  }
  const flagged = gaps.filter((g) => g.metric === 'sensitivity' && g.gap > thresholds.maxGap);
  const tooSmall = groups.filter((g) => g.n < thresholds.minGroupSize).map((g) => ({ dimension: g.dimension, group: g.group, n: g.n }));
  return { gaps, flagged, tooSmall };
}

function checkSnapshots(field: string, refs: readonly SnapshotRef[], min: number): void {
  if (!Array.isArray(refs) || refs.length < min || refs.length > MAX_SNAPSHOTS) throw bad(field, `must list ${min} to ${MAX_SNAPSHOTS} snapshots`, 'bad-snapshots');
  const ids = new Set(refs.map((r) => r.snapshotId));
  if (ids.size !== refs.length) throw bad(field, 'names a snapshot twice', 'bad-snapshots');
}

/**
 * A model version is registered once (409 model-exists), naming the snapshots it was trained
 * and validated on (roots as the log recorded them): all of AI_TRAINING datasets, validation
 * sharing no image with training. Its evaluations, by the developer who registered it only,
 * are judged here: the test snapshot (AI_TRAINING) must share no image with the training ones,
 * the results per group are checked, and the gaps computed with the thresholds in force,
 * which the event records.
 */
export const modelDecider: Decider<ModelState, ModelCommand, ModelEvent> = {
  initialState: { model: null, evaluations: 0 },
  evolve: (state, event) => (event.type === 'ModelRegistered' ? { ...state, model: event.data } : { ...state, evaluations: state.evaluations + 1 }),
  decide(command, state) {
    if (command.type === 'RegisterModel') {
      const m = command.model;
      if (state.model) throw new ConflictError(`model ${state.model.name} ${state.model.version} is registered already`, { modelId: state.model.modelId }, 'model-exists');
      if (typeof m.name !== 'string' || !MODEL_NAME.test(m.name)) throw bad('name', `must match ${MODEL_NAME.source}`, 'bad-name');
      if (typeof m.version !== 'string' || !MODEL_VERSION.test(m.version)) throw bad('version', `must match ${MODEL_VERSION.source}`, 'bad-version');
      if (m.description !== undefined && (typeof m.description !== 'string' || m.description.length > 2000)) throw bad('description', 'must be text of at most 2000 characters', 'bad-description');
      checkSnapshots('trainedOn', m.trainedOn, 1);
      checkSnapshots('validatedOn', m.validatedOn, 0);
      const overlap = m.validatedOn.find((v) => m.trainedOn.some((t) => t.snapshotId === v.snapshotId));
      if (overlap) throw new ConflictError('a snapshot it was trained on cannot validate it', { field: 'validatedOn', snapshotId: overlap.snapshotId }, 'validation-snapshot-in-training');
      m.trainedOn.forEach((s, i) => checkPurpose(s, `trainedOn[${i}]`));
      m.validatedOn.forEach((s, i) => checkPurpose(s, `validatedOn[${i}]`));
      const sharedImages = shared(command.images, m.validatedOn, m.trainedOn);
      if (sharedImages > 0) throw new ConflictError(`${sharedImages} image(s) it was validated on are images it was trained on`, { field: 'validatedOn', sharedImages }, 'validation-overlaps-training');
      return [{ type: 'ModelRegistered', data: m }];
    }
    if (!state.model) throw new NotFoundError('no such model', undefined, 'not-found');
    checkDeveloper(state.model, command.by);
    const test = command.testSnapshot;
    if (state.model.trainedOn.some((s) => s.snapshotId === test.snapshotId)) {
      throw new ConflictError('the test snapshot is one the model was trained on', { field: 'testSnapshot.snapshotId', snapshotId: test.snapshotId }, 'test-snapshot-in-training');
    }
    checkPurpose(test, 'testSnapshot');
    const sharedImages = shared(command.images, [test], state.model.trainedOn);
    if (sharedImages > 0) throw new ConflictError(`${sharedImages} image(s) of the test snapshot are images the model was trained on`, { field: 'testSnapshot', sharedImages }, 'test-snapshot-overlaps-training');
    const groups = groupResultsOf(command.groups, command.domains);
    const { maxGap, minGroupSize } = command.thresholds;
    return [
      {
        type: 'ModelEvaluated',
        data: { evaluationId: command.evaluationId, modelId: state.model.modelId, testSnapshot: test, groups, ...judge(groups, command.thresholds), thresholds: { maxGap, minGroupSize }, by: command.by },
      },
    ];
  },
};
