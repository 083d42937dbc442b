import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { Database } from '@custos/event-store';
import { checkpointBody, LogIntegrator, LogTree, openCheckpoint } from '@custos/log';
import { consistencyProof, leafHash, rootOf } from '@custos/merkle';
import { rewriteAndRehash } from '@custos/testing';
import jose from 'node-jose';
import request from 'supertest';
import { bootEmbedded, devToken, IMAGE } from '../../gateway/test/helpers.js';
import { verifyBundle } from '../../verifier/src/verify-bundle.js';
import { witnessServer } from '../src/server.js';
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

/**
 * A witness served over HTTP as `npm run witness` serves it, checking the gateway's checkpoints
 * with the gateway's published keys; `silent` makes it answer 503 (down, or cut off).
 */
async function servedWitness(name: string): Promise<{ url: string; witness: Witness; silent: boolean; useGateway(app: INestApplication): void; close(): Promise<void> }> {
  const own = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
  let gatewayKeys: () => Promise<jose.JWK.KeyStore> = async () => jose.JWK.createKeyStore();
  const witness = new Witness(name, own, () => gatewayKeys(), memory());
  const state = { silent: false };
  const inner = witnessServer(witness);
  const server: Server = inner;
  const handler = inner.listeners('request')[0] as (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;
  inner.removeAllListeners('request');
  server.on('request', (req, res) => {
    if (!state.silent) return handler(req, res);
    req.resume();
    res.writeHead(503, { 'content-type': 'application/problem+json' });
    res.end('{"status":503,"code":"unavailable"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    witness,
    get silent() {
      return state.silent;
    },
    set silent(v: boolean) {
      state.silent = v;
    },
    useGateway(app) {
      gatewayKeys = async () => jose.JWK.asKeyStore((await request(app.getHttpServer()).get('/.well-known/jwks.json')).body as object);
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const waitFor = async (check: () => Promise<boolean>, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function alarmsOf(db: Database): Promise<Array<{ type: string; cause: string }>> {
  const rows = await db.query<{ type: string; data: { cause?: string; witnessUrl?: string; code?: string } }>("SELECT type, data FROM custos_events WHERE stream_id = 'log-integrity' ORDER BY global_seq");
  // v1 alarms (before causes) counted by the cause the codec gives them when upcasting.
  return rows.map((r) => ({ type: r.type, cause: r.data.cause ?? `witness-refused:${r.data.witnessUrl}:${r.data.code}` }));
}

describe('Custos with a witness (embedded gateway, the witness over HTTP)', () => {
  let app: INestApplication;
  let w: Awaited<ReturnType<typeof servedWitness>>;

  beforeAll(async () => {
    w = await servedWitness('w-test');
    app = await bootEmbedded({ LOG_INTEGRATE_MS: '20', LOG_CHECKPOINT_MS: '50', WITNESS_URLS: w.url });
    w.useGateway(app);
  });
  afterAll(async () => {
    await app.close();
    await w.close();
  });

  it('gets checkpoints cosigned and exported with them; after a careful rewrite the witness refuses, and the alarm is one event, a log line and /health', async () => {
    const http = () => request(app.getHttpServer());
    const steward = await devToken(app, { sub: 'stew-1', roles: ['data-steward'] });
    const regulator = await devToken(app, { sub: 'reg-1', roles: ['regulator'] });
    const clinician = await devToken(app, { sub: 'dr-1', roles: ['clinician'] });
    await http().post('/v1/images').set('authorization', `Bearer ${steward}`).send(IMAGE('img-w1', 'wp1')).expect(201);
    await http().post('/v1/access-requests').set('authorization', `Bearer ${clinician}`).send({ resourceType: 'image', resourceId: 'img-w1', action: 'view', purpose: 'TREATMENT' }).expect(200);
    const db = app.get(Database) as Database;
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
    const published = w.witness.publicJwk() as object;
    // Under load a checkpoint may be signed between the wait and the export: export again until its checkpoint is cosigned.
    let witnessedBundle = bundle;
    await waitFor(async () => {
      if ((await verifyBundle(witnessedBundle, { jwks, witnesses: [{ keys: [published] }] })).ok) return true;
      witnessedBundle = (await http().post('/v1/exports').set('authorization', `Bearer ${regulator}`).send({ patientId: 'wp1', from: '2020-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' }).expect(200)).body;
      return false;
    });
    expect(await verifyBundle(witnessedBundle, { jwks, witnesses: [{ keys: [published] }] })).toMatchObject({ ok: true, witnessed: 1 });
    expect((await http().get('/health')).status).toBe(200);

    // Cosignature rows planted by hand (an unknown witness, and junk) for every size: never exported.
    await db.execute(
      "INSERT INTO custos_log_cosignatures (tree_size, witness_url, witness, cosignature) SELECT s, 'http://forged.invalid', 'forged-witness', 'eyJhbGciOiJFUzI1NiJ9.e30.AAAA' FROM generate_series(1::bigint, $1::bigint) AS s ON CONFLICT DO NOTHING",
      [witnessedBundle.checkpoint.treeSize + 500],
    );
    const planted = (await http().post('/v1/exports').set('authorization', `Bearer ${regulator}`).send({ patientId: 'wp1', from: '2020-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' }).expect(200)).body;
    expect(planted.checkpoint.treeSize).toBeLessThanOrEqual(witnessedBundle.checkpoint.treeSize + 500);
    expect(JSON.stringify(planted.checkpoint.cosignatures)).not.toContain('forged');
    await db.execute("DELETE FROM custos_log_cosignatures WHERE witness_url = 'http://forged.invalid'");

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
    // The alarm does not feed itself: many checkpoint intervals and more decisions later, still one event for the refusal.
    for (let i = 0; i < 3; i++) {
      await http().post('/v1/access-requests').set('authorization', `Bearer ${clinician}`).send({ resourceType: 'image', resourceId: 'img-w1', action: 'view', purpose: 'TREATMENT' }).expect(200);
      await sleep(300);
    }
    const refusals = (await alarmsOf(db)).filter((a) => a.cause.startsWith(`witness-refused:${w.url}`));
    expect(refusals).toHaveLength(1);
  });
});

describe('a witness that stops cosigning, and a superuser in the checkpoint table (embedded gateway, the witness over HTTP)', () => {
  let app: INestApplication;
  let w: Awaited<ReturnType<typeof servedWitness>>;
  let db: Database;
  let clinician: string;
  const http = () => request(app.getHttpServer());
  const decide = () => http().post('/v1/access-requests').set('authorization', `Bearer ${clinician}`).send({ resourceType: 'image', resourceId: 'img-w2', action: 'view', purpose: 'TREATMENT' }).expect(200);
  const lastCosigned = async () => Number((await db.query<{ s: string | number | null }>('SELECT max(tree_size) AS s FROM custos_log_cosignatures WHERE witness_url = $1', [w.url]))[0]?.s ?? 0);

  beforeAll(async () => {
    w = await servedWitness('w-lag');
    app = await bootEmbedded({ LOG_INTEGRATE_MS: '20', LOG_CHECKPOINT_MS: '50', WITNESS_URLS: w.url, WITNESS_MAX_LAG_MS: '2000' });
    w.useGateway(app);
    db = app.get(Database) as Database;
    const steward = await devToken(app, { sub: 'stew-2', roles: ['data-steward'] });
    clinician = await devToken(app, { sub: 'dr-2', roles: ['clinician'] });
    await http().post('/v1/images').set('authorization', `Bearer ${steward}`).send(IMAGE('img-w2', 'wp2')).expect(201);
    await decide();
    await waitFor(async () => (await lastCosigned()) > 0);
  });
  afterAll(async () => {
    await app.close();
    await w.close();
  });

  it('keeps signing, and the witness keeps cosigning, past checkpoint rows planted for future sizes; none is served', async () => {
    const jwks = await jose.JWK.asKeyStore((await http().get('/.well-known/jwks.json')).body as object);
    const head = (await new LogTree(db).head()).size;
    const genuine = (await http().get('/v1/log/checkpoint').set('authorization', `Bearer ${await devToken(app, { sub: 'so-1', roles: ['security-officer'] })}`).expect(200)).body as { jws: string };
    // The superuser fills the next 2,000 sizes: a genuine signature copied onto each, and one row signed with a key of their own.
    const own = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
    const fake = Buffer.alloc(32, 9);
    const forged = (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: own.kid, typ: 'tlog-checkpoint+jws' } }, own).update(checkpointBody('custos.local/log', head + 3, fake)).final()) as unknown as string;
    await db.execute("INSERT INTO custos_log_checkpoints (tree_size, root, body, jws) SELECT s, $1, 'custos.local/log\n' || s || E'\n\n', $2 FROM generate_series($3::bigint, $3::bigint + 2000) AS s ON CONFLICT DO NOTHING", [fake, genuine.jws, head + 1]);
    await db.execute('UPDATE custos_log_checkpoints SET body = $1, jws = $2 WHERE tree_size = $3', [checkpointBody('custos.local/log', head + 3, fake), forged, head + 3]);
    for (let i = 0; i < 5; i++) await decide();
    await waitFor(async () => (await lastCosigned()) > head + 3);
    const officer = await devToken(app, { sub: 'so-2', roles: ['security-officer'] });
    const latest = (await http().get('/v1/log/checkpoint').set('authorization', `Bearer ${officer}`).expect(200)).body as { treeSize: number; jws: string };
    const opened = await openCheckpoint(latest.jws, jwks);
    expect(opened.size).toBe(latest.treeSize);
    expect(latest.treeSize).toBeGreaterThan(head + 3);
    const at = await http().get(`/v1/log/checkpoints/${head + 3}`).set('authorization', `Bearer ${officer}`);
    if (at.status === 200) expect((at.body as { jws: string }).jws).not.toBe(forged);
    else expect(at.status).toBe(404);
    expect((await alarmsOf(db)).filter((a) => a.cause === 'bad-checkpoint').length).toBeGreaterThanOrEqual(1);
  });

  it('raises witness-lag once the log has grown WITNESS_MAX_LAG_MS without its cosignature (forged cosignature rows do not hide it), and ends it when it cosigns again', async () => {
    await waitFor(async () => (await http().get('/health')).body.status === 'ok');
    w.silent = true;
    const silentFrom = await lastCosigned();
    await decide();
    // /health lists the witness-lag alarm and says why when it is raised (200 either way: the gateway still serves).
    const lagStatus = async () => {
      const res = await http().get('/health').expect(200);
      const alarm = (res.body as { alarms: Record<string, { status: string; message?: string }> }).alarms['witness-lag'];
      expect(alarm).toBeDefined();
      return alarm?.status === 'raised' && alarm.message?.includes(`witness ${w.url} has not cosigned`) ? 'down' : 'up';
    };
    expect(await lagStatus()).toBe('up'); // not yet
    // The superuser copies the last real cosignature onto newer sizes.
    const [real] = await db.query<{ witness: string; cosignature: string }>('SELECT witness, cosignature FROM custos_log_cosignatures WHERE witness_url = $1 AND tree_size = $2', [w.url, silentFrom]);
    const head = (await new LogTree(db).head()).size;
    await db.execute('INSERT INTO custos_log_cosignatures (tree_size, witness_url, witness, cosignature) SELECT s, $1, $2, $3 FROM generate_series($4::bigint, $5::bigint) AS s ON CONFLICT DO NOTHING', [w.url, real!.witness, real!.cosignature, silentFrom + 1, head + 50]);
    await decide();
    await waitFor(async () => (await lagStatus()) === 'down', 10_000);
    const health = await http().get('/health');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('degraded');
    expect(JSON.stringify(health.body)).toContain('witness-lag');
    expect(JSON.stringify(health.body)).toContain(`witness ${w.url} has not cosigned`);
    const metrics = (await http().get('/metrics').expect(200)).text;
    const lag = metrics.split('\n').find((l) => l.startsWith(`custos_witness_lag_seconds{witness="${w.url}"}`));
    expect(Number(lag?.split(' ')[1])).toBeGreaterThan(2);
    for (let i = 0; i < 3; i++) {
      await decide();
      await sleep(200);
    }
    expect((await alarmsOf(db)).filter((a) => a.cause === `witness-lag:${w.url}`)).toEqual([{ type: 'LogIntegrityAlarm', cause: `witness-lag:${w.url}` }]);

    w.silent = false; // the forged rows stay: the witness's real cosignatures still count
    await decide();
    await waitFor(async () => (await lagStatus()) === 'up', 10_000);
    expect((await alarmsOf(db)).filter((a) => a.cause === `witness-lag:${w.url}`).map((a) => a.type)).toEqual(['LogIntegrityAlarm', 'LogIntegrityAlarmCleared']);
  });
});
