import type { Principal } from '@custos/authz';
import { dataset as datasetOf, given, principals } from '@custos/testing';
import { annotationDecider, type AnnotationCommand, geometryProblem } from './annotation.decide.js';
import type { AnnotationEvent, DatasetConfiguredData, Geometry } from './annotation.events.js';
import { datasetDecider } from './dataset.decide.js';

const dataset: DatasetConfiguredData = { datasetId: 'ds-1', ...datasetOf({ minReviewers: 2 }) };
const ann = (sub: string, roles = ['annotator']): Principal => principals.annotator({ sub, roles });
const box = { type: 'bbox' as const, x: 1, y: 2, width: 3, height: 4 };
const created: AnnotationEvent = {
  type: 'AnnotationCreated',
  data: { annotationId: 'a1', imageId: 'img-1', datasetId: 'ds-1', patientId: 'p1', label: 'nodule', geometry: box, confidence: 0.9, note: 'left lobe', by: 'ann-1', credential: 'certified-radiologist' },
};
const create = (over: Partial<Extract<AnnotationCommand, { type: 'CreateAnnotation' }>> = {}): AnnotationCommand => ({
  type: 'CreateAnnotation',
  principal: ann('ann-1'),
  dataset,
  consentGranted: true,
  annotationId: 'a1',
  imageId: 'img-1',
  patientId: 'p1',
  fields: { label: 'nodule', geometry: box, confidence: 0.9, note: 'left lobe' },
  ...over,
});
const review = (sub: string, verdict: 'approved' | 'rejected', reason?: string): AnnotationCommand => ({ type: 'ReviewAnnotation', principal: ann(sub, ['reviewer']), dataset, verdict, ...(reason ? { reason } : {}) });

