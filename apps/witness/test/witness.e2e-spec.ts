import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { Database } from '@custos/event-store';
import { LogIntegrator, LogTree } from '@custos/log';
import { consistencyProof, leafHash, rootOf } from '@custos/merkle';
import { rewriteAndRehash } from '@custos/testing';
import jose from 'node-jose';
import request from 'supertest';
import { bootEmbedded, devToken, IMAGE } from '../../gateway/test/helpers.js';
import { verifyBundle } from '../../verifier/src/verify-bundle.js';
import { Witness, type WitnessState } from '../src/witness.js';

function memory(): { load(): Promise<WitnessState>; save(s: WitnessState): Promise<void>; state: WitnessState } {
  const box = { state: {} as WitnessState };
  return { load: async () => structuredClone(box.state), save: async (s) => void (box.state = structuredClone(s)), get state() { return box.state; } };
}

async function logKey(): Promise<{ key: jose.JWK.Key; store: jose.JWK.KeyStore; sign: (size: number, root: Buffer) => Promise<string> }> {
  const key = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
  const store = await jose.JWK.asKeyStore({ keys: [key.toJSON(false)] });
  const sign = async (size: number, root: Buffer) =>
    (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: key.kid, typ: 'tlog-checkpoint+jws' } }, key).update(`test/log\n${size}\n${root.toString('base64')}\n`).final()) as unknown as string;
  return { key, store, sign };
}

describe('the witness', () => {
  const leaves = Array.from({ length: 20 }, (_, i) => leafHash(Buffer.from(`e${i}`)));

  it('accepts the first checkpoint, then only consistent ones with the right old size; cosigns with its own key', async () => {
    const log = await logKey();
    const own = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
    const storage = memory();
    const witness = new Witness('w1', own, async () => log.store, storage);
    const first = await witness.add({ checkpoint: await log.sign(5, rootOf(leaves.slice(0, 5))), oldSize: 0, proof: [] });
    expect(first.status).toBe(200);
    const cosig = (first.body as { cosignature: string }).cosignature;
    const verified = await jose.JWS.createVerify(await jose.JWK.asKeyStore({ keys: [witness.publicJwk()] })).verify(cosig);
    expect(verified.payload.toString()).toBe(`test/log\n5\n${rootOf(leaves.slice(0, 5)).toString('base64')}\n`);
    expect(verified.header).toMatchObject({ typ: 'tlog-cosignature+jws', witness: 'w1' });

    const proof = (m: number, n: number) => consistencyProof(m, leaves.slice(0, n)).map((h) => h.toString('hex'));
    expect((await witness.add({ checkpoint: await log.sign(12, rootOf(leaves.slice(0, 12))), oldSize: 3, proof: proof(5, 12) })).status).toBe(409);
    expect((await witness.add({ checkpoint: await log.sign(12, rootOf(leaves.slice(0, 12))), oldSize: 5, proof: proof(5, 12) })).status).toBe(200);
    // A rewritten log: the same size 12 with another root, or a bigger tree that does not extend it.
    const forged = [...leaves.slice(0, 7), leafHash(Buffer.from('forged')), ...leaves.slice(8)];
    expect((await witness.add({ checkpoint: await log.sign(12, rootOf(forged.slice(0, 12))), oldSize: 12, proof: [] })).status).toBe(422);
    const bad = await witness.add({ checkpoint: await log.sign(16, rootOf(forged.slice(0, 16))), oldSize: 12, proof: consistencyProof(12, forged.slice(0, 16)).map((h) => h.toString('hex')) });
    expect(bad).toMatchObject({ status: 422, body: { code: 'inconsistent' } });
    expect(storage.state['test/log']?.size).toBe(12); // nothing refused was kept
    // Not signed by the log, malformed: refused.
    const stranger = await logKey();
    expect((await witness.add({ checkpoint: await stranger.sign(16, rootOf(leaves.slice(0, 16))), oldSize: 12, proof: proof(12, 16) })).status).toBe(422);
    expect((await witness.add({ checkpoint: 'x', oldSize: -1, proof: [] })).status).toBe(400);
    expect((await witness.add({ checkpoint: await log.sign(16, rootOf(leaves.slice(0, 16))), oldSize: 12, proof: ['zz'] })).status).toBe(400);
  });
});

