import type { INestApplication } from '@nestjs/common';
import { verifyConsistency, verifyInclusion } from '@custos/merkle';
import jose from 'node-jose';
import request from 'supertest';
import { bootEmbedded, devToken, IMAGE } from './helpers.js';

describe('the verifiable log over HTTP (embedded)', () => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  beforeAll(async () => {
    app = await bootEmbedded({ LOG_INTEGRATE_MS: '20', LOG_CHECKPOINT_MS: '50' });
  });
  afterAll(async () => {
    await app.close();
  });

  async function checkpointAtLeast(token: string, size: number): Promise<{ treeSize: number; rootHash: string; body: string; jws: string }> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const res = await http().get('/v1/log/checkpoint').set(bearer(token));
      if (res.status === 200 && (res.body.treeSize as number) >= size) return res.body;
      if (Date.now() > deadline) throw new Error(`no checkpoint of size >= ${size}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it('signs checkpoints, proves inclusion and consistency, and lets a patient prove only their own events', async () => {
    const steward = await devToken(app, { sub: 'stew-1', roles: ['data-steward'] });
    const clinician = await devToken(app, { sub: 'dr-1', roles: ['clinician'] });
    const security = await devToken(app, { sub: 'so-1', roles: ['security-officer'] });
    const regulator = await devToken(app, { sub: 'reg-1', roles: ['regulator'] });
    const p1 = await devToken(app, { sub: 'pat-1', roles: ['patient'], patient_id: 'lp1' });
    await http().post('/v1/images').set(bearer(steward)).send(IMAGE('img-l1', 'lp1')).expect(201);
    await http().post('/v1/images').set(bearer(steward)).send(IMAGE('img-l2', 'lp2')).expect(201);
    const own = await http().post('/v1/access-requests').set(bearer(clinician)).send({ resourceType: 'image', resourceId: 'img-l1', action: 'view', purpose: 'TREATMENT' }).expect(200);
    const other = await http().post('/v1/access-requests').set(bearer(clinician)).send({ resourceType: 'image', resourceId: 'img-l2', action: 'view', purpose: 'TREATMENT' }).expect(200);
    const first = await checkpointAtLeast(regulator, (other.body.sequence as number) + 1);

    const [origin, size, root64] = first.body.split('\n');
    expect([origin, Number(size), root64]).toEqual(['custos.local/log', first.treeSize, first.rootHash]);
    const jwks = (await http().get('/.well-known/jwks.json').expect(200)).body as object;
    const verified = await jose.JWS.createVerify(await jose.JWK.asKeyStore(jwks), { algorithms: ['ES256'] }).verify(first.jws);
    expect(verified.payload.toString('utf8')).toBe(first.body);
    expect(verified.header).toMatchObject({ typ: 'tlog-checkpoint+jws' });
    expect((await http().get(`/v1/log/checkpoints/${first.treeSize}`).set(bearer(p1)).expect(200)).body.jws).toBe(first.jws);

    const proof = await http().get(`/v1/log/proofs/inclusion?sequence=${own.body.sequence}&treeSize=${first.treeSize}`).set(bearer(security)).expect(200);
    expect(JSON.parse(proof.body.leaf as string)).toMatchObject({ eventId: own.body.eventId, globalSeq: own.body.sequence, type: 'AccessDecided' });
    const rootHex = Buffer.from(first.rootHash, 'base64').toString('hex');
    expect(proof.body.rootHash).toBe(rootHex);
    expect(proof.body.checkpoint).toBe(first.jws);
    const hex = (h: string) => Buffer.from(h, 'hex');
    expect(verifyInclusion(own.body.sequence as number, first.treeSize, hex(proof.body.leafHash as string), (proof.body.auditPath as string[]).map(hex), hex(rootHex))).toBe(true);

    // A patient proves their own event; another patient's is refused (recorded); a clinician gets no proofs.
    await http().get(`/v1/log/proofs/inclusion?sequence=${own.body.sequence}&treeSize=${first.treeSize}`).set(bearer(p1)).expect(200);
    const refused = await http().get(`/v1/log/proofs/inclusion?sequence=${other.body.sequence}&treeSize=${first.treeSize}`).set(bearer(p1)).expect(403);
    expect(refused.body.code).toBe('not-your-event');
    await http().get(`/v1/log/proofs/inclusion?sequence=${own.body.sequence}&treeSize=${first.treeSize}`).set(bearer(clinician)).expect(403);

    // The log grows; the next checkpoint is consistent with the first.
    await http().post('/v1/access-requests').set(bearer(clinician)).send({ resourceType: 'image', resourceId: 'img-l1', action: 'view', purpose: 'RESEARCH' }).expect(403);
    const second = await checkpointAtLeast(regulator, first.treeSize + 1);
    const consistency = await http().get(`/v1/log/proofs/consistency?from=${first.treeSize}&to=${second.treeSize}`).set(bearer(regulator)).expect(200);
    expect(consistency.body.fromRoot).toBe(rootHex);
    expect(verifyConsistency(first.treeSize, second.treeSize, hex(rootHex), Buffer.from(second.rootHash, 'base64'), (consistency.body.proof as string[]).map(hex))).toBe(true);

    // Hostile sizes: 4xx, never a 500.
    expect((await http().get(`/v1/log/proofs/inclusion?sequence=${first.treeSize}&treeSize=${first.treeSize}`).set(bearer(security))).status).toBe(400);
    expect((await http().get('/v1/log/proofs/inclusion?sequence=0&treeSize=999999999999').set(bearer(security))).status).toBe(409);
    expect((await http().get('/v1/log/proofs/inclusion?sequence=-1&treeSize=3').set(bearer(security))).status).toBe(400);
    expect((await http().get('/v1/log/proofs/inclusion?sequence=1e3&treeSize=3').set(bearer(security))).status).toBe(400);
    expect((await http().get('/v1/log/proofs/consistency?from=0&to=3').set(bearer(security))).status).toBe(400);
    expect((await http().get('/v1/log/proofs/consistency?from=5&to=3').set(bearer(security))).status).toBe(400);
    expect((await http().get('/v1/log/checkpoints/99999999').set(bearer(security))).status).toBe(404);
  });
});
