import { ProjectionRunner } from '@custos/projections';
import { commandContextOf, dataset, image, openTestStore, principals, snapshotTables, type TestStore } from '@custos/testing';
import { annotationShell } from './annotation.codec.js';
import { AnnotationsProjection, annotationsOfImage } from './annotations.projection.js';
import type { AnnotationCommand } from './domain/annotation.decide.js';
import { annotationStreamId, type DatasetConfiguredData } from './domain/annotation.events.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

const ds: DatasetConfiguredData = { datasetId: 'ds-1', ...dataset() };
const img = image();
const box = { type: 'bbox' as const, x: 1, y: 2, width: 3, height: 4 };
const NOW = new Date('2026-11-02T10:00:00.000Z');

/**
 * Annotations below HTTP: commands decided and stored through the shell on PGlite, then
 * projected into the listing and the review table; a replay from the log gives the same rows.
 */
describe('annotations: decided, stored and projected (PGlite)', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await openTestStore('pglite', ALL_MIGRATIONS);
  });
  afterEach(() => t.close());

  const run = (annotationId: string, command: AnnotationCommand, by = principals.annotator()) =>
    annotationShell(t.store, { now: () => NOW }).handle(annotationStreamId(annotationId), command, commandContextOf(by), { patientId: img.patientId });

  it('lists what was created, edited and reviewed, hides what was deleted, and a replay agrees', async () => {
    const annotator = principals.annotator();
    const reviewer = principals.reviewer();
    const acting = { dataset: ds, consentGranted: true };
    for (const id of ['a1', 'a2']) {
      await run(id, { type: 'CreateAnnotation', principal: annotator, ...acting, annotationId: id, imageId: img.imageId, patientId: img.patientId, fields: { label: 'nodule', geometry: box, confidence: 0.9, note: 'left lobe' } });
    }
    await run('a1', { type: 'EditAnnotation', principal: annotator, ...acting, changes: { label: 'mass' } });
    await run('a1', { type: 'ReviewAnnotation', principal: reviewer, dataset: ds, verdict: 'approved' }, reviewer);
    await run('a2', { type: 'DeleteAnnotation', principal: annotator, dataset: ds });

    const runner = new ProjectionRunner(t.db, [new AnnotationsProjection()]);
    await runner.applyBatch(await t.store.readAll(0));
    expect(await runner.faults()).toEqual([]);

    const listed = await annotationsOfImage(t.db, img.imageId, false);
    expect(listed).toEqual([
      { annotationId: 'a1', imageId: 'img-1', datasetId: 'ds-1', patientId: 'p1', label: 'mass', status: 'approved', version: 3, deleted: false, createdBy: 'ann-1', createdAt: NOW.toISOString(), updatedAt: NOW.toISOString() },
    ]);
    expect((await annotationsOfImage(t.db, img.imageId, true)).map((a) => [a.annotationId, a.deleted, a.version])).toEqual([
      ['a1', false, 3],
      ['a2', true, 2],
    ]);
    expect(await t.db.query('SELECT annotation_id, dataset_id, verdict, reviewer FROM custos_rm_annotation_reviews')).toEqual([{ annotation_id: 'a1', dataset_id: 'ds-1', verdict: 'approved', reviewer: 'rev-1' }]);

    const tables = new AnnotationsProjection().tables;
    const live = await snapshotTables(t.db, tables);
    await runner.replay(t.store);
    expect(await snapshotTables(t.db, tables)).toEqual(live);
  });
});
