import { randomBytes } from 'node:crypto';
import jose from 'node-jose';
import { decryptDirA256Gcm, encryptDirA256Gcm } from './jwe.js';

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
