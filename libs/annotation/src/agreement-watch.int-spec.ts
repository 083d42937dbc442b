import type { CommandContext } from '@custos/event-store';
import { groupsOf } from '@custos/fairness';
import type { ImageDirectory } from '@custos/imaging';
import type { CustosConfig } from '@custos/platform';
import { ProjectionRunner } from '@custos/projections';
import { commandContextOf, dataset, openTestStore, principals, type TestStore } from '@custos/testing';
import { ALL_MIGRATIONS } from '@custos/contexts';
import { annotationShell } from './annotation.codec.js';
import { AgreementWatch, type DemographicGroups, type RecordedReview } from './agreement-watch.js';
import { AnnotationsProjection } from './annotations.projection.js';
import { agreementStreamId, annotationStreamId, type DatasetConfiguredData } from './domain/annotation.events.js';

let ds: DatasetConfiguredData = { datasetId: 'ds-1', ...dataset() };
const box = { type: 'bbox' as const, x: 1, y: 2, width: 3, height: 4 };
const NOW = new Date('2026-11-02T10:00:00.000Z');
const WINDOW = 12;

/**
 * The group-agreement watch on PGlite: annotations and reviews stored through the shell and
 * projected; the watch measures the reviewed image's groups and records a state change only.
 */
describe('group agreement watch (PGlite)', () => {
  let t: TestStore;
  let watch: AgreementWatch;
  let n = 0;
  let projected = -1;
  const sexOf = new Map<string, string>();
  const images = {
    // Women born 1990 (18-39) of two ethnicities in turn, men born 1950 (65+); an erased patient's fields read `{erased: true}`.
    image: async (imageId: string) => {
      const sex = sexOf.get(imageId);
      const demographics = sex === 'erased' ? { sex: { erased: true }, birthYear: { erased: true }, ethnicity: { erased: true } } : sex === 'female' ? { sex: 'F', birthYear: 1990, ethnicity: Number(imageId.slice(4)) % 4 < 2 ? 'asian' : 'black' } : { sex: 'M', birthYear: 1950, ethnicity: 'white' };
      return { imageId, demographics };
    },
  } as unknown as ImageDirectory;
  const groups: DemographicGroups = { of: (d, year) => groupsOf(d, year, ['asian', 'black', 'white', 'other', 'unknown']) };
  const config = { fairness: { minKappa: 0.6, kappaWindow: WINDOW } } as unknown as CustosConfig;
  const context: CommandContext = commandContextOf(principals.reviewer());

  // One store for the file (migrations are the slow part); each test its own dataset.
  beforeAll(async () => {
    t = await openTestStore('pglite', ALL_MIGRATIONS);
  });
  beforeEach(() => {
    ds = { datasetId: `ds-${++n}`, ...dataset() };
    watch = new AgreementWatch(t.store, t.db, { now: () => NOW }, images, groups, config);
  });
  afterAll(() => t.close());

  const shell = () => annotationShell(t.store, { now: () => NOW });
  const annotate = async (imageId: string, by: string, label: string): Promise<string> => {
    const annotationId = `a-${++n}`;
    await shell().handle(
      annotationStreamId(annotationId),
      { type: 'CreateAnnotation', principal: principals.annotator({ sub: by }), dataset: ds, consentGranted: true, annotationId, imageId, patientId: `p-${imageId}`, fields: { label, geometry: box, confidence: 0.9 } },
      commandContextOf(principals.annotator({ sub: by })),
      { patientId: `p-${imageId}` },
    );
    return annotationId;
  };
  /** `count` images of this sex, each labelled by two annotators (agreeing or not), the first one's annotation reviewed; the last review's record. */
  const batch = async (sex: string, count: number, agree: boolean): Promise<RecordedReview> => {
    let last: RecordedReview | null = null;
    for (let i = 0; i < count; i++) {
      const imageId = `img-${++n}`;
      sexOf.set(imageId, sex);
      const label = i % 2 ? 'nodule' : 'mass';
      const first = await annotate(imageId, 'ann-1', label);
      await annotate(imageId, 'ann-2', agree ? label : label === 'mass' ? 'nodule' : 'mass');
      const handled = await shell().handle(annotationStreamId(first), { type: 'ReviewAnnotation', principal: principals.reviewer(), dataset: ds, verdict: 'approved' }, context, { patientId: `p-${imageId}` });
      const e = handled.events[0];
      if (!e) throw new Error('a review is recorded');
      last = { datasetId: ds.datasetId, annotationId: first, imageId, eventId: e.eventId, sequence: e.globalSeq, hash: e.hash };
    }
    const events = await t.store.readAll(projected + 1);
    await new ProjectionRunner(t.db, [new AnnotationsProjection()]).applyBatch(events);
    projected = events[events.length - 1]?.globalSeq ?? projected;
    return last as RecordedReview;
  };
  const recorded = async () => (await t.store.readStream(agreementStreamId(ds.datasetId))).map((e) => e.data as Record<string, unknown>);

  it('records a below measurement with its window of reviews as evidence when a group\'s annotators disagree, then its recovery', async () => {
    await batch('male', 6, true);
    const last = await batch('female', WINDOW, false);
    const out = await watch.measure(last, context);
    // Sex and age band hold the twelve women; each ethnicity only six of them (fewer than 10 rated images: no state).
    expect(out.map((m) => [m.dimension, m.group, m.state])).toEqual([['sex', 'female', 'below'], ['ageBand', '18-39', 'below']]);
    const [m] = out;
    expect(m).toMatchObject({ datasetId: ds.datasetId, kappa: -1, images: WINDOW, window: WINDOW, minKappa: 0.6 });
    expect(m?.reviews).toHaveLength(WINDOW);
    expect(m?.reviews[0]).toEqual({ eventId: last.eventId, sequence: last.sequence, hash: last.hash });
    const seqs = (m?.reviews ?? []).map((r) => r.sequence);
    expect(new Set(seqs).size).toBe(WINDOW);
    expect(JSON.stringify(out)).not.toMatch(/p-img|img-/);
    // Measured again with nothing changed: nothing recorded.
    expect(await watch.measure(last, context)).toEqual([]);

    const recovered = await batch('female', WINDOW, true);
    const again = await watch.measure(recovered, context);
    // Sex and age band now hold twelve agreeing images; the last image's ethnicity holds six of each batch: ten or more rated, kappa 0, below for the first time.
    expect(again.map((x) => [x.dimension, x.group, x.state, x.kappa])).toEqual([['sex', 'female', 'at-or-above', 1], ['ageBand', '18-39', 'at-or-above', 1], ['ethnicity', 'asian', 'below', 0]]);
    expect((await recorded()).map((d) => [d.dimension, d.state])).toEqual([['sex', 'below'], ['ageBand', 'below'], ['sex', 'at-or-above'], ['ageBand', 'at-or-above'], ['ethnicity', 'below']]);
  });

  it('records nothing when the group\'s annotators agree, or when fewer than 10 images are rated', async () => {
    const last = await batch('female', WINDOW, true);
    expect(await watch.measure(last, context)).toEqual([]);
    const few = await batch('male', 9, false);
    expect(await watch.measure(few, context)).toEqual([]);
    expect(await recorded()).toEqual([]);
  });

  it('two measurers racing on the same change record it once (the loser decides again on the fresh state)', async () => {
    const last = await batch('male', WINDOW, false);
    const other = new AgreementWatch(t.store, t.db, { now: () => NOW }, images, groups, config);
    const [a, b] = await Promise.all([watch.measure(last, context), other.measure(last, context)]);
    expect([...a, ...b].map((m) => m.dimension).sort()).toEqual(['ageBand', 'ethnicity', 'sex']);
    expect((await recorded()).map((d) => d.dimension)).toHaveLength(3);
  });

  it('reads an erased patient as unknown, and a failed measurement does not throw', async () => {
    const last = await batch('erased', WINDOW, false);
    const out = await watch.measure(last, context);
    expect(out.map((m) => [m.dimension, m.group, m.state])).toEqual([['sex', 'unknown', 'below'], ['ageBand', 'unknown', 'below'], ['ethnicity', 'unknown', 'below']]);
    const broken = new AgreementWatch(t.store, t.db, { now: () => NOW }, { image: () => Promise.reject(new Error('boom')) } as unknown as ImageDirectory, groups, config);
    await expect(broken.afterReview(last, context)).resolves.toBeUndefined();
  });
});
