import { createCipheriv, randomBytes } from 'node:crypto';

/**
 * One compact JWE (RFC 7516 §7.1) with `alg: "dir"` and `enc: "A256GCM"` (RFC 7518 §5.3):
 * BASE64URL(protected header) . (empty: no encrypted key with dir) . BASE64URL(96-bit IV) .
 * BASE64URL(ciphertext) . BASE64URL(128-bit tag), the ASCII of the encoded header as AAD.
 *
 * Why not node-jose here: sealing runs on the request path of every event with a personal
 * field, and node-jose took ~0.2 ms per JWE on this machine (4,884/s) against ~0.01 ms
 * (103,292/s) for the same bytes through node:crypto. node-jose stays the JOSE library of
 * Custos: it opens these parts, wraps and unwraps every key, and signs; a test has it decrypt
 * what this writes, and refuse it when a byte changes.
 */
export function encryptDirA256Gcm(key: Buffer, header: Readonly<Record<string, unknown>>, plaintext: Buffer): string {
  if (key.length !== 32) throw new Error('A256GCM needs a 256-bit key');
  if (header.alg !== 'dir' || header.enc !== 'A256GCM') throw new Error('this writer only makes dir + A256GCM');
  const encodedHeader = Buffer.from(JSON.stringify(header), 'utf8').toString('base64url');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(encodedHeader, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `${encodedHeader}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
}
