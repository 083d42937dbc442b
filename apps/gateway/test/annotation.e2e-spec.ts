import type { INestApplication } from '@nestjs/common';
import { allProjections, verifyDecisions } from '@custos/contexts';
import { createProjectionRunner } from '@custos/runtime';
import { Database, EventStore, verifyChain } from '@custos/event-store';
import { createHash } from 'node:crypto';
import request from 'supertest';
import { bootEmbedded, devToken, IMAGE, waitForProjection } from './helpers.js';

const MARKER = 'IBEX5note';
const DATASET = { purpose: 'AI_TRAINING', labels: ['nodule', 'mass'], credentials: ['certified-radiologist'], minReviewers: 1 };
const box = (x: number) => ({ type: 'bbox', x, y: 10, width: 20, height: 20 });

describe('annotation governance (embedded)', () => {
  let app: INestApplication;
  let t: Record<'steward' | 'ann' | 'ann2' | 'student' | 'rev' | 'patient' | 'security' | 'clinician', string>;
  const http = () => request(app.getHttpServer());
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    app = await bootEmbedded();
    t = {
      steward: await devToken(app, { sub: 'stew-1', roles: ['data-steward'] }),
      ann: await devToken(app, { sub: 'ann-1', roles: ['annotator'], credentials: ['certified-radiologist'] }),
      ann2: await devToken(app, { sub: 'ann-2', roles: ['annotator'], credentials: ['certified-radiologist'] }),
      student: await devToken(app, { sub: 'stu-1', roles: ['annotator'], credentials: ['medical-student'] }),
      rev: await devToken(app, { sub: 'rev-1', roles: ['reviewer'], credentials: ['certified-radiologist'] }),
      patient: await devToken(app, { sub: 'pat-a1', roles: ['patient'], patient_id: 'pa1' }),
      security: await devToken(app, { sub: 'so-1', roles: ['security-officer'] }),
      clinician: await devToken(app, { sub: 'dr-1', roles: ['clinician'] }),
    };
    await http().post('/v1/images').set(bearer(t.steward)).send(IMAGE('img-a1', 'pa1')).expect(201);
  });
  afterAll(async () => {
    await app.close();
  });

  it('configures a dataset (steward only, versioned, If-Match) and reads it back', async () => {
    await http().put('/v1/datasets/ds-1').set(bearer(t.ann)).send(DATASET).expect(403);
    const first = await http().put('/v1/datasets/ds-1').set(bearer(t.steward)).send({ ...DATASET, labels: ['nodule'] }).expect(200);
    expect(first.body.version).toBe(1);
    await http().put('/v1/datasets/ds-1').set(bearer(t.steward)).set('if-match', '"7"').send(DATASET).expect(412);
    const second = await http().put('/v1/datasets/ds-1').set(bearer(t.steward)).set('if-match', '"1"').send(DATASET).expect(200);
    expect(second.body.version).toBe(2);
    for (const bad of [{ ...DATASET, purpose: 'TREATMENT' }, { ...DATASET, labels: ['Bad Label'] }, { ...DATASET, minReviewers: 0 }, { ...DATASET, labels: 'nodule' }, { ...DATASET, credentials: [] }]) {
      const res = await http().put('/v1/datasets/ds-1').set(bearer(t.steward)).send(bad);
      expect(res.status).toBe(400);
    }
    const read = await http().get('/v1/datasets/ds-1').set(bearer(t.ann)).expect(200);
    expect(read.body).toMatchObject({ ...DATASET, datasetId: 'ds-1', version: 2 });
    await http().get('/v1/datasets/ds-1').set(bearer(t.clinician)).expect(403);
    await http().get('/v1/datasets/nope').set(bearer(t.steward)).expect(404);
  });

  let annotationId: string;

  it("refuses to annotate without the patient's consent for the dataset's purpose (403, recorded), and without an accepted credential", async () => {
    const body = { label: 'nodule', geometry: box(1), confidence: 0.8, note: `first look ${MARKER}` };
    const refused = await http().post('/v1/images/img-a1/annotations').set(bearer(t.ann)).send(body).expect(403);
    expect(refused.body.code).toBe('consent-not-granted');
    await http().put('/v1/patients/pa1/consents/AI_TRAINING').set(bearer(t.patient)).send({ status: 'granted', categories: ['ANNOTATIONS'] }).expect(200);
    const student = await http().post('/v1/images/img-a1/annotations').set(bearer(t.student)).send(body).expect(403);
    expect(student.body.code).toBe('credential-not-accepted');
    await http().post('/v1/images/img-a1/annotations').set(bearer(t.clinician)).send(body).expect(403);
    await http().post('/v1/images/img-unknown/annotations').set(bearer(t.ann)).send(body).expect(404);
    for (const bad of [{ ...body, label: 'tumour' }, { ...body, confidence: 2 }, { ...body, geometry: { type: 'bbox', x: -5, y: 0, width: 1, height: 1 } }, { ...body, geometry: { type: 'circle' } }, { ...body, geometry: { type: 'polygon', points: [[1, 1]] } }]) {
      expect((await http().post('/v1/images/img-a1/annotations').set(bearer(t.ann)).send(bad)).status).toBe(400);
    }
    const created = await http().post('/v1/images/img-a1/annotations').set(bearer(t.ann)).send(body).expect(201);
    expect(created.body).toMatchObject({ version: 1, status: 'unreviewed' });
    annotationId = created.body.annotationId as string;
    // The refusal is in the patient's trail, with its rule.
    await waitForProjection(app, t.security, 'pa1', created.body.version as number); // a position at least as far as the refusal
    const db = app.get(Database) as Database;
    const [refusal] = await db.query<{ global_seq: string | number }>("SELECT global_seq FROM custos_events WHERE type = 'RouteAccessDenied' AND data->>'rule' = 'consent-not-granted' AND data->>'patientId' = 'pa1'");
    expect(refusal).toBeDefined();
    await waitForProjection(app, t.security, 'pa1', Number(refusal?.global_seq));
    const trail = await http().get('/v1/patients/pa1/access-trail?limit=100').set(bearer(t.security)).expect(200);
    expect((trail.body.items as Array<{ decision: string; rule: string; resourceType: string }>).some((i) => i.decision === 'DENY' && i.rule === 'consent-not-granted' && i.resourceType === 'Annotation')).toBe(true);
  });

  it('edits only with If-Match (428 without, 412 when stale, one of two concurrent editors wins)', async () => {
    await http().put(`/v1/annotations/${annotationId}`).set(bearer(t.ann)).send({ label: 'mass' }).expect(428);
    const stale = await http().put(`/v1/annotations/${annotationId}`).set(bearer(t.ann)).set('if-match', '"9"').send({ label: 'mass' }).expect(412);
    expect(stale.body.currentVersion).toBe(1);
    const [a, b] = await Promise.all([
      http().put(`/v1/annotations/${annotationId}`).set(bearer(t.ann)).set('if-match', '"1"').send({ label: 'mass' }),
      http().put(`/v1/annotations/${annotationId}`).set(bearer(t.ann2)).set('if-match', '"1"').send({ geometry: box(2) }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 412]);
  });

  it('keeps the whole history in order: create, three edits, a rejection, an edit, an approval', async () => {
    // Continue from version 2: two more edits make three.
    await http().put(`/v1/annotations/${annotationId}`).set(bearer(t.ann)).set('if-match', '"2"').send({ confidence: 0.6 }).expect(200);
    await http().put(`/v1/annotations/${annotationId}`).set(bearer(t.ann2)).set('if-match', '"3"').send({ note: `second look ${MARKER}` }).expect(200);
    await http().post(`/v1/annotations/${annotationId}/reviews`).set(bearer(t.rev)).send({ verdict: 'rejected' }).expect(400);
    const rejected = await http().post(`/v1/annotations/${annotationId}/reviews`).set(bearer(t.rev)).send({ verdict: 'rejected', reason: 'box misses the lesion' }).expect(200);
    expect(rejected.body.status).toBe('rejected');
    await http().put(`/v1/annotations/${annotationId}`).set(bearer(t.ann)).set('if-match', '"5"').send({ geometry: box(3) }).expect(200);
    await http().post(`/v1/annotations/${annotationId}/reviews`).set(bearer(t.ann)).send({ verdict: 'approved' }).expect(403); // not a reviewer
    const approved = await http().post(`/v1/annotations/${annotationId}/reviews`).set(bearer(t.rev)).send({ verdict: 'approved' }).expect(200);
    expect(approved.body).toMatchObject({ status: 'approved', version: 7 });

    const history = await http().get(`/v1/annotations/${annotationId}/history`).set(bearer(t.rev)).expect(200);
    const items = history.body.items as Array<{ version: number; type: string; by: { id: string }; credential: string; changes: Array<{ field: string; from: unknown; to: unknown }>; verdict?: string; reason?: unknown; status?: string }>;
    expect(items.map((i) => [i.version, i.type, i.by.id])).toEqual([
      [1, 'AnnotationCreated', 'ann-1'],
      [2, 'AnnotationEdited', expect.stringMatching(/ann-[12]/)],
      [3, 'AnnotationEdited', 'ann-1'],
      [4, 'AnnotationEdited', 'ann-2'],
      [5, 'AnnotationReviewed', 'rev-1'],
      [6, 'AnnotationEdited', 'ann-1'],
      [7, 'AnnotationReviewed', 'rev-1'],
    ]);
    expect(items.every((i) => i.credential === 'certified-radiologist')).toBe(true);
    expect(items[2]?.changes).toEqual([{ field: 'confidence', from: 0.8, to: 0.6 }]);
    expect(items[3]?.changes).toEqual([{ field: 'note', from: `first look ${MARKER}`, to: `second look ${MARKER}` }]);
    expect(items[4]).toMatchObject({ verdict: 'rejected', reason: 'box misses the lesion', status: 'rejected' });
    expect(items[5]?.status).toBe('unreviewed');
    expect(items[6]).toMatchObject({ verdict: 'approved', status: 'approved' });
  });

  it('never lets an author review their own annotation; an edit after approval sends it back to review', async () => {
    const rev2 = await devToken(app, { sub: 'ann-1', roles: ['annotator', 'reviewer'], credentials: ['certified-radiologist'] });
    const own = await http().post(`/v1/annotations/${annotationId}/reviews`).set(bearer(rev2)).send({ verdict: 'approved' }).expect(403);
    expect(own.body.code).toBe('own-annotation');
    const edited = await http().put(`/v1/annotations/${annotationId}`).set(bearer(t.ann)).set('if-match', '"7"').send({ label: 'nodule' }).expect(200);
    expect(edited.body.status).toBe('unreviewed');
  });

  it('reads through the access decision (purpose = the dataset’s), recorded in the patient’s trail as resourceType annotation', async () => {
    const read = await http().get(`/v1/annotations/${annotationId}`).set(bearer(t.rev)).expect(200);
    expect(read.body).toMatchObject({ annotationId, imageId: 'img-a1', patientId: 'pa1', label: 'nodule', note: `second look ${MARKER}`, status: 'unreviewed', version: 8 });
    expect(read.body.access).toMatchObject({ decision: 'PERMIT' });
    await http().get(`/v1/annotations/${annotationId}`).set(bearer(t.clinician)).expect(403); // AI_TRAINING is not a clinician's purpose
    await http().get('/v1/annotations/00000000-0000-4000-8000-000000000000').set(bearer(t.rev)).expect(404);
    await http().get('/v1/annotations/not-a-uuid').set(bearer(t.rev)).expect(400);
    const viaRequest = await http().post('/v1/access-requests').set(bearer(t.rev)).send({ resourceType: 'annotation', resourceId: annotationId, action: 'view', purpose: 'AI_TRAINING' }).expect(200);
    expect(viaRequest.body.decision).toBe('PERMIT');
    const listed = await http().get('/v1/images/img-a1/annotations').set(bearer(t.rev)).expect(200);
    await waitForProjection(app, t.security, 'pa1', listed.body.access.sequence as number);
    const again = await http().get('/v1/images/img-a1/annotations').set(bearer(t.rev)).expect(200);
    expect((again.body.items as Array<{ annotationId: string; status: string }>).map((i) => [i.annotationId, i.status])).toEqual([[annotationId, 'unreviewed']]);
    const trail = await http().get('/v1/patients/pa1/access-trail?limit=200').set(bearer(t.security)).expect(200);
    const annotationReads = (trail.body.items as Array<{ resourceType: string; resourceId: string; decision: string }>).filter((i) => i.resourceType === 'annotation');
    expect(annotationReads.map((i) => i.resourceId)).toEqual(expect.arrayContaining([annotationId, 'image:img-a1']));
    expect(annotationReads.some((i) => i.decision === 'DENY')).toBe(true);
  });

  it('answers hostile input on the annotation routes with a 4xx problem, never a 500', async () => {
    const good = { label: 'nodule', geometry: box(1), confidence: 0.5 };
    let nested: Record<string, unknown> = { type: 'bbox' };
    for (let i = 0; i < 200; i++) nested = { inner: nested };
    const bodies: Array<[string, unknown]> = [
      ['polygon of 1,001 points', { ...good, geometry: { type: 'polygon', points: Array.from({ length: 1001 }, (_, i) => [i, i]) } }],
      ['deeply nested geometry', { ...good, geometry: nested }],
      ['huge coordinate', { ...good, geometry: { type: 'bbox', x: 1e300, y: 0, width: 1, height: 1 } }],
      ['confidence as text', { ...good, confidence: '0.5' }],
      ['label with a lone surrogate', { ...good, label: 'nod\uD800ule' }],
      ['note of 4,001 characters', { ...good, note: 'x'.repeat(4001) }],
      ['unknown field', { ...good, owner: 'someone-else' }],
      ['an array', [good]],
      ['mask reference with a NUL', { ...good, geometry: { type: 'mask', ref: 'a\u0000b' } }],
    ];
    for (const [why, body] of bodies) {
      const res = await http().post('/v1/images/img-a1/annotations').set(bearer(t.ann)).set('content-type', 'application/json').send(JSON.stringify(body));
      expect({ why, status: res.status }).toEqual({ why, status: 400 });
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    for (const ifMatch of ['abc', '"-1"', '"99999999999"', '*']) {
      const res = await http().put(`/v1/annotations/${annotationId}`).set(bearer(t.ann)).set('if-match', ifMatch).send({ label: 'mass' });
      expect({ ifMatch, status: res.status }).toEqual({ ifMatch, status: 400 });
    }
    expect((await http().post(`/v1/annotations/${annotationId}/reviews`).set(bearer(t.rev)).send({ verdict: 'maybe' })).status).toBe(400);
    expect((await http().get('/v1/annotations/..%2F..%2Fetc').set(bearer(t.rev))).status).toBe(400);
    expect((await http().get('/v1/datasets/ds-1/snapshots/not-a-uuid').set(bearer(t.steward))).status).toBe(400);
  });

  it('takes a geometry with its own keys only (it is stored in clear): anything else in it is 400 bad-geometry, on create and edit, and nothing is stored', async () => {
    const good = { label: 'nodule', geometry: box(1), confidence: 0.5 };
    const geometries: Array<[string, unknown]> = [
      ['a name beside the box', { ...box(1), patientName: 'Jane Doe' }],
      ['nested content', { ...box(1), nested: { deep: [{ name: 'Jane Doe' }] } }],
      ['a 900 KB field', { ...box(1), blob: 'J'.repeat(900_000) }],
      ['an extra key on a polygon', { type: 'polygon', points: [[0, 0], [5, 0], [5, 5]], owner: 'Jane Doe' }],
      ['a point of three numbers', { type: 'polygon', points: [[0, 0], [5, 0], [5, 5, 9]] }],
      ['an extra key on a mask', { type: 'mask', ref: 'masks/1.png', comment: 'Jane Doe' }],
      ['a coordinate as text', { type: 'bbox', x: '1', y: 10, width: 20, height: 20 }],
    ];
    const db = app.get(Database) as Database;
    const [before] = await db.query<{ n: string | number }>('SELECT max(global_seq) AS n FROM custos_events');
    for (const [why, geometry] of geometries) {
      for (const [method, url, body, ifMatch] of [
        ['post', '/v1/images/img-a1/annotations', { ...good, geometry }, undefined],
        ['put', `/v1/annotations/${annotationId}`, { geometry }, '"1"'],
      ] as const) {
        let req = http()[method](url).set(bearer(t.ann));
        if (ifMatch) req = req.set('if-match', ifMatch);
        const res = await req.send(body);
        expect({ why, method, status: res.status, code: res.body.code }).toEqual({ why, method, status: 400, code: 'bad-geometry' });
        expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      }
    }
    const stored = await db.query<{ type: string }>("SELECT type FROM custos_events WHERE global_seq > $1 AND type LIKE 'Annotation%'", [Number(before?.n)]);
    expect(stored).toEqual([]);
    const leaked = await db.query<{ n: string | number }>("SELECT count(*) AS n FROM custos_events WHERE data::text LIKE '%Jane Doe%'");
    expect(Number(leaked[0]?.n)).toBe(0);
  });

  it('deletes as a tombstone (If-Match); the log verifies, decisions re-derive, and the note is stored sealed', async () => {
    await http().delete(`/v1/annotations/${annotationId}`).set(bearer(t.ann)).expect(428);
    await http().delete(`/v1/annotations/${annotationId}`).set(bearer(t.ann)).set('if-match', '"8"').expect(200);
    await http().put(`/v1/annotations/${annotationId}`).set(bearer(t.ann)).set('if-match', '"9"').send({ label: 'mass' }).expect(409);
    const history = await http().get(`/v1/annotations/${annotationId}/history`).set(bearer(t.rev)).expect(200);
    expect((history.body.items as Array<{ type: string }>).at(-1)?.type).toBe('AnnotationDeleted');
    const db = app.get(Database) as Database;
    expect((await verifyChain(db)).ok).toBe(true);
    const decisions = await verifyDecisions(db);
    expect(decisions.ok).toBe(true);
    expect(decisions.rederived).toBeGreaterThan(0);
    expect(JSON.stringify(await db.query('SELECT data FROM custos_events'))).not.toContain(MARKER);
    expect(JSON.stringify(await db.query('SELECT * FROM custos_rm_annotations'))).not.toContain(MARKER);
  });
});

