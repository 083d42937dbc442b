import { randomBytes } from 'node:crypto';
import jose from 'node-jose';
import { UnavailableError } from '@custos/errors';
import { decryptDirA256Gcm, encryptDirA256Gcm, unwrapA256KwA256Gcm } from './jwe.js';
import { openKek } from './kek.js';
import { KeyService, wrapUnder } from './key-service.js';
import type { Sql } from '@custos/event-store';

describe('compact JWE, dir + A256GCM, written with node:crypto', () => {
  const raw = randomBytes(32);
  const header = { alg: 'dir', enc: 'A256GCM', kid: 'dk-1', fields: ['note'], cty: 'custos-personal+json' };

  it('is read by node-jose: same header, same plaintext', async () => {
    const key = await jose.JWK.asKey({ kty: 'oct', k: raw.toString('base64url'), alg: 'A256GCM', kid: 'dk-1' });
    const jwe = encryptDirA256Gcm(raw, header, Buffer.from('{"note":"héllo 𝄞"}'));
    expect(jwe.split('.')).toHaveLength(5);
    expect(jwe.split('.')[1]).toBe(''); // dir: no encrypted key
    const result = await jose.JWE.createDecrypt(key).decrypt(jwe);
    expect(result.plaintext.toString('utf8')).toBe('{"note":"héllo 𝄞"}');
    expect(result.header).toMatchObject(header);
  });

  it('is refused by node-jose when any part changes, or under another key', async () => {
    const key = await jose.JWK.asKey({ kty: 'oct', k: raw.toString('base64url'), alg: 'A256GCM', kid: 'dk-1' });
    const jwe = encryptDirA256Gcm(raw, header, Buffer.from('{"note":"x"}'));
    const parts = jwe.split('.');
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    for (const i of [0, 2, 3, 4]) {
      const tampered = parts.map((p, j) => (j === i ? flip(p) : p)).join('.');
      await expect(jose.JWE.createDecrypt(key).decrypt(tampered)).rejects.toBeDefined();
    }
    const other = await jose.JWK.asKey({ kty: 'oct', k: randomBytes(32).toString('base64url'), alg: 'A256GCM', kid: 'dk-1' });
    await expect(jose.JWE.createDecrypt(other).decrypt(jwe)).rejects.toBeDefined();
  });

  it('uses a fresh IV every time', () => {
    const a = encryptDirA256Gcm(raw, header, Buffer.from('same'));
    const b = encryptDirA256Gcm(raw, header, Buffer.from('same'));
    expect(a.split('.')[2]).not.toBe(b.split('.')[2]);
    expect(a).not.toBe(b);
  });

  describe('opened with node:crypto (the bulk path)', () => {
    it('agrees with node-jose on what either opens', async () => {
      const key = await jose.JWK.asKey({ kty: 'oct', k: raw.toString('base64url'), alg: 'A256GCM', kid: 'dk-1' });
      for (const text of ['{"note":"héllo 𝄞"}', '{}', 'x'.repeat(5000)]) {
        const jwe = encryptDirA256Gcm(raw, header, Buffer.from(text));
        const viaJose = (await jose.JWE.createDecrypt(key).decrypt(jwe)).plaintext.toString('utf8');
        expect(decryptDirA256Gcm(raw, jwe, 'dk-1')?.toString('utf8')).toBe(viaJose);
        expect(viaJose).toBe(text);
      }
      // node-jose's own dir + A256GCM output opens the same way.
      const byJose = await jose.JWE.createEncrypt({ format: 'compact', fields: { alg: 'dir', enc: 'A256GCM', kid: 'dk-1' } }, key).update(Buffer.from('{"a":1}')).final();
      expect(decryptDirA256Gcm(raw, byJose, 'dk-1')?.toString('utf8')).toBe('{"a":1}');
    });

    it('fails when the tag, ciphertext, IV or header changes, or under another key or kid', () => {
      const jwe = encryptDirA256Gcm(raw, header, Buffer.from('{"note":"x"}'));
      const parts = jwe.split('.');
      const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
      for (const i of [2, 3, 4]) expect(() => decryptDirA256Gcm(raw, parts.map((p, j) => (j === i ? flip(p) : p)).join('.'), 'dk-1')).toThrow();
      // A header still of the right form but changed (another cty): the AAD no longer authenticates.
      const otherHeader = Buffer.from(JSON.stringify({ ...header, cty: 'other' })).toString('base64url');
      expect(() => decryptDirA256Gcm(raw, [otherHeader, ...parts.slice(1)].join('.'), 'dk-1')).toThrow();
      expect(() => decryptDirA256Gcm(randomBytes(32), jwe, 'dk-1')).toThrow();
      expect(() => decryptDirA256Gcm(raw, jwe, 'dk-2')).toThrow();
    });

    it('leaves any other form to node-jose (null)', () => {
      const enc = (h: Record<string, unknown>) => encryptDirA256Gcm(raw, { alg: 'dir', enc: 'A256GCM' }, Buffer.from('x')).replace(/^[^.]*/, Buffer.from(JSON.stringify(h)).toString('base64url'));
      expect(decryptDirA256Gcm(raw, enc({ ...header, enc: 'A128GCM' }), 'dk-1')).toBeNull();
      expect(decryptDirA256Gcm(raw, enc({ ...header, alg: 'A256KW' }), 'dk-1')).toBeNull();
      expect(decryptDirA256Gcm(raw, enc({ ...header, zip: 'DEF' }), 'dk-1')).toBeNull();
      expect(decryptDirA256Gcm(raw, 'a.b.c.d.e', 'dk-1')).toBeNull();
      expect(decryptDirA256Gcm(raw, 'not a jwe', 'dk-1')).toBeNull();
      expect(decryptDirA256Gcm(raw, '!!!..a.b.c', 'dk-1')).toBeNull();
    });

    it('is faster than node-jose (figures for the report)', async () => {
      const key = await jose.JWK.asKey({ kty: 'oct', k: raw.toString('base64url'), alg: 'A256GCM', kid: 'dk-1' });
      const jwes = Array.from({ length: Number(process.env.JWE_BENCH_N ?? 300) }, (_, i) => encryptDirA256Gcm(raw, header, Buffer.from(`{"demographics":{"sex":"F","birthYear":${1900 + (i % 100)},"ethnicity":"white"}}`)));
      let t = performance.now();
      for (const j of jwes) decryptDirA256Gcm(raw, j, 'dk-1');
      const fast = performance.now() - t;
      t = performance.now();
      for (const j of jwes) await jose.JWE.createDecrypt(key).decrypt(j);
      const slow = performance.now() - t;
      if (process.env.JWE_BENCH_N) console.log(`open ${jwes.length}: node:crypto ${Math.round((jwes.length / fast) * 1000)}/s, node-jose ${Math.round((jwes.length / slow) * 1000)}/s`);
      expect(fast).toBeLessThan(slow);
    });
  });
});