describe('annotation decider', () => {
  it('given nothing, when a credentialed annotator creates, then AnnotationCreated names who and under which credential', () => {
    given(annotationDecider, []).when(create()).then([created]);
  });

  it('refuses a geometry carrying anything beyond its type\'s keys (it is stored in clear), or numbers and lists out of bounds', () => {
    const bad: unknown[] = [
      { ...box, patientName: 'Jane Doe' },
      { ...box, nested: { deep: [1, 2, 3] } },
      { type: 'polygon', points: [[0, 0], [1, 0], [1, 1]], label: 'x' },
      { type: 'mask', ref: 'masks/1', note: 'Jane Doe' },
      { type: 'polygon', points: [[0, 0], [1, 0], [1, 1, 'Jane']] },
      { type: 'polygon', points: Array.from({ length: 1001 }, (_, i) => [i, i]) },
      { type: 'bbox', x: '1', y: 0, width: 1, height: 1 },
      { type: 'bbox', x: 0, y: 0, width: 1, height: 2_000_000 },
      { type: 'circle', x: 0, y: 0, r: 1 },
      [box],
    ];
    for (const geometry of bad) given(annotationDecider, []).when(create({ fields: { label: 'nodule', geometry: geometry as Geometry, confidence: 0.5 } })).thenFails('bad-geometry');
    for (const geometry of bad) expect(geometryProblem(geometry)).toEqual(expect.any(String));
    for (const geometry of [box, { type: 'polygon', points: [[0, 0], [1, 0], [1, 1]] }, { type: 'mask', ref: 'masks/1.png' }]) expect(geometryProblem(geometry)).toBeUndefined();
  });

  it('refuses without an accepted credential, without consent, with a label outside the vocabulary or a bad geometry', () => {
    given(annotationDecider, []).when(create({ principal: principals.annotator({ sub: 'x', credentials: ['medical-student'] }) })).thenFails('credential-not-accepted');
    given(annotationDecider, []).when(create({ consentGranted: false })).thenFails('consent-not-granted');
    given(annotationDecider, []).when(create({ fields: { label: 'tumour', geometry: box, confidence: 0.5 } })).thenFails('unknown-label');
    given(annotationDecider, []).when(create({ fields: { label: 'nodule', geometry: { type: 'bbox', x: -1, y: 0, width: 1, height: 1 }, confidence: 0.5 } })).thenFails('bad-geometry');
    given(annotationDecider, []).when(create({ fields: { label: 'nodule', geometry: { type: 'polygon', points: [[0, 0], [1, 1]] }, confidence: 0.5 } })).thenFails('bad-geometry');
    given(annotationDecider, []).when(create({ fields: { label: 'nodule', geometry: box, confidence: 1.5 } })).thenFails('bad-confidence');
    given(annotationDecider, []).when(create({ fields: { label: 'nodule', geometry: box, confidence: Number.NaN } })).thenFails('bad-confidence');
    given(annotationDecider, [created]).when(create()).thenFails('annotation-exists');
  });

  it('given an approved annotation, when it is edited, then it is back to unreviewed and earlier approvals no longer count', () => {
    const approvedOnce: AnnotationEvent = { type: 'AnnotationReviewed', data: { annotationId: 'a1', patientId: 'p1', verdict: 'approved', by: 'rev-1', credential: 'certified-radiologist', status: 'unreviewed' } };
    const approved: AnnotationEvent = { type: 'AnnotationReviewed', data: { annotationId: 'a1', patientId: 'p1', verdict: 'approved', by: 'rev-2', credential: 'certified-radiologist', status: 'approved' } };
    given(annotationDecider, [created, approvedOnce, approved])
      .when({ type: 'EditAnnotation', principal: ann('ann-2'), dataset, consentGranted: true, changes: { label: 'mass' } })
      .then([{ type: 'AnnotationEdited', data: { annotationId: 'a1', patientId: 'p1', label: 'mass', by: 'ann-2', credential: 'certified-radiologist', status: 'unreviewed' } }]);
    const edited: AnnotationEvent = { type: 'AnnotationEdited', data: { annotationId: 'a1', patientId: 'p1', label: 'mass', by: 'ann-2', credential: 'certified-radiologist', status: 'unreviewed' } };
    // rev-1 approved before the edit: approving again now is a new approval, one of the two needed.
    given(annotationDecider, [created, approvedOnce, approved, edited])
      .when(review('rev-1', 'approved'))
      .then((events) => expect((events[0]?.data as { status: string }).status).toBe('unreviewed'));
  });

  it('needs minReviewers distinct approvals; a reviewer approves once per version; a rejection needs a reason', () => {
    given(annotationDecider, [created]).when(review('rev-1', 'approved')).then((e) => expect((e[0]?.data as { status: string }).status).toBe('unreviewed'));
    const first: AnnotationEvent = { type: 'AnnotationReviewed', data: { annotationId: 'a1', patientId: 'p1', verdict: 'approved', by: 'rev-1', credential: 'certified-radiologist', status: 'unreviewed' } };
    given(annotationDecider, [created, first]).when(review('rev-1', 'approved')).thenFails('already-reviewed');
    given(annotationDecider, [created, first]).when(review('REV-1', 'approved')).thenFails('already-reviewed');
    given(annotationDecider, [created, first]).when(review('rev-2', 'approved')).then((e) => expect((e[0]?.data as { status: string }).status).toBe('approved'));
    given(annotationDecider, [created]).when(review('rev-1', 'rejected')).thenFails('reason-required');
    // Whatever transport sent it, a review its read model would store as nonsense is refused.
    given(annotationDecider, [created]).when({ ...review('rev-1', 'approved'), verdict: 'maybe' } as unknown as AnnotationCommand).thenFails('bad-verdict');
    given(annotationDecider, [created]).when({ ...review('rev-1', 'rejected'), reason: ['no'] } as unknown as AnnotationCommand).thenFails('bad-reason');
    given(annotationDecider, [created]).when(review('rev-1', 'rejected', 'box misses the lesion')).then((e) => expect((e[0]?.data as { status: string }).status).toBe('rejected'));
  });

  it('never lets an author review, nor anyone without the reviewer role or an accepted credential', () => {
    given(annotationDecider, [created]).when(review('ann-1', 'approved')).thenFails('own-annotation');
    // Ids folded as separation of duties folds them everywhere: the identity provider may spell the author's id otherwise.
    for (const spelled of ['ANN-1', 'Ann-1', 'ＡＮＮ-1']) given(annotationDecider, [created]).when(review(spelled, 'approved')).thenFails('own-annotation');
    given(annotationDecider, [created]).when({ type: 'ReviewAnnotation', principal: ann('rev-9'), dataset, verdict: 'approved' }).thenFails('not-a-reviewer');
    given(annotationDecider, [created]).when({ type: 'ReviewAnnotation', principal: principals.reviewer({ sub: 'rev-9', credentials: [] }), dataset, verdict: 'approved' }).thenFails('credential-not-accepted');
  });

  it('deletes as a tombstone; nothing happens to a deleted annotation after', () => {
    const deleted: AnnotationEvent = { type: 'AnnotationDeleted', data: { annotationId: 'a1', patientId: 'p1', by: 'ann-1', credential: 'certified-radiologist' } };
    given(annotationDecider, [created]).when({ type: 'DeleteAnnotation', principal: ann('ann-1'), dataset }).then([deleted]);
    given(annotationDecider, [created, deleted]).when({ type: 'EditAnnotation', principal: ann('ann-1'), dataset, consentGranted: true, changes: { label: 'mass' } }).thenFails('annotation-deleted');
    given(annotationDecider, [created, deleted]).when(review('rev-1', 'approved')).thenFails('annotation-deleted');
    given(annotationDecider, []).when({ type: 'DeleteAnnotation', principal: ann('ann-1'), dataset }).thenFails('not-found');
  });

  it('refuses an edit that changes nothing', () => {
    given(annotationDecider, [created]).when({ type: 'EditAnnotation', principal: ann('ann-1'), dataset, consentGranted: true, changes: { label: 'nodule', geometry: box } }).thenFails('nothing-to-change');
  });
});

describe('dataset decider', () => {
  it('records a configuration, nothing for the same again, and refuses bad vocabularies', () => {
    given(datasetDecider, []).when({ type: 'ConfigureDataset', config: dataset }).then([{ type: 'DatasetConfigured', data: dataset }]);
    given(datasetDecider, [{ type: 'DatasetConfigured', data: dataset }]).when({ type: 'ConfigureDataset', config: dataset }).then([]);
    given(datasetDecider, []).when({ type: 'ConfigureDataset', config: { ...dataset, labels: ['Nodule!'] } }).thenFails('bad-labels');
    given(datasetDecider, []).when({ type: 'ConfigureDataset', config: { ...dataset, labels: ['a', 'a'] } }).thenFails('bad-labels');
    given(datasetDecider, []).when({ type: 'ConfigureDataset', config: { ...dataset, credentials: [] } }).thenFails('bad-credentials');
    given(datasetDecider, []).when({ type: 'ConfigureDataset', config: { ...dataset, minReviewers: 0 } }).thenFails('bad-minReviewers');
    given(datasetDecider, []).when({ type: 'ConfigureDataset', config: { ...dataset, purpose: 'TREATMENT' as never } }).thenFails('bad-purpose');
  });
});
