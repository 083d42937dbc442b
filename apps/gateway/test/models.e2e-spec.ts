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

type Snapshot = { snapshotId: string; rootHash: string; treeSize: number };

describe('models tied to their data, judged per group (embedded)', () => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  let t: Record<'dev' | 'steward' | 'regulator' | 'security' | 'researcher' | 'annotator' | 'reviewer' | 'clinician' | 'patient' | 'admin', string>;
  let train: Snapshot;
  let val: Snapshot;
  let test: Snapshot;
  const ref = (s: Snapshot, withRoot = true) => ({ datasetId: 'ds-m1', snapshotId: s.snapshotId, ...(withRoot ? { rootHash: s.rootHash } : {}) });
  const body = (version: string) => ({ name: 'chest-nodules', version, description: 'nodule detector', trainedOn: [ref(train)], validatedOn: [ref(val, false)] });

  beforeAll(async () => {
    app = await bootEmbedded();
    t = {
      dev: await tokenFor(app, principals.modelDeveloper()),
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
    // A dataset with three consenting patients, their annotations approved, frozen three times.
    await http().put('/v1/datasets/ds-m1').set(bearer(t.steward)).send(DATASET).expect(200);
    let last = 0;
    for (const p of ['pm1', 'pm2', 'pm3']) {
      await http().post('/v1/images').set(bearer(t.steward)).send({ ...IMAGE(`img-${p}`, p), datasetId: 'ds-m1' }).expect(201);
      const patient = await devToken(app, { sub: `pat-${p}`, roles: ['patient'], patient_id: p });
      await http().put(`/v1/patients/${p}/consents/AI_TRAINING`).set(bearer(patient)).send({ status: 'granted', categories: ['ANNOTATIONS'] }).expect(200);
      const created = await http().post(`/v1/images/img-${p}/annotations`).set(bearer(t.annotator)).send({ label: 'nodule', geometry: box(1), confidence: 0.9 }).expect(201);
      await http().post(`/v1/annotations/${created.body.annotationId}/reviews`).set(bearer(t.reviewer)).send({ verdict: 'approved' }).expect(200);
      const listed = await http().get(`/v1/images/img-${p}/annotations`).set(bearer(t.reviewer)).expect(200);
      last = listed.body.access.sequence as number;
    }
    await waitForProjection(app, t.security, 'pm3', last);
    const snap = async (): Promise<Snapshot> => (await http().post('/v1/datasets/ds-m1/snapshots').set(bearer(t.steward)).expect(201)).body as Snapshot;
    train = await snap();
    val = await snap();
    test = await snap();
    expect(train.treeSize).toBe(3);
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
      validatedOn: [{ datasetId: 'ds-m1', snapshotId: val.snapshotId, rootHash: val.rootHash, treeSize: 3, purpose: 'AI_TRAINING' }],
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
    const testRef = { datasetId: 'ds-m1', snapshotId: test.snapshotId };
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
    const missing = await http().post(`/v1/models/${modelId}/evaluations`).set(bearer(t.dev)).send({ testSnapshot: { datasetId: 'ds-m1', snapshotId: '00000000-0000-4000-8000-000000000000' }, groups: RESULTS }).expect(404);
    expect(missing.body.code).toBe('unknown-snapshot');
    await http().post('/v1/models/00000000-0000-4000-8000-000000000000/evaluations').set(bearer(t.dev)).send({ testSnapshot: { datasetId: 'ds-m1', snapshotId: test.snapshotId }, groups: RESULTS }).expect(404);

    const res = await http().post(`/v1/models/${modelId}/evaluations`).set(bearer(t.dev)).send({ testSnapshot: { datasetId: 'ds-m1', snapshotId: test.snapshotId }, groups: RESULTS }).expect(201);
    evaluationId = res.body.evaluationId as string;
    expect(res.body.testSnapshot).toEqual({ datasetId: 'ds-m1', snapshotId: test.snapshotId, rootHash: test.rootHash, treeSize: 3, purpose: 'AI_TRAINING' });
    expect(res.body.thresholds).toEqual({ maxGap: 0.05, minGroupSize: 30 });
    expect(res.body.flagged).toEqual([{ dimension: 'sex', metric: 'sensitivity', gap: 0.13, groups: ['male', 'female'] }]);
    expect(res.body.tooSmall).toEqual([{ dimension: 'sex', group: 'other', n: 12 }]);
    const ageGap = (res.body.gaps as Array<{ dimension: string; metric: string; gap: number }>).find((g) => g.dimension === 'ageBand' && g.metric === 'sensitivity');
    expect(ageGap?.gap).toBe(0.02);
    // The small group (sensitivity 0.4) was not judged: the sex gap is male-female, not male-other.
    expect((res.body.gaps as Array<{ groups: string[] }>).some((g) => g.groups.includes('other'))).toBe(false);
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

    // pm2 withdraws AI_TRAINING: the card counts it for every snapshot (all three hold pm2's image).
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
    expect(forDeveloper.data.validatedOn[0].consentSinceTaken).toEqual({ patients: 3, withdrawn: 1, withdrawnShare: 0.333333 });
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
    expect(withdrawals.models.find((m) => m.modelId === modelId)).toEqual({ modelId, name: 'chest-nodules', version: '1.0.0', trainedOn: [train.snapshotId], validatedOn: [val.snapshotId] });
    expect(withdrawals.models.map((m) => m.version).sort()).toEqual(['1.0.0', '2.0.0', '2.1.0']);
  });

  it('authorization: who may register, evaluate, list and read cards', async () => {
    const readers = ['dev', 'steward', 'regulator'];
    const testRef = { datasetId: 'ds-m1', snapshotId: test.snapshotId };
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
      Object.keys(t).map((who) => ({ who, register: may(who, ['dev'], 201), evaluate: may(who, ['dev'], 201), list: may(who, readers, 200), read: may(who, readers, 200), card: may(who, readers, 200) })),
    );
    await http().get(`/v1/models/${modelId}/card`).expect(401);
  });
});
