import type { INestApplication } from '@nestjs/common';
import { Database, verifyChain } from '@custos/event-store';
import { verifyConsistency, verifyInclusion } from '@custos/merkle';
import { rewriteAndRehash } from '@custos/testing';
import { verifyBundle } from '../../verifier/src/verify-bundle.js';
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

  it('exports one patient for a regulator (recorded); the offline verifier passes it, and fails it after a careful rewrite when given the old checkpoint', async () => {
    const steward = await devToken(app, { sub: 'stew-1', roles: ['data-steward'] });
    const clinician = await devToken(app, { sub: 'dr-1', roles: ['clinician'] });
    const regulator = await devToken(app, { sub: 'reg-1', roles: ['regulator'] });
    await http().post('/v1/images').set(bearer(steward)).send(IMAGE('img-x1', 'xp1')).expect(201);
    for (const purpose of ['TREATMENT', 'RESEARCH', 'TREATMENT']) await http().post('/v1/access-requests').set(bearer(clinician)).send({ resourceType: 'image', resourceId: 'img-x1', action: 'view', purpose });
    const last = await http().post('/v1/access-requests').set(bearer(clinician)).send({ resourceType: 'image', resourceId: 'img-x1', action: 'view', purpose: 'TREATMENT' }).expect(200);
    const kept = await checkpointAtLeast(regulator, (last.body.sequence as number) + 1);
    const window = { patientId: 'xp1', from: '2020-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' };

    await http().post('/v1/exports').set(bearer(clinician)).send(window).expect(403);
    await http().post('/v1/exports').set(bearer(regulator)).send({ ...window, to: '2019-01-01T00:00:00Z' }).expect(400);
    await http().post('/v1/exports').set(bearer(regulator)).send({ ...window, since: 0 }).expect(400);
    const exported = await http().post('/v1/exports').set(bearer(regulator)).send(window).expect(200);
    const bundle = exported.body;
    expect(bundle.events.length).toBe(5); // the registration and four decisions
    expect(exported.headers['x-custos-export-events']).toBe('5'); // known before the first byte: a progress indication
    expect(bundle.total).toBe(5);
    const jwks = (await http().get('/.well-known/jwks.json').expect(200)).body as object;
    expect(await verifyBundle(bundle)).toMatchObject({ ok: false, failure: expect.stringMatching(/^no keys to verify with/) }); // never the bundle's own keys unasked
    expect(await verifyBundle(bundle, { jwks })).toMatchObject({ ok: true, events: 5, streams: 2, links: 5 });

    // A withheld PERMIT: dropped from events, its stream link given a made-up hash, the next link unchained.
    type Link = { version: number; hash: string; streamPrevHash: string | null };
    type Shown = { events: Array<{ event: { streamId: string; version: number; data: { decision?: string } } }>; streams: Array<{ streamId: string; versionAtCheckpoint: number; links: Link[] }>; total: number };
    const withheld = structuredClone(bundle) as Shown;
    const permit = withheld.events.findIndex((e) => e.event.streamId === 'access-xp1' && e.event.data.decision === 'PERMIT');
    const { version } = withheld.events[permit]!.event;
    withheld.events.splice(permit, 1);
    const chain = withheld.streams.find((s) => s.streamId === 'access-xp1')!.links;
    chain[version - 1]!.hash = 'ab'.repeat(32);
    chain[version]!.streamPrevHash = null;
    const refusedA = await verifyBundle(withheld, { jwks });
    expect(refusedA.failure).toMatch(new RegExp(`^stream access-xp1: version ${version} \\(global sequence \\d+\\): not proven`));
    // A dropped tail: the stream's last decision gone, its version at the checkpoint lowered.
    const cut = structuredClone(bundle) as Shown;
    const access = cut.streams.find((s) => s.streamId === 'access-xp1')!;
    const head = access.links.pop()!;
    access.versionAtCheckpoint = head.version - 1;
    cut.events = cut.events.filter((e) => !(e.event.streamId === 'access-xp1' && e.event.version === head.version));
    const refusedB = await verifyBundle(cut, { jwks, trusted: kept.jws });
    expect(refusedB.failure).toMatch(new RegExp(`^stream access-xp1: the bundle shows it up to version ${head.version - 1}, but Custos signed its head at the checkpoint as version ${head.version}`));
    // Against a checkpoint kept earlier, the bundle must carry the proof that its tree extends it.
    const newer = await verifyBundle(bundle, { jwks, trusted: kept.jws });
    if (bundle.checkpoint.treeSize > kept.treeSize) expect(newer.failure).toMatch(/no consistency proof from the trusted size/);
    const since = (await http().post('/v1/exports').set(bearer(regulator)).send({ ...window, since: kept.treeSize }).expect(200)).body;
    expect(await verifyBundle(since, { jwks, trusted: kept.jws })).toMatchObject({ ok: true, consistencyFrom: kept.treeSize });

    // Tampering with the bundle is caught.
    const edited = structuredClone(bundle) as { events: Array<{ event: { data: Record<string, unknown> } }> };
    edited.events[1]!.event.data.decision = 'DENY';
    expect((await verifyBundle(edited, { jwks })).failure).toMatch(/leaf is not the event's canonical JSON/);

    // The log grows; a later export carries a consistency proof from the kept checkpoint.
    await http().post('/v1/access-requests').set(bearer(clinician)).send({ resourceType: 'image', resourceId: 'img-x1', action: 'view', purpose: 'TREATMENT' }).expect(200);
    const later = await checkpointAtLeast(regulator, kept.treeSize + 2);
    const grown = (await http().post('/v1/exports').set(bearer(regulator)).send({ ...window, since: kept.treeSize }).expect(200)).body;
    expect(grown.checkpoint.treeSize).toBeGreaterThanOrEqual(later.treeSize);
    expect(await verifyBundle(grown, { jwks, trusted: kept.jws })).toMatchObject({ ok: true, consistencyFrom: kept.treeSize });
    // A signature with one byte changed (not the last character: it carries padding bits, and may already be 'A').
    const [h, p, sig] = later.jws.split('.') as [string, string, string];
    const bent = `${h}.${p}.${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
    expect((await verifyBundle(grown, { jwks, trusted: bent })).ok).toBe(false);

    // The careful attacker rewrites a decision below the kept checkpoint, recomputes every hash,
    // link and the head, and rebuilds the tree. The chain check passes; the verifier does not.
    const db = app.get(Database) as Database;
    const [target] = await db.query<{ global_seq: string | number }>("SELECT global_seq FROM custos_events WHERE metadata->>'patientId' = 'xp1' AND type = 'AccessDecided' ORDER BY global_seq LIMIT 1");
    await rewriteAndRehash(db, Number(target?.global_seq), (d) => ({ ...d, decision: 'DENY' }));
    await db.execute('DELETE FROM custos_log_tiles');
    await db.execute('DELETE FROM custos_log_head');
    await db.execute('DELETE FROM custos_log_checkpoints');
    expect((await verifyChain(db)).ok).toBe(true);
    const rewritten = await checkpointAtLeast(regulator, kept.treeSize + 2);
    const after = (await http().post('/v1/exports').set(bearer(regulator)).send({ ...window, since: kept.treeSize }).expect(200)).body;
    expect(after.checkpoint.treeSize).toBe(rewritten.treeSize);
    expect(await verifyBundle(after, { jwks })).toMatchObject({ ok: true }); // on its own, a rewritten log is self-consistent
    const report = await verifyBundle(after, { jwks, trusted: kept.jws });
    expect(report.ok).toBe(false);
    expect(report.failure).toMatch(/log was rewritten/);
    const [exports] = await db.query<{ n: string | number }>("SELECT count(*) AS n FROM custos_events WHERE type = 'AuditDataRead' AND data->>'route' = '/v1/exports'");
    expect(Number(exports?.n)).toBe(4);
  });
});