describe('Custos with a witness (embedded gateway, the witness over HTTP)', () => {
  let app: INestApplication;
  let server: Server;
  let witness: Witness;

  beforeAll(async () => {
    const own = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
    let gatewayKeys: () => Promise<jose.JWK.KeyStore> = async () => jose.JWK.createKeyStore();
    witness = new Witness('w-test', own, () => gatewayKeys(), memory());
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void witness.add(JSON.parse(Buffer.concat(chunks).toString('utf8'))).then((a) => {
          res.writeHead(a.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(a.body));
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    app = await bootEmbedded({ LOG_INTEGRATE_MS: '20', LOG_CHECKPOINT_MS: '50', WITNESS_URLS: url });
    gatewayKeys = async () => jose.JWK.asKeyStore((await request(app.getHttpServer()).get('/.well-known/jwks.json')).body as object);
  });
  afterAll(async () => {
    await app.close();
    await new Promise((r) => server.close(r));
  });

  it('gets checkpoints cosigned and exported with them; after a careful rewrite the witness refuses, and the alarm is an event, a log line and /health', async () => {
    const http = () => request(app.getHttpServer());
    const steward = await devToken(app, { sub: 'stew-1', roles: ['data-steward'] });
    const regulator = await devToken(app, { sub: 'reg-1', roles: ['regulator'] });
    const clinician = await devToken(app, { sub: 'dr-1', roles: ['clinician'] });
    await http().post('/v1/images').set('authorization', `Bearer ${steward}`).send(IMAGE('img-w1', 'wp1')).expect(201);
    await http().post('/v1/access-requests').set('authorization', `Bearer ${clinician}`).send({ resourceType: 'image', resourceId: 'img-w1', action: 'view', purpose: 'TREATMENT' }).expect(200);
    const db = app.get(Database) as Database;
    const waitFor = async (check: () => Promise<boolean>) => {
      const deadline = Date.now() + 15_000;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error('timed out');
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await waitFor(async () => (await db.query('SELECT 1 FROM custos_log_cosignatures')).length >= 2);
    // Nothing is appended now: once the latest checkpoint is cosigned, the export carries that cosignature.
    const latestCosigned = async () => {
      const [row] = await db.query<{ ok: boolean }>('SELECT (SELECT max(tree_size) FROM custos_log_checkpoints) = (SELECT max(tree_size) FROM custos_log_cosignatures) AS ok');
      return row?.ok === true;
    };
    await waitFor(latestCosigned);
    const jwks = (await http().get('/.well-known/jwks.json').expect(200)).body as object;
    const bundle = (await http().post('/v1/exports').set('authorization', `Bearer ${regulator}`).send({ patientId: 'wp1', from: '2020-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' }).expect(200)).body;
    // The export's checkpoint may be newer than the last cosigned one; a cosigned one is on record.
    const cosigned = await db.query<{ tree_size: string | number }>('SELECT tree_size FROM custos_log_cosignatures ORDER BY tree_size DESC LIMIT 1');
    expect(Number(cosigned[0]?.tree_size)).toBeGreaterThan(0);
    expect(Array.isArray(bundle.checkpoint.cosignatures)).toBe(true);
    // The regulator's verifier, given the witness's published key, counts its cosignature.
    const published = witness.publicJwk() as object;
    expect(await verifyBundle(bundle, { jwks, witnesses: [{ keys: [published] }] })).toMatchObject({ ok: true, witnessed: 1 });
    expect((await http().get('/health')).status).toBe(200);

    // The careful attacker: rewrite, recompute every hash and link, rebuild the tree and its checkpoints.
    const integrator = app.get(LogIntegrator) as LogIntegrator;
    const [target] = await db.query<{ global_seq: string | number }>("SELECT global_seq FROM custos_events WHERE type = 'AccessDecided' ORDER BY global_seq LIMIT 1");
    await rewriteAndRehash(db, Number(target?.global_seq), (d) => ({ ...d, decision: 'DENY' }));
    await db.execute('DELETE FROM custos_log_tiles');
    await db.execute('DELETE FROM custos_log_head');
    await db.execute('DELETE FROM custos_log_checkpoints');
    await http().post('/v1/access-requests').set('authorization', `Bearer ${clinician}`).send({ resourceType: 'image', resourceId: 'img-w1', action: 'view', purpose: 'TREATMENT' }).expect(200);
    await waitFor(async () => !integrator.integrity.ok);
    const health = await http().get('/health');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('degraded');
    expect(JSON.stringify(health.body)).toContain('log-integrity');
    await waitFor(async () => (await db.query("SELECT 1 FROM custos_events WHERE type = 'LogIntegrityAlarm'")).length > 0);
    // An export of the rewritten log is self-consistent and signed by Custos: without witnesses a first
    // visit cannot tell. With the witness's key it fails: the witness refused that checkpoint.
    const refusedAt = Number((await db.query<{ n: string | number }>('SELECT max(tree_size) AS n FROM custos_log_checkpoints'))[0]?.n);
    const rewritten = (await http().post('/v1/exports').set('authorization', `Bearer ${regulator}`).send({ patientId: 'wp1', from: '2020-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' }).expect(200)).body;
    expect(rewritten.checkpoint.treeSize).toBeGreaterThanOrEqual(refusedAt);
    expect(await verifyBundle(rewritten, { jwks })).toMatchObject({ ok: true });
    const report = await verifyBundle(rewritten, { jwks, witnesses: [{ keys: [published] }] });
    expect(report.failure).toMatch(/^the checkpoint \(\d+\) is not witnessed: 0 of the 1 required cosignatures verify/);
    const tree = new LogTree(db);
    expect((await tree.head()).size).toBeGreaterThan(0);
  });
});