/** An independent RFC 9162 §2.1.1 MTH, straight from the definition (not libs/merkle). */
function mth(leaves: Buffer[]): Buffer {
  const h = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
  if (leaves.length === 0) return h();
  if (leaves.length === 1) return h(Buffer.from([0]), leaves[0] as Buffer);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return h(Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** Rebuilds the root from a leaf and its audit path by the recursive definition of PATH (§2.1.3.1). */
function rootFromPath(index: number, size: number, leafHashHex: string, path: string[]): string {
  const h = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
  const go = (m: number, n: number, p: Buffer[]): Buffer => {
    if (n === 1) return Buffer.from(leafHashHex, 'hex');
    let k = 1;
    while (k * 2 < n) k *= 2;
    const sibling = p[p.length - 1] as Buffer;
    const rest = p.slice(0, -1);
    return m < k ? h(Buffer.from([1]), go(m, k, rest), sibling) : h(Buffer.from([1]), sibling, go(m - k, n - k, rest));
  };
  return go(index, size, path.map((x) => Buffer.from(x, 'hex'))).toString('hex');
}

describe('snapshots for training (embedded)', () => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    app = await bootEmbedded();
  });
  afterAll(async () => {
    await app.close();
  });

  it('freezes approved annotations with an RFC 9162 digest and proofs; leaves out patients without consent; withdrawals name the snapshots', async () => {
    const steward = await devToken(app, { sub: 'stew-1', roles: ['data-steward'] });
    const ann = await devToken(app, { sub: 'ann-1', roles: ['annotator'], credentials: ['certified-radiologist'] });
    const rev = await devToken(app, { sub: 'rev-1', roles: ['reviewer'], credentials: ['certified-radiologist'] });
    const security = await devToken(app, { sub: 'so-1', roles: ['security-officer'] });
    await http().put('/v1/datasets/ds-2').set(bearer(steward)).send(DATASET).expect(200);
    const ids: Record<string, string> = {};
    for (const p of ['pb1', 'pb2', 'pb3']) {
      await http().post('/v1/images').set(bearer(steward)).send({ ...IMAGE(`img-${p}`, p), datasetId: 'ds-2' }).expect(201);
      const patient = await devToken(app, { sub: `pat-${p}`, roles: ['patient'], patient_id: p });
      await http().put(`/v1/patients/${p}/consents/AI_TRAINING`).set(bearer(patient)).send({ status: 'granted', categories: ['ANNOTATIONS'] }).expect(200);
      for (const [i, label] of (['nodule', 'mass'] as const).entries()) {
        const created = await http().post(`/v1/images/img-${p}/annotations`).set(bearer(ann)).send({ label, geometry: box(i), confidence: 0.9 }).expect(201);
        await http().post(`/v1/annotations/${created.body.annotationId}/reviews`).set(bearer(rev)).send({ verdict: 'approved' }).expect(200);
        ids[`${p}-${label}`] = created.body.annotationId as string;
      }
    }
    // One more, not approved: never in a snapshot.
    await http().post('/v1/images/img-pb1/annotations').set(bearer(ann)).send({ label: 'nodule', geometry: box(9), confidence: 0.2 }).expect(201);
    const waitAll = async () => {
      const last = await http().get('/v1/images/img-pb3/annotations').set(bearer(rev)).expect(200);
      await waitForProjection(app, security, 'pb3', last.body.access.sequence as number);
    };
    await waitAll();

    const first = await http().post('/v1/datasets/ds-2/snapshots').set(bearer(steward)).expect(201);
    expect(first.body).toMatchObject({ datasetId: 'ds-2', treeSize: 6, labelCounts: { nodule: 3, mass: 3 }, excluded: { images: 0, annotations: 0 } });
    const entries = first.body.entries as Array<{ annotationId: string; version: number; imageId: string; label: string }>;
    expect(entries.map((e) => e.annotationId)).toEqual([...entries.map((e) => e.annotationId)].sort());
    expect(entries.every((e) => e.version === 2)).toBe(true);
    const canonical = (e: (typeof entries)[number]) => Buffer.from(JSON.stringify({ annotationId: e.annotationId, imageId: e.imageId, label: e.label, version: e.version }));
    expect(first.body.rootHash).toBe(mth(entries.map(canonical)).toString('hex'));

    const target = ids['pb2-mass'] as string;
    const proof = await http().get(`/v1/datasets/ds-2/snapshots/${first.body.snapshotId}/proof?annotationId=${target}`).set(bearer(steward)).expect(200);
    expect(proof.body.leaf).toBe(canonical(entries[proof.body.leafIndex as number]!).toString('utf8'));
    expect(proof.body.leafHash).toBe(createHash('sha256').update(Buffer.concat([Buffer.from([0]), Buffer.from(proof.body.leaf as string)])).digest('hex'));
    expect(rootFromPath(proof.body.leafIndex as number, proof.body.treeSize as number, proof.body.leafHash as string, proof.body.auditPath as string[])).toBe(first.body.rootHash);
    await http().get(`/v1/datasets/ds-2/snapshots/${first.body.snapshotId}/proof?annotationId=00000000-0000-4000-8000-000000000000`).set(bearer(steward)).expect(404);
    await http().get(`/v1/datasets/ds-1/snapshots/${first.body.snapshotId}`).set(bearer(steward)).expect(404); // another dataset's id
    await http().get(`/v1/datasets/ds-2/snapshots/${first.body.snapshotId}`).set(bearer(steward)).expect(200);
    await http().post('/v1/datasets/ds-2/snapshots').set(bearer(ann)).expect(403);

    // pb2 withdraws: the next snapshot leaves their image out, and the withdrawals view names the first snapshot.
    const pb2 = await devToken(app, { sub: 'pat-pb2', roles: ['patient'], patient_id: 'pb2' });
    const withdrawn = await http().delete('/v1/patients/pb2/consents/AI_TRAINING').set(bearer(pb2)).send({}).expect(200);
    await waitForProjection(app, security, 'pb2', withdrawn.body.sequence as number);
    const second = await http().post('/v1/datasets/ds-2/snapshots').set(bearer(steward)).expect(201);
    expect(second.body).toMatchObject({ treeSize: 4, excluded: { images: 1, annotations: 2, reason: 'no-consent-for-purpose' } });
    expect((second.body.entries as Array<{ imageId: string }>).some((e) => e.imageId === 'img-pb2')).toBe(false);
    await waitForProjection(app, security, 'pb2', (withdrawn.body.sequence as number) + 2);
    const last = await http().get('/v1/datasets/ds-2/snapshots/' + second.body.snapshotId).set(bearer(steward)).expect(200);
    expect(last.body.rootHash).toBe(second.body.rootHash);
    const deadline = Date.now() + 10_000;
    let items: Array<{ patientId: string; snapshots: Array<{ snapshotId: string }> }> = [];
    while (Date.now() < deadline) {
      items = (await http().get('/v1/datasets/ds-2/consent-withdrawals').set(bearer(steward)).expect(200)).body.items;
      if (items.length > 0 && items[0]!.snapshots.length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(items.map((i) => [i.patientId, i.snapshots.map((s) => s.snapshotId)])).toEqual([['pb2', [first.body.snapshotId]]]);
  });

  it('audits quality: per annotator, approved share, agreement (Cohen per pair), demographic groups; stewards and regulators only, recorded', async () => {
    const ann3 = await devToken(app, { sub: 'ann-3', roles: ['annotator'], credentials: ['certified-radiologist'] });
    const steward = await devToken(app, { sub: 'stew-1', roles: ['data-steward'] });
    const regulator = await devToken(app, { sub: 'reg-1', roles: ['regulator'] });
    const ann = await devToken(app, { sub: 'ann-1', roles: ['annotator'], credentials: ['certified-radiologist'] });
    const security = await devToken(app, { sub: 'so-1', roles: ['security-officer'] });
    await http().post('/v1/images/img-pb1/annotations').set(bearer(ann3)).send({ label: 'nodule', geometry: box(5), confidence: 0.7 }).expect(201);
    const lastWrite = await http().post('/v1/images/img-pb3/annotations').set(bearer(ann3)).send({ label: 'mass', geometry: box(6), confidence: 0.7 }).expect(201);
    expect(lastWrite.body.version).toBe(1);
    const listing = await http().get('/v1/images/img-pb3/annotations').set(bearer(await devToken(app, { sub: 'rev-1', roles: ['reviewer'], credentials: ['certified-radiologist'] }))).expect(200);
    await waitForProjection(app, security, 'pb3', listing.body.access.sequence as number);

    await http().get('/v1/datasets/ds-2/quality').set(bearer(ann)).expect(403);
    await http().get('/v1/datasets/nope/quality').set(bearer(steward)).expect(404);
    // A regulator gets the audit without the exact counts per demographic group (the balance report has them, noised).
    const r = await http().get('/v1/datasets/ds-2/quality').set(bearer(regulator)).expect(200);
    expect(r.body).toMatchObject({ annotations: 9, demographics: null, agreementFlags: null, groupsWithheld: expect.stringContaining('differential privacy') });
    const q = await http().get('/v1/datasets/ds-2/quality').set(bearer(steward)).expect(200);
    expect(q.body.annotations).toBe(9);
    expect(q.body.approvedShare).toBeCloseTo(6 / 9, 10);
    expect(q.body.annotators).toEqual([
      { annotator: 'ann-1', annotations: 7, reviewed: 6, rejectionRate: 0, medianSecondsToReview: expect.any(Number) },
      { annotator: 'ann-3', annotations: 2, reviewed: 0, rejectionRate: null, medianSecondsToReview: null },
    ]);
    // ann-1 rates img-pb1 "nodule" (two of three) and img-pb3 "mass" (a tie, first by name); ann-3 the same: kappa 1 over 2 images.
    expect(q.body.agreement.pairs).toEqual([{ annotators: ['ann-1', 'ann-3'], images: 2, cohensKappa: 1 }]);
    expect(q.body.agreement.fleiss).toMatchObject({ images: 0, kappa: null });
    expect(q.body.demographics).toEqual(
      expect.arrayContaining([
        { ...{ dimension: 'sex', group: 'F', images: 3, annotations: 9, approvedShare: 6 / 9 }, agreement: { images: 2, fleissKappa: null, pairs: [], flagged: false } }, // agreement: too few images to judge
        { ...{ dimension: 'ageBand', group: '40-64', images: 3, annotations: 9, approvedShare: 6 / 9 }, agreement: { images: 2, fleissKappa: null, pairs: [], flagged: false } }, // agreement: too few images to judge
        { ...{ dimension: 'ethnicity', group: 'unknown', images: 3, annotations: 9, approvedShare: 6 / 9 }, agreement: { images: 2, fleissKappa: null, pairs: [], flagged: false } }, // agreement: too few images to judge
      ]),
    );
    expect(q.body.agreementFlags).toEqual([]);
    const db = app.get(Database) as Database;
    const reads = await db.query<{ n: string | number }>("SELECT count(*) AS n FROM custos_events WHERE type = 'AuditDataRead' AND data->>'resourceType' = 'dataset-quality'");
    expect(Number(reads[0]?.n)).toBe(2);
  });

  it('rebuilds the annotation read models by replay to the same rows as live projection', async () => {
    const db = app.get(Database) as Database;
    const tables = ['custos_rm_annotations', 'custos_rm_annotation_reviews', 'custos_rm_snapshot_images'];
    const snapshot = async () => Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await db.query(`SELECT * FROM ${t} ORDER BY 1, 2`)] as const)));
    const security = await devToken(app, { sub: 'so-1', roles: ['security-officer'] });
    const head = await db.query<{ n: string | number }>('SELECT max(global_seq) AS n FROM custos_events');
    await waitForProjection(app, security, 'pb3', Number(head[0]?.n));
    const live = await snapshot();
    expect((live.custos_rm_annotation_reviews as unknown[]).length).toBeGreaterThan(0);
    // Replay needs the live feed quiet: only the embedded feed runs, and it skips what replay applied.
    await createProjectionRunner(db, allProjections()).replay(app.get(EventStore) as EventStore);
    expect(JSON.stringify(await snapshot())).toBe(JSON.stringify(live));
  });
});