describe('a stored key unwrapped with node:crypto (A256KW + A256GCM, the bulk path)', () => {
  const kekRaw = (k: jose.JWK.Key) => Buffer.from((k.toJSON(true) as { k: string }).k, 'base64url');
  const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);

  /** A KeyService over one stored row (no database): what dataKeys does with a wrapped key. */
  function serviceOver(ring: Awaited<ReturnType<typeof openKek>>, rows: Array<{ kid: string; wrapped: string | null }>): KeyService {
    const sql = { query: async () => rows, execute: async () => undefined, transaction: async () => undefined } as unknown as Sql & { transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> };
    return new KeyService(sql, ring);
  }

  it('agrees with node-jose on keys wrapped by wrapUnder (data keys and a longer payload)', async () => {
    const ring = await openKek({ kind: 'memory' }, () => undefined);
    const kekOf = (kid: string) => (kid === ring.active.kid ? kekRaw(ring.active) : undefined);
    for (const payload of [randomBytes(32), randomBytes(32), Buffer.from(JSON.stringify({ kty: 'EC', d: 'x'.repeat(43) }))]) {
      const wrapped = await wrapUnder(ring.active, payload);
      const viaJose = (await jose.JWE.createDecrypt(ring.all).decrypt(wrapped)).plaintext;
      expect(unwrapA256KwA256Gcm(kekOf, wrapped)).toEqual(viaJose);
      expect(viaJose).toEqual(payload);
    }
  });

  it('fails when the header, encrypted key, IV, ciphertext or tag changes, and under another KEK of the same kid', async () => {
    const ring = await openKek({ kind: 'memory' }, () => undefined);
    const kekOf = (kid: string) => (kid === ring.active.kid ? kekRaw(ring.active) : undefined);
    const wrapped = await wrapUnder(ring.active, randomBytes(32));
    const parts = wrapped.split('.');
    for (const i of [1, 2, 3, 4]) expect(() => unwrapA256KwA256Gcm(kekOf, parts.map((p, j) => (j === i ? flip(p) : p)).join('.'))).toThrow();
    const header = JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
    const otherHeader = Buffer.from(JSON.stringify({ ...header, cty: 'other' })).toString('base64url');
    expect(() => unwrapA256KwA256Gcm(kekOf, [otherHeader, ...parts.slice(1)].join('.'))).toThrow();
    expect(() => unwrapA256KwA256Gcm(() => randomBytes(32), wrapped)).toThrow();
  });

  it('leaves any other form to node-jose (null): another alg or enc, zip, crit, no kid, a kid the ring lacks, odd sizes', async () => {
    const ring = await openKek({ kind: 'memory' }, () => undefined);
    const kekOf = (kid: string) => (kid === ring.active.kid ? kekRaw(ring.active) : undefined);
    const wrapped = await wrapUnder(ring.active, randomBytes(32));
    const parts = wrapped.split('.');
    const header = JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
    const withHeader = (h: Record<string, unknown>) => [Buffer.from(JSON.stringify(h)).toString('base64url'), ...parts.slice(1)].join('.');
    expect(unwrapA256KwA256Gcm(kekOf, withHeader({ ...header, alg: 'A128KW' }))).toBeNull();
    expect(unwrapA256KwA256Gcm(kekOf, withHeader({ ...header, alg: 'dir' }))).toBeNull();
    expect(unwrapA256KwA256Gcm(kekOf, withHeader({ ...header, enc: 'A128GCM' }))).toBeNull();
    expect(unwrapA256KwA256Gcm(kekOf, withHeader({ ...header, zip: 'DEF' }))).toBeNull();
    expect(unwrapA256KwA256Gcm(kekOf, withHeader({ ...header, crit: ['x'] }))).toBeNull();
    expect(unwrapA256KwA256Gcm(kekOf, withHeader({ alg: 'A256KW', enc: 'A256GCM' }))).toBeNull();
    expect(unwrapA256KwA256Gcm(kekOf, withHeader({ ...header, kid: 'kek-unknown' }))).toBeNull();
    expect(unwrapA256KwA256Gcm(kekOf, [parts[0], 'AAAA', ...parts.slice(2)].join('.'))).toBeNull();
    expect(unwrapA256KwA256Gcm(kekOf, 'not a jwe')).toBeNull();
    expect(unwrapA256KwA256Gcm(kekOf, 'a.b.c.d')).toBeNull();
  });

  it('KeyService.dataKeys: the same bytes as node-jose; tampered rows fail with the same UnavailableError as dataKey; destroyed reads destroyed; unknown kids are left out', async () => {
    const ring = await openKek({ kind: 'memory' }, () => undefined);
    const raw = randomBytes(32);
    const wrapped = await wrapUnder(ring.active, raw);
    expect((await serviceOver(ring, [{ kid: 'dk-1', wrapped }, { kid: 'dk-2', wrapped: null }]).dataKeys(['dk-1', 'dk-2', 'dk-3']))).toEqual(
      new Map<string, unknown>([
        ['dk-1', { kid: 'dk-1', raw }],
        ['dk-2', { kid: 'dk-2', destroyed: true }],
      ]),
    );
    const parts = wrapped.split('.');
    for (const i of [0, 1, 2, 3, 4]) {
      const tampered = parts.map((p, j) => (j === i ? flip(p) : p)).join('.');
      const one = await serviceOver(ring, [{ kid: 'dk-1', wrapped: tampered, owner: 'p1', created_at: new Date() } as never]).dataKey('dk-1').catch((e: unknown) => e);
      const many = await serviceOver(ring, [{ kid: 'dk-1', wrapped: tampered }]).dataKeys(['dk-1']).catch((e: unknown) => e);
      for (const err of [one, many]) {
        expect(err).toBeInstanceOf(UnavailableError);
        expect((err as UnavailableError).code).toBe('key-unavailable');
      }
      expect((many as Error).message).toBe((one as Error).message);
    }
  });

  it('a KEK ring with two keys (rotation): keys wrapped under either unwrap by kid, with node:crypto', async () => {
    const old = await openKek({ kind: 'memory' }, () => undefined);
    const next = await openKek({ kind: 'memory' }, () => undefined);
    const all = jose.JWK.createKeyStore();
    await all.add(next.active);
    await all.add(old.active);
    const ring = { active: next.active, all };
    const a = randomBytes(32);
    const b = randomBytes(32);
    const rows = [
      { kid: 'dk-old', wrapped: await wrapUnder(old.active, a) },
      { kid: 'dk-new', wrapped: await wrapUnder(next.active, b) },
    ];
    const kekOf = (kid: string) => (kid === old.active.kid ? kekRaw(old.active) : kid === next.active.kid ? kekRaw(next.active) : undefined);
    expect(unwrapA256KwA256Gcm(kekOf, rows[0]!.wrapped)).toEqual(a);
    expect(unwrapA256KwA256Gcm(kekOf, rows[1]!.wrapped)).toEqual(b);
    const got = await serviceOver(ring, rows).dataKeys(['dk-old', 'dk-new']);
    expect(got.get('dk-old')).toEqual({ kid: 'dk-old', raw: a });
    expect(got.get('dk-new')).toEqual({ kid: 'dk-new', raw: b });
    // The old KEK alone does not open what the new one wrapped.
    await expect(serviceOver(old, rows).dataKeys(['dk-new'])).rejects.toThrow(UnavailableError);
  });

  it('is faster than node-jose (figures for the report)', async () => {
    const ring = await openKek({ kind: 'memory' }, () => undefined);
    const kekOf = () => kekRaw(ring.active);
    const wrapped = await Promise.all(Array.from({ length: Number(process.env.JWE_BENCH_N ?? 200) }, () => wrapUnder(ring.active, randomBytes(32))));
    let t = performance.now();
    for (const w of wrapped) unwrapA256KwA256Gcm(kekOf, w);
    const fast = performance.now() - t;
    t = performance.now();
    for (const w of wrapped) await jose.JWE.createDecrypt(ring.all).decrypt(w);
    const slow = performance.now() - t;
    if (process.env.JWE_BENCH_N) console.log(`unwrap ${wrapped.length}: node:crypto ${Math.round((wrapped.length / fast) * 1000)}/s, node-jose ${Math.round((wrapped.length / slow) * 1000)}/s`);
    expect(fast).toBeLessThan(slow);
  });
});
