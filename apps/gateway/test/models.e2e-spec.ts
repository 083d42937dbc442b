import type { INestApplication } from '@nestjs/common';
import { EventStore } from '@custos/event-store';
import { privacyStreamId } from '@custos/fairness';
import { principals } from '@custos/testing';
import request from 'supertest';
import { bootEmbedded, devToken, IMAGE, tokenFor, waitForProjection } from './helpers.js';

const DATASET = { purpose: 'AI_TRAINING', labels: ['nodule', 'mass'], credentials: ['certified-radiologist'], minReviewers: 1 };
const box = (x: number) => ({ type: 'bbox', x, y: 10, width: 20, height: 20 });
const metric = (value: number) => ({ value, ci: [Math.max(0, value - 0.03), Math.min(1, value + 0.03)] });
const group = (dimension: string, g: string, n: number, sensitivity: number) => ({ dimension, group: g, n, sensitivity: metric(sensitivity), specificity: metric(0.9), auc: metric(0.88) });
/** A planted gap in sensitivity between the sexes (0.13 > BIAS_MAX_GAP 0.05), a group too small (n < 30), and age bands within the gap. */
const RESULTS = [group('sex', 'female', 400, 0.78), group('sex', 'male', 420, 0.91), group('sex', 'other', 12, 0.4), group('ageBand', '18-39', 300, 0.86), group('ageBand', '65+', 250, 0.84)];

type Snapshot = { datasetId: string; snapshotId: string; rootHash: string; treeSize: number };

