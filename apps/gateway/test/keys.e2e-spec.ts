import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { INestApplication } from '@nestjs/common';
import { CONTEXTS } from '@custos/contexts';
import { Database, verifyChain } from '@custos/event-store';
import { allTopics, createKafka } from '@custos/messaging';
import { createLogger, loadConfig } from '@custos/platform';
import { createProcessApp, RelayProcess } from '@custos/runtime';
import { asSuperuser, createTestDatabase, deleteTopicsWithPrefix, TEST_KEK, type TestDatabase, uniquePrefix } from '@custos/testing';
import jose from 'node-jose';
import pino from 'pino';
import request from 'supertest';
import { boot, createGatewayApp, devToken, IMAGE, waitForProjection } from './helpers.js';

/** Put in every personal field of every event kind that has one; must never be found at rest, in a topic or a log. */
const MARKER = 'QUAGGA9x7PERSONAL';
/** Put in clear fields only: proves each scan reads what is stored (not compressed, not elsewhere). */
const CLEAR = 'OKAPI4clear';
const PATIENT = 'p-keys-1';

interface Tokens {
  annotator: string;
  reviewer: string;
  steward: string;
  clinician: string;
  security: string;
  regulator: string;
  patient: string;
  admin: string;
}

async function tokensFor(app: INestApplication): Promise<Tokens> {
  return {
    annotator: await devToken(app, { sub: 'ann-1', roles: ['annotator'], credentials: ['certified-radiologist'] }),
    reviewer: await devToken(app, { sub: 'rev-1', roles: ['reviewer'], credentials: ['certified-radiologist'] }),
    steward: await devToken(app, { sub: 'steward-1', roles: ['data-steward'] }),
    clinician: await devToken(app, { sub: 'dr-1', roles: ['clinician'] }),
    security: await devToken(app, { sub: 'so-1', roles: ['security-officer'] }),
    regulator: await devToken(app, { sub: 'reg-1', roles: ['regulator'] }),
    patient: await devToken(app, { sub: 'pat-1', roles: ['patient'], patient_id: PATIENT }),
    admin: await devToken(app, { sub: 'admin-1', roles: ['admin'] }),
  };
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** Writes every event kind with a personal field, each carrying MARKER there; returns the emergency access's event id. */
async function writeEverything(app: INestApplication, t: Tokens): Promise<{ emergencyEventId: string; lastSeq: number }> {
  const http = () => request(app.getHttpServer());
  const image = { ...IMAGE(`img-${CLEAR}`, PATIENT), demographics: { sex: `F-${MARKER}`, birthYear: 1970, ethnicity: `e-${MARKER}` } };
  await http().post('/v1/images').set(bearer(t.steward)).send(image).expect(201);
  // Break the glass where TREATMENT is denied, so the reason is what lets the clinician in.
  await http().put(`/v1/patients/${PATIENT}/consents/TREATMENT`).set(bearer(t.patient)).send({ status: 'denied' }).expect(200);
  const emergency = await http()
    .post('/v1/access-requests')
    .set(bearer(t.clinician))
    .send({ resourceType: 'image', resourceId: image.imageId, action: 'view', purpose: 'TREATMENT', emergency: { reason: `unconscious patient, stroke suspected ${MARKER}` } })
    .expect(200);
  expect(emergency.body.decision).toBe('PERMIT');
  const review = await http().post(`/v1/reviews/emergency-access/${emergency.body.eventId}`).set(bearer(t.security)).send({ verdict: 'justified', note: `checked with ward ${MARKER}` }).expect(200);
  await http().put(`/v1/patients/${PATIENT}/consents/RESEARCH`).set(bearer(t.steward)).send({ status: 'granted', capturedBy: 'nurse-9', evidenceRef: `form-${MARKER}` }).expect(200);
  await http().delete(`/v1/patients/${PATIENT}/consents/RESEARCH`).set(bearer(t.steward)).send({ capturedBy: 'nurse-9', evidenceRef: `letter-${MARKER}` }).expect(200);
  // Annotation notes and review reasons are personal too.
  await http().put('/v1/datasets/ds-1').set(bearer(t.steward)).send({ purpose: 'AI_TRAINING', labels: ['nodule'], credentials: ['certified-radiologist'], minReviewers: 1 }).expect(200);
  await http().put(`/v1/patients/${PATIENT}/consents/AI_TRAINING`).set(bearer(t.patient)).send({ status: 'granted', categories: ['ANNOTATIONS'] }).expect(200);
  const annotation = await http().post(`/v1/images/${image.imageId}/annotations`).set(bearer(t.annotator)).send({ label: 'nodule', geometry: { type: 'bbox', x: 1, y: 1, width: 2, height: 2 }, confidence: 0.5, note: `lesion ${MARKER}` }).expect(201);
  await http().put(`/v1/annotations/${annotation.body.annotationId}`).set(bearer(t.annotator)).set('if-match', '"1"').send({ note: `lesion again ${MARKER}` }).expect(200);
  await http().post(`/v1/annotations/${annotation.body.annotationId}/reviews`).set(bearer(t.reviewer)).send({ verdict: 'rejected', reason: `wrong side ${MARKER}` }).expect(200);
  return { emergencyEventId: emergency.body.eventId as string, lastSeq: review.body.sequence as number };
}

/** Who reads which personal field in clear: the patient and the rules that grant it; oversight sees `{"redacted": true}`. */
async function checkReads(app: INestApplication, t: Tokens, emergencyEventId: string): Promise<void> {
  const http = () => request(app.getHttpServer());
  const history = async (token: string) => (await http().get(`/v1/patients/${PATIENT}/consents/history`).set(bearer(token)).expect(200)).body.items as Array<{ evidenceRef?: unknown }>;
  const own = (await history(t.patient)).map((i) => i.evidenceRef).filter((r) => r !== undefined);
  expect(own).toEqual([`form-${MARKER}`, `letter-${MARKER}`]);
  expect((await history(t.steward)).map((i) => i.evidenceRef).filter((r) => r !== undefined)).toEqual([`form-${MARKER}`, `letter-${MARKER}`]);
  for (const oversight of [t.regulator, t.security]) {
    expect((await history(oversight)).map((i) => i.evidenceRef).filter((r) => r !== undefined)).toEqual([{ redacted: true }, { redacted: true }]);
  }
  const queue = await http().get('/v1/reviews/emergency-access?status=all').set(bearer(t.security)).expect(200);
  const item = (queue.body.items as Array<{ eventId: string; reason: unknown; note: unknown }>).find((i) => i.eventId === emergencyEventId);
  expect(item).toMatchObject({ reason: `unconscious patient, stroke suspected ${MARKER}`, note: `checked with ward ${MARKER}` });
  expect(JSON.stringify(queue.body)).not.toContain('Sealed');
  // The patient reads their own image with demographics.
  const mine = await http().get(`/v1/images/img-${CLEAR}?purpose=TREATMENT`).set(bearer(t.patient)).expect(200);
  expect(mine.body.demographics).toEqual({ sex: `F-${MARKER}`, birthYear: 1970, ethnicity: `e-${MARKER}` });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

function holding(files: readonly string[], needle: string): string[] {
  const bytes = Buffer.from(needle, 'utf8');
  return files.filter((f) => readFileSync(f).includes(bytes));
}

describe('personal fields sealed under per-patient keys (embedded, PGlite on disk)', () => {
  let dir: string;
  let app: INestApplication;
  const lines: string[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'custos-keys-'));
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    app = await createGatewayApp(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'debug', RELAY_POLL_MS: '10' }), pino({ level: 'debug' }, sink));
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the marker nowhere in the data folder or the logs, while entitled readers read it and others see it redacted', async () => {
    const t = await tokensFor(app);
    const { emergencyEventId, lastSeq } = await writeEverything(app, t);
    await waitForProjection(app, t.security, PATIENT, lastSeq + 3);
    await checkReads(app, t, emergencyEventId);
    // The KEK the embedded mode made is in the data folder (0600) and said so once in the log.
    expect(statSync(join(dir, 'keys', 'kek.jwk.json')).mode & 0o777).toBe(0o600);
    expect(lines.filter((l) => l.includes('generated a key-encryption key'))).toHaveLength(1);
    // Stop PGlite so everything is on disk, then read every byte of the folder.
    await app.close();
    const files = filesUnder(dir);
    expect(holding(files, CLEAR).length).toBeGreaterThan(0); // the scan sees stored text
    expect(holding(files, MARKER)).toEqual([]);
    expect(lines.join('')).not.toContain(MARKER);
    app = await createGatewayApp(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' }), createLogger('silent'));
    await app.init();
    // Reopened with the same folder, the same KEK opens everything again.
    await checkReads(app, await tokensFor(app), emergencyEventId);
  });

  it('erases a patient by destroying their key: events stay, the chain verifies, the trail lists every access, nothing personal opens for any role', async () => {
    const t = await tokensFor(app);
    const http = () => request(app.getHttpServer());
    const trailBefore = (await http().get(`/v1/patients/${PATIENT}/access-trail?limit=500`).set(bearer(t.security)).expect(200)).body.items as unknown[];
    // A legal hold stops erasure; lifting it lets it through.
    await http().put(`/v1/patients/${PATIENT}/legal-hold`).set(bearer(t.security)).send({ active: true, reference: 'case-2026-11' }).expect(200);
    const held = await http().post(`/v1/patients/${PATIENT}/erasure`).set(bearer(t.steward)).send({ reference: 'ticket-1' }).expect(409);
    expect(held.body.code).toBe('legal-hold');
    await http().put(`/v1/patients/${PATIENT}/legal-hold`).set(bearer(t.steward)).send({ active: false, reference: 'case-2026-11' }).expect(403);
    await http().put(`/v1/patients/${PATIENT}/legal-hold`).set(bearer(t.security)).send({ active: false, reference: 'case-2026-11' }).expect(200);
    await http().post(`/v1/patients/${PATIENT}/erasure`).set(bearer(t.clinician)).send({ reference: 'ticket-1' }).expect(403);
    await http().post(`/v1/patients/${PATIENT}/erasure`).set(bearer(t.steward)).send({ reference: '<script>' }).expect(400);
    const erased = await http().post(`/v1/patients/${PATIENT}/erasure`).set(bearer(t.steward)).send({ reference: 'ticket-1' }).expect(200);
    expect(erased.body.keysDestroyed).toHaveLength(1);

    for (const token of [t.patient, t.steward, t.regulator, t.security]) {
      const items = (await http().get(`/v1/patients/${PATIENT}/consents/history`).set(bearer(token)).expect(200)).body.items as Array<{ evidenceRef?: unknown }>;
      expect(JSON.stringify(items)).not.toContain(MARKER);
    }
    const own = (await http().get(`/v1/patients/${PATIENT}/consents/history`).set(bearer(t.patient)).expect(200)).body.items as Array<{ evidenceRef?: unknown }>;
    expect(own.map((i) => i.evidenceRef).filter((r) => r !== undefined)).toEqual([{ erased: true }, { erased: true }]);
    const queue = await http().get('/v1/reviews/emergency-access?status=all').set(bearer(t.security)).expect(200);
    expect(JSON.stringify(queue.body)).not.toContain(MARKER);
    expect(JSON.stringify(queue.body)).toContain('"erased":true');
    const image = await http().get(`/v1/images/img-${CLEAR}?purpose=TREATMENT`).set(bearer(t.patient)).expect(200);
    expect(image.body.demographics).toEqual({ erased: true });

    const db = (app.get(Database) as Database);
    expect((await verifyChain(db)).ok).toBe(true);
    await waitForProjection(app, t.security, PATIENT, (erased.body.sequence as number) + 1);
    const trailAfter = (await http().get(`/v1/patients/${PATIENT}/access-trail?limit=500`).set(bearer(t.security)).expect(200)).body.items as Array<{ eventId: string }>;
    // Every access listed before is still there (more: the reads just made are recorded too).
    const after = new Set(trailAfter.map((i) => i.eventId));
    for (const i of trailBefore as Array<{ eventId: string }>) expect(after.has(i.eventId)).toBe(true);

    // A later event of the patient gets a new key, readable again.
    await http().put(`/v1/patients/${PATIENT}/consents/RESEARCH`).set(bearer(t.steward)).send({ status: 'granted', capturedBy: 'nurse-9', evidenceRef: 'form-after' }).expect(200);
    const again = (await http().get(`/v1/patients/${PATIENT}/consents/history`).set(bearer(t.patient)).expect(200)).body.items as Array<{ evidenceRef?: unknown }>;
    expect(again[again.length - 1]?.evidenceRef).toBe('form-after');
  });

  it('answers hostile input on the new routes with a 4xx, never a 500; two erasures at once destroy the keys once', async () => {
    const t = await tokensFor(app);
    const http = () => request(app.getHttpServer());
    const bad: Array<[string, unknown]> = [
      ['too long', { reference: `r${'x'.repeat(200)}` }],
      ['not a string', { reference: 12 }],
      ['missing', {}],
      ['ill-formed', { reference: 'ticket-\uD800' }],
      ['nested', { reference: { a: { b: { c: {} } } } }],
      ['extra field', { reference: 'ticket-1', evil: true }],
    ];
    for (const [why, body] of bad) {
      const raw = JSON.stringify(body); // a lone surrogate goes out as the escape \ud800, as a client would send it
      const res = await http().post('/v1/patients/p-hostile/erasure').set(bearer(t.steward)).set('content-type', 'application/json').send(raw);
      expect({ why, status: res.status }).toEqual({ why, status: 400 });
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    expect((await http().put('/v1/patients/p-hostile/legal-hold').set(bearer(t.security)).send({ active: 'yes', reference: 'case-1' })).status).toBe(400);
    expect((await http().post('/v1/admin/keys/rotate').set(bearer(t.admin)).send({ kind: ['kek'] })).status).toBe(400);
    expect((await http().post('/v1/patients/bad%00id/erasure').set(bearer(t.steward)).send({ reference: 'ticket-1' })).status).toBe(400);
    // A patient cannot erase (their request goes through the steward), not even their own data.
    expect((await http().post(`/v1/patients/${PATIENT}/erasure`).set(bearer(t.patient)).send({ reference: 'ticket-1' })).status).toBe(403);

    await http().put('/v1/patients/p-race/consents/RESEARCH').set(bearer(t.steward)).send({ status: 'granted', capturedBy: 'nurse-9', evidenceRef: 'form-race' }).expect(200);
    const both = await Promise.all([1, 2].map(() => http().post('/v1/patients/p-race/erasure').set(bearer(t.steward)).send({ reference: 'ticket-race' })));
    expect(both.map((r) => r.status).sort()).toEqual(expect.arrayContaining([200]));
    for (const r of both) expect([200, 409]).toContain(r.status);
    const db = app.get(Database) as Database;
    expect(await db.query("SELECT kid FROM custos_data_keys WHERE owner = 'p-race' AND wrapped IS NOT NULL")).toHaveLength(0);
  });

  it('rotates the KEK and the signing keys (admin only, recorded): every event still opens, every old receipt still verifies offline', async () => {
    const t = await tokensFor(app);
    const http = () => request(app.getHttpServer());
    const before = await http().put(`/v1/patients/${PATIENT}/consents/AI_TRAINING`).set(bearer(t.patient)).send({ status: 'granted' }).expect(200);
    const oldReceipt = before.body.receipt as string;
    await http().post('/v1/admin/keys/rotate').set(bearer(t.security)).send({ kind: 'kek' }).expect(403);
    await http().post('/v1/admin/keys/rotate').set(bearer(t.admin)).send({ kind: 'everything' }).expect(400);
    const kek = await http().post('/v1/admin/keys/rotate').set(bearer(t.admin)).send({ kind: 'kek' }).expect(200);
    expect(kek.body.rewrapped).toBeGreaterThan(0);
    const signing = await http().post('/v1/admin/keys/rotate').set(bearer(t.admin)).send({ kind: 'signing' }).expect(200);
    expect(signing.body.previous.length).toBeGreaterThan(0);
    // The dev issuer signs with its new key from now on, and the gateway accepts what it signs.
    const fresh = await devToken(app, { sub: 'pat-1', roles: ['patient'], patient_id: PATIENT });
    await http().get(`/v1/patients/${PATIENT}/consents`).set(bearer(fresh)).expect(200);
    const after = await http().put(`/v1/patients/${PATIENT}/consents/AI_TRAINING`).set(bearer(t.patient)).send({ status: 'denied' }).expect(200);
    const jwks = (await http().get('/.well-known/jwks.json').expect(200)).body as { keys: object[] };
    const keystore = await jose.JWK.asKeyStore(jwks);
    for (const receipt of [oldReceipt, after.body.receipt as string]) {
      const verified = await jose.JWS.createVerify(keystore, { algorithms: ['ES256'] }).verify(receipt);
      expect(JSON.parse(verified.payload.toString()).piiPrincipalId).toBe(PATIENT);
    }
    expect(jose.JWS.createVerify).toBeDefined();
    const history = (await http().get(`/v1/patients/${PATIENT}/consents/history`).set(bearer(t.patient)).expect(200)).body.items as Array<{ evidenceRef?: unknown }>;
    expect(history.map((i) => i.evidenceRef).filter((r) => typeof r === 'string')).toEqual(['form-after']);
    // Both rotations are in the log, with who did them.
    const db = app.get(Database) as Database;
    const rotations = await db.query<{ data: { kind: string } }>("SELECT data FROM custos_events WHERE type = 'KeysRotated' ORDER BY global_seq");
    expect(rotations.map((r) => r.data.kind)).toEqual(['kek', 'signing']);
  });
});

