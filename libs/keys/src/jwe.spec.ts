import { randomBytes } from 'node:crypto';
import jose from 'node-jose';
import { encryptDirA256Gcm } from './jwe.js';

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
});