describe('models tied to their data, judged per group (embedded)', () => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  let t: Record<'dev' | 'dev2' | 'steward' | 'regulator' | 'security' | 'researcher' | 'annotator' | 'reviewer' | 'clinician' | 'patient' | 'admin', string>;
  let train: Snapshot;
  let val: Snapshot;
  let test: Snapshot;
  /** The same images as `train`, frozen again; and a snapshot of a RESEARCH dataset. */
  let train2: Snapshot;
  let research: Snapshot;
  const ref = (s: Snapshot, withRoot = true) => ({ datasetId: s.datasetId, snapshotId: s.snapshotId, ...(withRoot ? { rootHash: s.rootHash } : {}) });
  const body = (version: string) => ({ name: 'chest-nodules', version, description: 'nodule detector', trainedOn: [ref(train)], validatedOn: [ref(val, false)] });

  beforeAll(async () => {
    app = await bootEmbedded();
    t = {
      dev: await tokenFor(app, principals.modelDeveloper()),
      dev2: await tokenFor(app, principals.modelDeveloper({ sub: 'mdev-2' })),
      steward: await tokenFor(app, principals.steward()),
      regulator: await tokenFor(app, principals.regulator()),
      security: await tokenFor(app, principals.securityOfficer()),
      researcher: await tokenFor(app, principals.researcher()),
      annotator: await tokenFor(app, principals.annotator()),
      reviewer: await tokenFor(app, principals.reviewer()),
      clinician: await tokenFor(app, principals.clinician()),
      patient: await tokenFor(app, principals.patient({ patientId: 'pm1', sub: 'pat-pm1' })),
      admin: await tokenFor(app, principals.admin()),
    };
    // Training data: three consenting patients in ds-m1, their annotations approved, frozen twice;
    // validation (ds-m2) and test (ds-m3) data: one other patient each; ds-mr is for RESEARCH.
    for (const ds of ['ds-m1', 'ds-m2', 'ds-m3']) await http().put(`/v1/datasets/${ds}`).set(bearer(t.steward)).send(DATASET).expect(200);
    await http().put('/v1/datasets/ds-mr').set(bearer(t.steward)).send({ ...DATASET, purpose: 'RESEARCH' }).expect(200);
    let last = 0;
    for (const [p, ds] of [['pm1', 'ds-m1'], ['pm2', 'ds-m1'], ['pm3', 'ds-m1'], ['pm4', 'ds-m2'], ['pm5', 'ds-m3']] as const) {
      await http().post('/v1/images').set(bearer(t.steward)).send({ ...IMAGE(`img-${p}`, p), datasetId: ds }).expect(201);
      const patient = await devToken(app, { sub: `pat-${p}`, roles: ['patient'], patient_id: p });
      await http().put(`/v1/patients/${p}/consents/AI_TRAINING`).set(bearer(patient)).send({ status: 'granted', categories: ['ANNOTATIONS'] }).expect(200);
      const created = await http().post(`/v1/images/img-${p}/annotations`).set(bearer(t.annotator)).send({ label: 'nodule', geometry: box(1), confidence: 0.9 }).expect(201);
      await http().post(`/v1/annotations/${created.body.annotationId}/reviews`).set(bearer(t.reviewer)).send({ verdict: 'approved' }).expect(200);
      const listed = await http().get(`/v1/images/img-${p}/annotations`).set(bearer(t.reviewer)).expect(200);
      last = listed.body.access.sequence as number;
    }
    await waitForProjection(app, t.security, 'pm5', last);
    const snap = async (datasetId: string): Promise<Snapshot> => ({ ...((await http().post(`/v1/datasets/${datasetId}/snapshots`).set(bearer(t.steward)).expect(201)).body as Snapshot), datasetId });
    train = await snap('ds-m1');
    train2 = await snap('ds-m1');
    val = await snap('ds-m2');
    test = await snap('ds-m3');
    research = await snap('ds-mr');
    expect([train.treeSize, train2.treeSize, val.treeSize, test.treeSize]).toEqual([3, 3, 1, 1]);
  });
  afterAll(async () => {
    await app.close();
  });

  let modelId: string;

  it('registers a model with real snapshots: roots, sizes and purposes copied from the log; once per name and version', async () => {
    const res = await http().post('/v1/models').set(bearer(t.dev)).send(body('1.0.0')).expect(201);
    modelId = res.body.modelId as string;
    expect(modelId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(res.body).toMatchObject({
      name: 'chest-nodules',
      version: '1.0.0',
      developer: 'mdev-1',
      trainedOn: [{ datasetId: 'ds-m1', snapshotId: train.snapshotId, rootHash: train.rootHash, treeSize: 3, purpose: 'AI_TRAINING' }],
      validatedOn: [{ datasetId: 'ds-m2', snapshotId: val.snapshotId, rootHash: val.rootHash, treeSize: 1, purpose: 'AI_TRAINING' }],
    });
    const again = await http().post('/v1/models').set(bearer(t.dev)).send({ ...body('1.0.0'), description: 'another' }).expect(409);
    expect(again.body.code).toBe('model-exists');
    expect(again.headers['content-type']).toMatch(/application\/problem\+json/);
    const read = await http().get(`/v1/models/${modelId}`).set(bearer(t.regulator)).expect(200);
    expect(read.body).toMatchObject({ modelId, name: 'chest-nodules', version: '1.0.0', evaluations: [] });
    await http().get('/v1/models/00000000-0000-4000-8000-000000000000').set(bearer(t.dev)).expect(404);
    await http().get('/v1/models/not-a-uuid').set(bearer(t.dev)).expect(400);
  });

  it('refuses a root that is not the recorded one (409), a snapshot that does not exist or is another dataset’s (404), training data reused to validate (409)', async () => {
    const mismatch = await http().post('/v1/models').set(bearer(t.dev)).send({ ...body('2.0.0'), trainedOn: [{ ...ref(train), rootHash: 'ab'.repeat(32) }] }).expect(409);
    expect(mismatch.body).toMatchObject({ code: 'snapshot-root-mismatch' });
    expect(mismatch.body).toMatchObject({ field: 'trainedOn[0]', recorded: train.rootHash });
    const unknown = await http().post('/v1/models').set(bearer(t.dev)).send({ ...body('2.0.0'), validatedOn: [{ datasetId: 'ds-m1', snapshotId: '00000000-0000-4000-8000-000000000000' }] }).expect(404);
    expect(unknown.body.code).toBe('unknown-snapshot');
    expect(unknown.body).toMatchObject({ field: 'validatedOn[0]' });
    const otherDataset = await http().post('/v1/models').set(bearer(t.dev)).send({ ...body('2.0.0'), trainedOn: [{ datasetId: 'ds-other', snapshotId: train.snapshotId }] }).expect(404);
    expect(otherDataset.body.code).toBe('unknown-snapshot');
    const reused = await http().post('/v1/models').set(bearer(t.dev)).send({ ...body('2.0.0'), validatedOn: [ref(train)] }).expect(409);
    expect(reused.body.code).toBe('validation-snapshot-in-training');
    // Nothing recorded for any of them: 2.0.0 registers cleanly afterwards.
    await http().post('/v1/models').set(bearer(t.dev)).send(body('2.0.0')).expect(201);
    // Two registrations of one name and version racing: one recorded, one 409.
    const raced = await Promise.all([1, 2, 3].map(() => http().post('/v1/models').set(bearer(t.dev)).send(body('2.1.0'))));
    expect(raced.map((r) => r.status).sort()).toEqual([201, 409, 409]);
    expect(raced.filter((r) => r.status === 409).every((r) => r.body.code === 'model-exists')).toBe(true);
  });

  it('answers hostile bodies with 400 problem+json, never 500', async () => {
    const good = body('9.9.9');
    const registrations: unknown[] = [
      null,
      [],
      'NaN',
      { ...good, name: null },
      { ...good, name: ['chest'] },
      { ...good, name: '' },
      { ...good, version: 1e308 },
      { ...good, version: 'NaN NaN' },
      { ...good, description: null },
      { ...good, description: { text: 'x' } },
      { ...good, trainedOn: null },
      { ...good, trainedOn: ref(train) },
      { ...good, trainedOn: [] },
      { ...good, trainedOn: [null] },
      { ...good, trainedOn: [[ref(train)]] },
      { ...good, trainedOn: [{ ...ref(train), snapshotId: 'NaN' }] },
      { ...good, trainedOn: [{ ...ref(train), rootHash: null }] },
      { ...good, trainedOn: [{ ...ref(train), rootHash: 12 }] },
      { ...good, trainedOn: [{ ...ref(train), datasetId: { $ne: 1 } }] },
      { ...good, trainedOn: [ref(train), ref(train)] },
      { ...good, trainedOn: Array.from({ length: 51 }, () => ref(train)) },
      { ...good, validatedOn: null },
      { ...good, validatedOn: { 0: ref(val) } },
      { ...good, extra: 'field' },
    ];
    for (const b of registrations) {
      const res = await http().post('/v1/models').set(bearer(t.dev)).set('content-type', 'application/json').send(JSON.stringify(b));
      expect([res.status, JSON.stringify(b).slice(0, 80)]).toEqual([400, JSON.stringify(b).slice(0, 80)]);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    const ok = RESULTS[0] as ReturnType<typeof group>;
    const testRef = { datasetId: 'ds-m3', snapshotId: test.snapshotId };
    const evaluations: Array<[unknown, string?, string?]> = [
      [null],
      [{ testSnapshot: null, groups: RESULTS }],
      [{ testSnapshot: [testRef], groups: RESULTS }],
      [{ testSnapshot: { ...testRef, snapshotId: 1e308 }, groups: RESULTS }],
      [{ testSnapshot: testRef, groups: null }, 'bad-groups'],
      [{ testSnapshot: testRef, groups: { 0: ok } }, 'bad-groups'],
      [{ testSnapshot: testRef, groups: [] }, 'bad-groups'],
      [{ testSnapshot: testRef, groups: Array.from({ length: 10_000 }, () => ({})) }, 'bad-groups'],
      [{ testSnapshot: testRef, groups: [null] }, 'bad-groups', 'groups[0]'],
      [{ testSnapshot: testRef, groups: [{ ...ok, dimension: 'religion' }] }, 'unknown-dimension', 'groups[0].dimension'],
      [{ testSnapshot: testRef, groups: [{ ...ok, group: 'martian' }] }, 'unknown-group', 'groups[0].group'],
      [{ testSnapshot: testRef, groups: [ok, ok] }, 'duplicate-group', 'groups[1].group'],
      [{ testSnapshot: testRef, groups: [{ ...ok, n: -1 }] }, 'bad-n', 'groups[0].n'],
      [{ testSnapshot: testRef, groups: [{ ...ok, n: 1e308 }] }, 'bad-n', 'groups[0].n'],
      [{ testSnapshot: testRef, groups: [{ ...ok, n: 'NaN' }] }, 'bad-n', 'groups[0].n'],
      [{ testSnapshot: testRef, groups: [{ ...ok, sensitivity: { value: 'NaN', ci: [0, 1] } }] }, 'bad-metric', 'groups[0].sensitivity.value'],
      [{ testSnapshot: testRef, groups: [{ ...ok, sensitivity: { value: 1e308, ci: [0, 1] } }] }, 'bad-metric', 'groups[0].sensitivity.value'],
      [{ testSnapshot: testRef, groups: [{ ...ok, auc: { value: 0.5, ci: [0.7, 0.3] } }] }, 'bad-metric', 'groups[0].auc.ci'],
      [{ testSnapshot: testRef, groups: [{ ...ok, specificity: [0.9, [0.8, 1]] }] }, 'bad-metric', 'groups[0].specificity'],
      [{ testSnapshot: testRef, groups: [{ ...ok, specificity: null }] }, 'bad-metric', 'groups[0].specificity'],
      // Unknown keys are refused, not dropped.
      [{ testSnapshot: testRef, groups: [{ ...ok, extra: 1 }] }, 'bad-groups', 'groups[0].extra'],
      [{ testSnapshot: testRef, groups: [{ ...ok, auc: { ...ok.auc, note: 'Jane Doe' } }] }, 'bad-metric', 'groups[0].auc.note'],
    ];
    for (const [b, code, field] of evaluations) {
      const res = await http().post(`/v1/models/${modelId}/evaluations`).set(bearer(t.dev)).set('content-type', 'application/json').send(JSON.stringify(b));
      expect([res.status, JSON.stringify(b).slice(0, 80)]).toEqual([400, JSON.stringify(b).slice(0, 80)]);
      if (code) expect(res.body.code).toBe(code);
      if (field) expect(JSON.stringify(res.body)).toContain(`"field":"${field}"`);
    }
    // 10,000 full results: too large or too many, never a 500.
    const huge = await http().post(`/v1/models/${modelId}/evaluations`).set(bearer(t.dev)).send({ testSnapshot: testRef, groups: Array.from({ length: 10_000 }, () => ok) });
    expect([400, 413]).toContain(huge.status);
    const read = await http().get(`/v1/models/${modelId}`).set(bearer(t.dev)).expect(200);
    expect(read.body.evaluations).toEqual([]); // nothing recorded
  });

  let evaluationId: string;

  it('judges an evaluation: the planted sensitivity gap flagged, the small group listed not judged; a training snapshot cannot test it', async () => {
    const inTraining = await http().post(`/v1/models/${modelId}/evaluations`).set(bearer(t.dev)).send({ testSnapshot: { datasetId: 'ds-m1', snapshotId: train.snapshotId }, groups: RESULTS }).expect(409);
    expect(inTraining.body.code).toBe('test-snapshot-in-training');
    const missing = await http().post(`/v1/models/${modelId}/evaluations`).set(bearer(t.dev)).send({ testSnapshot: { datasetId: 'ds-m3', snapshotId: '00000000-0000-4000-8000-000000000000' }, groups: RESULTS }).expect(404);
    expect(missing.body.code).toBe('unknown-snapshot');
    await http().post('/v1/models/00000000-0000-4000-8000-000000000000/evaluations').set(bearer(t.dev)).send({ testSnapshot: ref(test, false), groups: RESULTS }).expect(404);

    const res = await http().post(`/v1/models/${modelId}/evaluations`).set(bearer(t.dev)).send({ testSnapshot: ref(test, false), groups: RESULTS }).expect(201);
    evaluationId = res.body.evaluationId as string;
    expect(res.body.testSnapshot).toEqual({ datasetId: 'ds-m3', snapshotId: test.snapshotId, rootHash: test.rootHash, treeSize: 1, purpose: 'AI_TRAINING' });
    expect(res.body.thresholds).toEqual({ maxGap: 0.05, minGroupSize: 30 });
    expect(res.body.flagged).toEqual([{ dimension: 'sex', metric: 'sensitivity', gap: 0.13, groups: ['male', 'female'] }]);
    expect(res.body.tooSmall).toEqual([{ dimension: 'sex', group: 'other', n: 12 }]);
    const ageGap = (res.body.gaps as Array<{ dimension: string; metric: string; gap: number }>).find((g) => g.dimension === 'ageBand' && g.metric === 'sensitivity');
    expect(ageGap?.gap).toBe(0.02);
    // The small group (sensitivity 0.4) was not judged: the sex gap is male-female, not male-other.
    expect((res.body.gaps as Array<{ groups: string[] }>).some((g) => g.groups.includes('other'))).toBe(false);
  });

  it('another developer: cannot evaluate the model (403), does not see it (404, as a missing one), lists only their own', async () => {
    const testRef = ref(test, false);
    const evaluated = await http().post(`/v1/models/${modelId}/evaluations`).set(bearer(t.dev2)).send({ testSnapshot: testRef, groups: RESULTS }).expect(403);
    expect(evaluated.body.code).toBe('not-model-developer');
    expect(evaluated.headers['content-type']).toMatch(/application\/problem\+json/);
    const missing = '00000000-0000-4000-8000-000000000000';
    for (const path of ['', '/card']) {
      const other = await http().get(`/v1/models/${modelId}${path}`).set(bearer(t.dev2)).expect(404);
      const none = await http().get(`/v1/models/${missing}${path}`).set(bearer(t.dev2)).expect(404);
      expect(other.body.code).toBe('not-found');
      // The same answer but for the id asked about (and the correlation id).
      const same = (b: Record<string, unknown>, id: string) => JSON.stringify({ ...b, correlationId: undefined }).replaceAll(id, '<id>');
      expect(same(other.body, modelId)).toBe(same(none.body, missing));
      expect(JSON.stringify(other.body)).not.toContain('chest-nodules');
    }
    // Names are one namespace (a known limit, docs/bias.md): another's name and version is 409.
    expect((await http().post('/v1/models').set(bearer(t.dev2)).send(body('1.0.0')).expect(409)).body.code).toBe('model-exists');
    const own = (await http().post('/v1/models').set(bearer(t.dev2)).send({ name: 'other-model', version: '1', trainedOn: [ref(test)], validatedOn: [] }).expect(201)).body.modelId as string;
    await http().get(`/v1/models/${own}`).set(bearer(t.dev2)).expect(200);
    await http().get(`/v1/models/${own}`).set(bearer(t.dev)).expect(404);
    const listed = async (token: string, want: string) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const ids = ((await http().get('/v1/models?limit=200').set(bearer(token)).expect(200)).body.items as Array<{ modelId: string }>).map((m) => m.modelId);
        if (ids.includes(want) || Date.now() > deadline) return ids;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    expect(await listed(t.dev2, own)).toEqual([own]);
    expect(await listed(t.regulator, own)).toEqual(expect.arrayContaining([own, modelId]));
    const mine = await listed(t.dev, modelId);
    expect(mine).toContain(modelId);
    expect(mine).not.toContain(own);
  });

  it('AI_TRAINING snapshots only (409 snapshot-purpose); validation and test share no image with training (409, a count, no ids)', async () => {
    const research1 = await http().post('/v1/models').set(bearer(t.dev)).send({ ...body('4.0.0'), trainedOn: [ref(train), ref(research)] }).expect(409);
    expect(research1.body).toMatchObject({ code: 'snapshot-purpose', field: 'trainedOn[1]', purpose: 'RESEARCH' });
    const research2 = await http().post('/v1/models').set(bearer(t.dev)).send({ ...body('4.0.0'), validatedOn: [ref(research)] }).expect(409);
    expect(research2.body).toMatchObject({ code: 'snapshot-purpose', field: 'validatedOn[0]' });
    const research3 = await http().post(`/v1/models/${modelId}/evaluations`).set(bearer(t.dev)).send({ testSnapshot: ref(research, false), groups: RESULTS }).expect(409);
    expect(research3.body).toMatchObject({ code: 'snapshot-purpose', field: 'testSnapshot' });
    const validation = await http().post('/v1/models').set(bearer(t.dev)).send({ ...body('4.0.0'), validatedOn: [ref(val), ref(train2)] }).expect(409);
    expect(validation.body).toMatchObject({ code: 'validation-overlaps-training', field: 'validatedOn', sharedImages: 3 });
    const testing = await http().post(`/v1/models/${modelId}/evaluations`).set(bearer(t.dev)).send({ testSnapshot: ref(train2, false), groups: RESULTS }).expect(409);
    expect(testing.body).toMatchObject({ code: 'test-snapshot-overlaps-training', field: 'testSnapshot', sharedImages: 3 });
    expect(JSON.stringify([validation.body, testing.body])).not.toMatch(/img-pm/);
    // Nothing recorded by any refusal: one evaluation still, and 4.0.0 registers cleanly.
    expect((await http().get(`/v1/models/${modelId}`).set(bearer(t.dev)).expect(200)).body.evaluations).toHaveLength(1);
    await http().post('/v1/models').set(bearer(t.dev)).send({ ...body('4.0.0'), trainedOn: [ref(train2)] }).expect(201);
  });

  it('lists models (paged) once the read model has them', async () => {
    let items: Array<{ modelId: string; version: string; evaluations: number; flaggedEvaluations: number }> = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      items = (await http().get('/v1/models').set(bearer(t.steward)).expect(200)).body.items;
      if (items.find((m) => m.modelId === modelId)?.evaluations === 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(items.find((m) => m.modelId === modelId)).toMatchObject({ version: '1.0.0', evaluations: 1, flaggedEvaluations: 1 });
    const first = await http().get('/v1/models?limit=1').set(bearer(t.dev)).expect(200);
    expect(first.body.items).toHaveLength(1);
    const second = await http().get(`/v1/models?limit=1&after=${first.body.next as number}`).set(bearer(t.dev)).expect(200);
    expect(second.body.items[0].modelId).not.toBe(first.body.items[0].modelId);
    for (const q of ['limit=0', 'limit=1e308', 'limit=NaN', 'after=-5', 'limit=1&limit=2']) await http().get(`/v1/models?${q}`).set(bearer(t.dev)).expect(400);
  });

  it('the card: snapshots with roots and balance releases, evaluations and flags; consent lost since training (ids for stewards only); consent-withdrawals names the model', async () => {
    // A balance release as the privacy routes record it (another slice writes them).
    await app.get(EventStore).append(
      privacyStreamId('ds-m1'),
      [{ type: 'BalanceReleased', schemaVersion: 1, occurredAt: new Date(), metadata: { actor: { id: 'stew-1', roles: ['data-steward'] }, correlationId: 'corr-models' }, data: { releaseId: 'rel-1', datasetId: 'ds-m1', requester: 'stew-1', epsilonMicros: 500_000, flagged: [{ kind: 'representation', dimension: 'sex', group: 'female', interval: [0.4, 0.7] }] } }],
      { expectedVersion: 'any' },
    );
    const before = await http().get(`/v1/models/${modelId}/card`).set(bearer(t.regulator)).expect(200);
    expect(before.body.model).toMatchObject({ modelId, name: 'chest-nodules', version: '1.0.0' });
    expect(before.body.data.trainedOn).toEqual([
      expect.objectContaining({ snapshotId: train.snapshotId, rootHash: train.rootHash, treeSize: 3, purpose: 'AI_TRAINING', consentSinceTaken: { patients: 3, withdrawn: 0, withdrawnShare: 0 } }),
    ]);
    expect(before.body.data.trainedOn[0].balanceReleases).toEqual([expect.objectContaining({ releaseId: 'rel-1', epsilon: '0.5', flagged: [expect.objectContaining({ group: 'female' })] })]);
    expect(before.body.data.validatedOn[0].snapshotId).toBe(val.snapshotId);
    expect(before.body.evaluations.map((e: { evaluationId: string }) => e.evaluationId)).toEqual([evaluationId]);
    expect(before.body.flags).toEqual([{ dimension: 'sex', metric: 'sensitivity', gap: 0.13, groups: ['male', 'female'], evaluationId }]);

    // pm2 withdraws AI_TRAINING: the card counts it for the training snapshot (it holds pm2's image), not the validation one.
    const pm2 = await devToken(app, { sub: 'pat-pm2', roles: ['patient'], patient_id: 'pm2' });
    const withdrawn = await http().delete('/v1/patients/pm2/consents/AI_TRAINING').set(bearer(pm2)).send({}).expect(200);
    await waitForProjection(app, t.security, 'pm2', withdrawn.body.sequence as number);
    const cardFor = async (token: string) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const res = await http().get(`/v1/models/${modelId}/card`).set(bearer(token)).expect(200);
        if (res.body.data.trainedOn[0].consentSinceTaken.withdrawn === 1 || Date.now() > deadline) return res.body;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const forRegulator = await cardFor(t.regulator);
    expect(forRegulator.data.trainedOn[0].consentSinceTaken).toEqual({ patients: 3, withdrawn: 1, withdrawnShare: 0.333333 });
    expect(JSON.stringify(forRegulator)).not.toContain('pm2');
    const forDeveloper = await cardFor(t.dev);
    expect(forDeveloper.data.trainedOn[0].consentSinceTaken).toEqual({ patients: 3, withdrawn: 1, withdrawnShare: 0.333333 });
    expect(forDeveloper.data.validatedOn[0].consentSinceTaken).toEqual({ patients: 1, withdrawn: 0, withdrawnShare: 0 });
    expect(JSON.stringify(forDeveloper)).not.toContain('pm2');
    const forSteward = await cardFor(t.steward);
    expect(forSteward.data.trainedOn[0].consentSinceTaken).toEqual({ patients: 3, withdrawn: 1, withdrawnShare: 0.333333, patientIds: ['pm2'] });

    // The dataset's withdrawals name the models trained or validated on the snapshots holding pm2's image.
    const deadline = Date.now() + 10_000;
    let withdrawals: { items: Array<{ patientId: string }>; models: Array<{ modelId: string; version: string; trainedOn: string[]; validatedOn: string[] }> } = { items: [], models: [] };
    while (Date.now() < deadline) {
      withdrawals = (await http().get('/v1/datasets/ds-m1/consent-withdrawals').set(bearer(t.steward)).expect(200)).body;
      if (withdrawals.models.length >= 3) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(withdrawals.items.map((i) => i.patientId)).toEqual(['pm2']);
    expect(withdrawals.models.find((m) => m.modelId === modelId)).toEqual({ modelId, name: 'chest-nodules', version: '1.0.0', trainedOn: [train.snapshotId], validatedOn: [] });
    expect(withdrawals.models.map((m) => m.version).sort()).toEqual(['1.0.0', '2.0.0', '2.1.0', '4.0.0']);
  });

  it('authorization: who may register, evaluate, list and read cards', async () => {
    const readers = ['dev', 'steward', 'regulator'];
    const testRef = { datasetId: 'ds-m3', snapshotId: test.snapshotId };
    const seen = await Promise.all(
      Object.entries(t).map(async ([who, token]) => {
        const [register, evaluate, list, read, card] = await Promise.all([
          http().post('/v1/models').set(bearer(token)).send(body(`3.0.${who}`)),
          http().post(`/v1/models/${modelId}/evaluations`).set(bearer(token)).send({ testSnapshot: testRef, groups: RESULTS }),
          http().get('/v1/models').set(bearer(token)),
          http().get(`/v1/models/${modelId}`).set(bearer(token)),
          http().get(`/v1/models/${modelId}/card`).set(bearer(token)),
        ]);
        return { who, register: register.status, evaluate: evaluate.status, list: list.status, read: read.status, card: card.status };
      }),
    );
    const may = (who: string, roles: string[], ok: number) => (roles.includes(who) ? ok : 403);
    expect(seen).toEqual(
      Object.keys(t).map((who) =>
        // Another developer registers and lists (their own), is refused the model's evaluations and does not see it.
        who === 'dev2'
          ? { who, register: 201, evaluate: 403, list: 200, read: 404, card: 404 }
          : { who, register: may(who, ['dev'], 201), evaluate: may(who, ['dev'], 201), list: may(who, readers, 200), read: may(who, readers, 200), card: may(who, readers, 200) },
      ),
    );
    await http().get(`/v1/models/${modelId}/card`).expect(401);
  });
});