describe('key files from before the key service', () => {
  it('adopts a readable receipt key (old receipts still verify) and stops at boot on an unreadable one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'custos-legacy-'));
    try {
      const legacy = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig', kid: 'custos-receipts-legacy' });
      mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, 'keys', 'receipts.jwk.json'), JSON.stringify(legacy.toJSON(true)), { mode: 0o600 });
      const oldReceipt = (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: legacy.kid } }, legacy).update('{"jti":"old"}').final()) as unknown as string;
      let app = await createGatewayApp(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' }), createLogger('silent'));
      await app.init();
      const jwks = (await request(app.getHttpServer()).get('/.well-known/jwks.json').expect(200)).body as { keys: Array<{ kid: string; d?: string }> };
      expect(jwks.keys.map((k) => k.kid)).toContain('custos-receipts-legacy');
      expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
      await jose.JWS.createVerify(await jose.JWK.asKeyStore(jwks)).verify(oldReceipt);
      await app.close();
      // A private key others may read, outside DATA_DIR (whose files are closed to 0600 at open): refused, as ssh does.
      const elsewhere = mkdtempSync(join(tmpdir(), 'custos-receipt-key-'));
      try {
        const shared = join(elsewhere, 'receipts.jwk.json');
        writeFileSync(shared, JSON.stringify(legacy.toJSON(true)), { mode: 0o644 });
        await expect(createGatewayApp(loadConfig({ DATA_DIR: dir, RECEIPT_KEY_FILE: shared, LOG_LEVEL: 'silent' }), createLogger('silent'))).rejects.toThrow(/RECEIPT_KEY_FILE names a key file that group or others may access \(mode 0644/);
      } finally {
        rmSync(elsewhere, { recursive: true, force: true });
      }
      writeFileSync(join(dir, 'keys', 'receipts.jwk.json'), '{"kty": "EC", broken');
      app = await createGatewayApp(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' }), createLogger('silent')).catch((e: unknown) => {
        expect(String(e)).toMatch(/RECEIPT_KEY_FILE names a key file that holds no valid JWK/);
        return undefined as unknown as INestApplication;
      });
      expect(app).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('personal fields sealed (distributed: PostgreSQL, Kafka)', () => {
  let pg: TestDatabase;
  beforeAll(async () => {
    pg = await createTestDatabase();
  });
  afterAll(async () => {
    await pg.drop();
  });

  it('finds the marker in no pg_dump and in no Kafka message; a wrong KEK stops the process at boot; a damaged data key is a 503 for its requests only', async () => {
    const prefix = uniquePrefix();
    const env = { DATABASE_URL: pg.url, KEK: TEST_KEK, KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', KAFKA_TOPIC_PREFIX: prefix, AUTH_DEV_ISSUER: 'true', LOG_LEVEL: 'silent', RELAY_POLL_MS: '10', KAFKA_TOPIC_PARTITIONS: '2' };
    const config = loadConfig(env);
    const gateway = await boot(config);
    const relay = await createProcessApp({ name: 'relay', contexts: CONTEXTS, providers: [RelayProcess] }, config, createLogger('silent'));
    await relay.init();
    const kafka = createKafka(config.kafka!, createLogger('silent'), 'keys-test');
    const consumer = kafka.consumer({ groupId: `${prefix}reader` });
    try {
      const t = await tokensFor(gateway);
      await writeEverything(gateway, t);
      const db = gateway.get(Database) as Database;
      const total = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM custos_events'))[0]?.n);

      const dump = execFileSync('pg_dump', ['--data-only', pg.url], { maxBuffer: 64 * 1024 * 1024 }).toString('utf8');
      expect(dump).toContain(CLEAR);
      expect(dump).not.toContain(MARKER);

      const messages: string[] = [];
      await consumer.connect();
      await consumer.subscribe({ topics: allTopics(prefix), fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void messages.push(message.value?.toString('utf8') ?? '') });
      const deadline = Date.now() + 30_000;
      while (messages.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(messages.length).toBeGreaterThanOrEqual(total);
      expect(messages.join('\n')).toContain(CLEAR);
      expect(messages.join('\n')).not.toContain(MARKER);

      // A wrong KEK stops a gateway at boot, naming the variable.
      await expect(boot(loadConfig({ ...env, KEK: Buffer.alloc(32, 1).toString('base64url') }))).rejects.toThrow(/KEK does not hold the key-encryption key the stored keys are wrapped under/);
      // A data key that does not unwrap (a damaged row) is a 503 for the requests that need it, and only for them.
      await asSuperuser(pg.url, (c) => c.query("UPDATE custos_data_keys SET wrapped = regexp_replace(wrapped, '\\.[^.]+$', '.AAAAAAAAAAAAAAAAAAAAAA') WHERE owner = $1", [PATIENT]));
      const second = await boot(config); // a fresh process: nothing cached
      try {
        const s = await tokensFor(second);
        const denied = await request(second.getHttpServer()).get(`/v1/patients/${PATIENT}/consents/history`).set(bearer(s.patient)).expect(503);
        expect(denied.body.code).toBe('key-unavailable');
        expect(JSON.stringify(denied.body)).not.toContain(MARKER);
        await request(second.getHttpServer()).get(`/v1/patients/${PATIENT}/consents/history`).set(bearer(s.regulator)).expect(200);
        await request(second.getHttpServer()).get(`/v1/patients/${PATIENT}/consents`).set(bearer(s.patient)).expect(200);
        await request(second.getHttpServer()).post('/v1/images').set(bearer(s.steward)).send(IMAGE('img-other', 'p-other')).expect(201);
      } finally {
        await second.close();
      }
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await gateway.close();
      await relay.close();
      await deleteTopicsWithPrefix(config.kafka!.brokers, prefix);
    }
  });

  it('refuses to start in distributed mode without a KEK, naming the variable', async () => {
    const config = loadConfig({ DATABASE_URL: pg.url, KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', LOG_LEVEL: 'silent' });
    await expect(boot(config)).rejects.toThrow(/KEK_FILE or KEK is required in distributed mode/);
  });

  it('refuses to start with a KEK_FILE group or others may read, naming the variable; starts once it is 0600', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'custos-kek-'));
    try {
      const path = join(dir, 'kek.jwk.json');
      writeFileSync(path, JSON.stringify({ kty: 'oct', k: TEST_KEK }), { mode: 0o644 });
      const config = loadConfig({ DATABASE_URL: pg.url, KEK_FILE: path, KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', LOG_LEVEL: 'silent' });
      await expect(boot(config)).rejects.toThrow(/KEK_FILE names a key file that group or others may access \(mode 0644/);
      chmodSync(path, 0o600);
      const app = await boot(config);
      await app.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
