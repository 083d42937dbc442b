import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyChain } from '@custos/event-store';
import { EventStore } from '@custos/event-store';
import { UnavailableError } from '@custos/errors';
import { openTestStore, type StoreKind, testEvent, type TestStore } from '@custos/testing';
import jose from 'node-jose';
import { KeyConfigError, type KekRing, octKek, openKek } from './kek.js';
import { KeyService } from './key-service.js';
import { ERASED, PayloadCipher, REDACTED, SEALED } from './payloads.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

const MARKER = 'ZEBRA-7f3a-personal';
const SCHEMA = { TestHappened: ['secret', 'other'] };

async function ring(): Promise<KekRing> {
  return openKek({ kind: 'memory' }, () => undefined);
}

describe('openKek (the key-encryption key, at boot)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'custos-kek-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses distributed mode without one, naming the variables', async () => {
    await expect(openKek({ kind: 'none' }, () => undefined)).rejects.toThrow(/KEK_FILE or KEK is required in distributed mode/);
  });

  it('refuses a KEK that is not 32 bytes, an unreadable or malformed KEK_FILE', async () => {
    await expect(openKek({ kind: 'inline', base64url: 'c2hvcnQ' }, () => undefined)).rejects.toThrow(KeyConfigError);
    await expect(openKek({ kind: 'file', path: join(dir, 'missing.json') }, () => undefined)).rejects.toThrow(/KEK_FILE cannot be read \(ENOENT/);
    writeFileSync(join(dir, 'bad.json'), 'not json', { mode: 0o600 });
    await expect(openKek({ kind: 'file', path: join(dir, 'bad.json') }, () => undefined)).rejects.toThrow(/KEK_FILE is not JSON/);
    writeFileSync(join(dir, 'rsa.json'), JSON.stringify({ kty: 'RSA', n: 'x', e: 'AQAB' }), { mode: 0o600 });
    await expect(openKek({ kind: 'file', path: join(dir, 'rsa.json') }, () => undefined)).rejects.toThrow(/256-bit symmetric/);
  });

  it('refuses a KEK_FILE that group or others may read or write, naming the variable and the mode, as ssh does (through a symlink too)', async () => {
    const path = join(dir, 'kek.jwk.json');
    writeFileSync(path, JSON.stringify({ kty: 'oct', k: Buffer.alloc(32, 7).toString('base64url') }), { mode: 0o600 });
    const opened = await openKek({ kind: 'file', path }, () => undefined);
    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666]) {
      chmodSync(path, mode);
      await expect(openKek({ kind: 'file', path }, () => undefined)).rejects.toThrow(new RegExp(`^Key configuration: KEK_FILE names a key file that group or others may access \\(mode 0${mode.toString(8)}: `));
    }
    chmodSync(path, 0o644);
    symlinkSync(path, join(dir, 'link.json')); // a Kubernetes secret volume mounts symlinks: the target's mode counts
    await expect(openKek({ kind: 'file', path: join(dir, 'link.json') }, () => undefined)).rejects.toThrow(/KEK_FILE names a key file that group or others may access \(mode 0644/);
    chmodSync(path, 0o400);
    expect((await openKek({ kind: 'file', path: join(dir, 'link.json') }, () => undefined)).active.kid).toBe(opened.active.kid);
  });

  it('refuses an embedded KEK file opened up to group or others, naming DATA_DIR', async () => {
    const path = join(dir, 'keys', 'kek.jwk.json');
    await openKek({ kind: 'generated', path }, () => undefined);
    chmodSync(path, 0o640);
    await expect(openKek({ kind: 'generated', path }, () => undefined)).rejects.toThrow(/^Key configuration: DATA_DIR names a key file that group or others may access \(mode 0640/);
  });

  it('embedded mode makes one on first start (0600, one warning) and opens the same one after', async () => {
    const warnings: string[] = [];
    const path = join(dir, 'keys', 'kek.jwk.json');
    const first = await openKek({ kind: 'generated', path }, (m) => warnings.push(m));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/development only/);
    const again = await openKek({ kind: 'generated', path }, (m) => warnings.push(m));
    expect(again.active.kid).toBe(first.active.kid);
    expect(warnings).toHaveLength(1);
    writeFileSync(path, '{broken');
    await expect(openKek({ kind: 'generated', path }, () => undefined)).rejects.toThrow(/not JSON/);
  });
});

describe.each<StoreKind>(['pglite', 'postgres'])('KeyService and PayloadCipher on %s', (kind) => {
  let t: TestStore;
  let keys: KeyService;
  let kek: KekRing;
  beforeEach(async () => {
    t = await openTestStore(kind, ALL_MIGRATIONS);
    kek = await ring();
    keys = new KeyService(t.db, kek);
  });
  afterEach(async () => {
    await t.close();
  });

  it('makes one data key per owner, even for concurrent callers, and stores it wrapped only', async () => {
    const [a, b] = await Promise.all([keys.dataKeyFor('p1'), new KeyService(t.db, kek).dataKeyFor('p1')]);
    expect(a.kid).toBe(b.kid);
    expect((await keys.dataKeyFor('p2')).kid).not.toBe(a.kid);
    const rows = await t.db.query<{ kid: string; wrapped: string }>('SELECT kid, wrapped FROM custos_data_keys ORDER BY kid');
    expect(rows).toHaveLength(2);
    const raw = (a.key.toJSON(true) as { k: string }).k;
    for (const r of rows) {
      expect(r.wrapped.split('.')).toHaveLength(5); // a compact JWE
      expect(r.wrapped).not.toContain(raw);
    }
  });

  it('a wrapped key that does not unwrap under this KEK is unavailable (503), not a 500 and not plaintext', async () => {
    const { kid } = await keys.dataKeyFor('p1');
    const stranger = new KeyService(t.db, await ring());
    const err = await stranger.dataKey(kid).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).code).toBe('key-unavailable');
  });

  it('seals personal fields before the chain sees them; opens, redacts, and reads erased after the key is destroyed', async () => {
    const cipher = new PayloadCipher(keys, SCHEMA);
    const store = new EventStore(t.db, { sealer: cipher });
    const [stored] = (await store.append('test-1', [testEvent('TestHappened', { n: 1, secret: MARKER, other: { nested: MARKER } }, 'p1')], { expectedVersion: 'no-stream' })).events;
    const data = stored?.data as Record<string, unknown>;
    expect(Object.keys(data).sort()).toEqual(['n', SEALED]);
    expect(JSON.stringify(await t.db.query('SELECT * FROM custos_events'))).not.toContain(MARKER);
    expect(JSON.stringify(await t.db.query('SELECT * FROM custos_outbox'))).not.toContain(MARKER);
    expect((await verifyChain(t.db)).ok).toBe(true);

    const [read] = await store.readStream('test-1');
    expect((await cipher.open(read!)).data).toEqual({ n: 1, secret: MARKER, other: { nested: MARKER } });
    expect(cipher.redact(read!).data).toEqual({ n: 1, secret: REDACTED, other: REDACTED });
    expect((await cipher.reveal(read!, (f) => f === 'secret')).data).toEqual({ n: 1, secret: MARKER, other: REDACTED });

    // An event written before sealing is shown by the same rules.
    const legacy = { type: 'TestHappened', data: { n: 0, secret: 'old', other: 'older' } };
    expect((await cipher.reveal(legacy, (f) => f === 'other')).data).toEqual({ n: 0, secret: REDACTED, other: 'older' });

    // An event without personal fields, and one without a patient (a per-context key), pass as they should.
    const [plain] = (await store.append('test-2', [testEvent('TestHappened', { n: 2 })], { expectedVersion: 'no-stream' })).events;
    expect(plain?.data).toEqual({ n: 2 });
    const [noPatient] = (await store.append('dataset-x', [testEvent('TestHappened', { secret: MARKER })], { expectedVersion: 'no-stream' })).events;
    expect((await t.db.query<{ owner: string }>('SELECT owner FROM custos_data_keys ORDER BY owner')).map((r) => r.owner)).toEqual(['context:dataset', 'p1']);
    expect((await cipher.open(noPatient!)).data).toEqual({ secret: MARKER });

    // Erasure: the key goes, the event stays (chain intact), its fields read as erased, everywhere.
    expect(await keys.destroy('p1')).toHaveLength(1);
    expect((await cipher.open(read!)).data).toEqual({ n: 1, secret: ERASED, other: ERASED });
    const elsewhere = new PayloadCipher(new KeyService(t.db, kek), SCHEMA);
    expect((await elsewhere.open(read!)).data).toEqual({ n: 1, secret: ERASED, other: ERASED });
    expect((await verifyChain(t.db)).ok).toBe(true);
    expect(await t.db.query('SELECT * FROM custos_data_keys WHERE owner = $1 AND wrapped IS NOT NULL', ['p1'])).toHaveLength(0);
    // A later event of that patient gets a new key.
    const [later] = (await store.append('test-1', [testEvent('TestHappened', { secret: 'new' }, 'p1')], { expectedVersion: 1 })).events;
    expect((await cipher.open(later!)).data).toEqual({ secret: 'new' });
  });

  it('openMany: one key-table query per call, past caches smaller than the call, same fields as open; a key destroyed elsewhere reads erased at once; an unknown kid is unavailable', async () => {
    const writer = new EventStore(t.db, { sealer: new PayloadCipher(keys, SCHEMA) });
    const stored = [];
    for (let p = 0; p < 5; p++) stored.push(...(await writer.append(`test-${p}`, [testEvent('TestHappened', { n: p, secret: `${MARKER}-${p}` }, `p${p}`)], { expectedVersion: 'no-stream' })).events);
    const plain = { data: { n: 99 } };
    let keyQueries = 0;
    const counting = Object.assign(Object.create(t.db) as typeof t.db, {
      query: (text: string, ...rest: unknown[]) => {
        if (text.includes('custos_data_keys')) keyQueries += 1;
        return (t.db.query as (...a: unknown[]) => unknown)(text, ...rest);
      },
    });
    const small = new KeyService(counting, kek, { maxCached: 2 });
    const cipher = new PayloadCipher(small, SCHEMA, 2);
    const opened = await cipher.openMany([...stored, plain]);
    expect(keyQueries).toBe(1);
    expect(opened.map((e) => e.data)).toEqual([...stored.map((_, p) => ({ n: p, secret: `${MARKER}-${p}` })), { n: 99 }]);
    expect(await Promise.all(stored.map(async (e) => (await new PayloadCipher(new KeyService(t.db, kek), SCHEMA).open(e)).data))).toEqual(opened.slice(0, 5).map((e) => e.data));
    // A second call asks the table again (nothing was kept): p1 erased by another process shows at once.
    const kidOf = (e: { data: unknown }) => (JSON.parse(Buffer.from(((e.data as Record<string, string>)[SEALED] as string).split('.')[0] as string, 'base64url').toString()) as { kid: string }).kid;
    expect('key' in (await small.dataKey(kidOf(stored[1]!)))).toBe(true); // now in this process's key cache
    await new KeyService(t.db, kek).destroy('p1');
    keyQueries = 0;
    const again = await cipher.openMany(stored);
    expect(keyQueries).toBe(1);
    expect(again[1]?.data).toEqual({ n: 1, secret: ERASED });
    expect(again[0]?.data).toEqual({ n: 0, secret: `${MARKER}-0` });

    // A kid the key table does not hold is unavailable, as for open; a key that does not unwrap too.
    const jwe = (stored[0]!.data as Record<string, string>)[SEALED] as string;
    const [h, ...rest] = jwe.split('.');
    const unknownKid = [Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h as string, 'base64url').toString()), kid: 'dk-nowhere' })).toString('base64url'), ...rest].join('.');
    const err = await cipher.openMany([stored[0]!, { data: { [SEALED]: unknownKid } }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).code).toBe('key-unavailable');
    const stranger = new PayloadCipher(new KeyService(t.db, await ring()), SCHEMA);
    await expect(stranger.openMany([stored[0]!])).rejects.toThrow(UnavailableError);
    expect(await cipher.openMany([])).toEqual([]);
  });

  it('refuses ill-formed text in a personal field before sealing it', async () => {
    const store = new EventStore(t.db, { sealer: new PayloadCipher(keys, SCHEMA) });
    await expect(store.append('test-1', [testEvent('TestHappened', { secret: 'a\uD800b' }, 'p1')], { expectedVersion: 'no-stream' })).rejects.toThrow(/ill-formed|surrogate/i);
  });

  it('rotates a signing key: the old public key stays in the JWKS and what it signed still verifies', async () => {
    const first = await keys.signingKey('receipts');
    const signed = (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: first.kid } }, first.key).update('hello').final()) as unknown as string;
    const rotated = await keys.rotateSigning('receipts');
    expect(rotated.retired).toBe(first.kid);
    expect((await keys.signingKey('receipts')).kid).toBe(rotated.active);
    const jwks = await keys.jwks();
    expect(jwks.keys.map((k) => (k as { kid: string }).kid)).toEqual(expect.arrayContaining([first.kid, rotated.active]));
    for (const k of jwks.keys) expect(k).not.toHaveProperty('d'); // public halves only
    const verified = await jose.JWS.createVerify(await jose.JWK.asKeyStore(jwks)).verify(signed);
    expect(verified.payload.toString()).toBe('hello');
  });

  it('rewraps every key under a new KEK without touching an event; the old KEK alone opens nothing after', async () => {
    const cipher = new PayloadCipher(keys, SCHEMA);
    const store = new EventStore(t.db, { sealer: cipher });
    const [stored] = (await store.append('test-1', [testEvent('TestHappened', { secret: MARKER }, 'p1')], { expectedVersion: 'no-stream' })).events;
    await keys.signingKey('receipts');
    const before = await t.db.query('SELECT global_seq, hash, data FROM custos_events ORDER BY global_seq');
    const next = await octKek(Buffer.alloc(32, 9));
    const both = jose.JWK.createKeyStore();
    await both.add(next);
    for (const k of kek.all.all()) await both.add(k);
    expect(await keys.rewrapAll({ active: next, all: both })).toEqual({ dataKeys: 1, signingKeys: 1 });
    expect(await t.db.query('SELECT global_seq, hash, data FROM custos_events ORDER BY global_seq')).toEqual(before);
    const onlyNew = jose.JWK.createKeyStore();
    await onlyNew.add(next);
    const fresh = new PayloadCipher(new KeyService(t.db, { active: next, all: onlyNew }), SCHEMA);
    expect((await fresh.open(stored!)).data).toEqual({ secret: MARKER });
    const old = new PayloadCipher(new KeyService(t.db, kek), SCHEMA);
    await expect(old.open(stored!)).rejects.toThrow(UnavailableError);
  });

  it('rotates a generated KEK (embedded): the ring file holds only the new key after, and every key still opens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'custos-kek-'));
    try {
      const path = join(dir, 'kek.jwk.json');
      const generated = await openKek({ kind: 'generated', path }, () => undefined);
      const service = new KeyService(t.db, generated);
      const cipher = new PayloadCipher(service, SCHEMA);
      const store = new EventStore(t.db, { sealer: cipher });
      const [stored] = (await store.append('test-1', [testEvent('TestHappened', { secret: MARKER }, 'p1')], { expectedVersion: 'no-stream' })).events;
      const r = await service.rotateKek();
      expect(r.previous).toEqual([generated.active.kid]);
      expect(r.active).not.toBe(generated.active.kid);
      const file = JSON.parse(readFileSync(path, 'utf8')) as { keys: Array<{ kid: string }> };
      expect(file.keys.map((k) => k.kid)).toEqual([r.active]);
      const reopened = new PayloadCipher(new KeyService(t.db, await openKek({ kind: 'generated', path }, () => undefined)), SCHEMA);
      expect((await reopened.open(stored!)).data).toEqual({ secret: MARKER });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
