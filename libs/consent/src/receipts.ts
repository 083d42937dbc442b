import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import jose from 'node-jose';

/**
 * Signs consent receipts (JWS, ES256, node-jose) with a key whose public half is served at
 * /.well-known/jwks.json, so anyone can verify a receipt offline. The key is kept in a file
 * (embedded: inside DATA_DIR) so receipts stay verifiable across restarts; every gateway of a
 * distributed deployment must be given the same file (RECEIPT_KEY_FILE).
 */
export class ReceiptSigner {
  private constructor(private readonly key: jose.JWK.Key) {}

  static async open(keyFile?: string): Promise<ReceiptSigner> {
    if (keyFile) {
      try {
        return new ReceiptSigner(await jose.JWK.asKey(JSON.parse(await readFile(keyFile, 'utf8')) as object));
      } catch {
        /* no key yet: make one below */
      }
    }
    const fresh = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
    const kid = `custos-receipts-${createHash('sha256').update(JSON.stringify(fresh.toJSON(false))).digest('base64url').slice(0, 16)}`;
    const key = await jose.JWK.asKey({ ...(fresh.toJSON(true) as object), kid });
    if (keyFile) {
      await mkdir(dirname(keyFile), { recursive: true });
      await writeFile(keyFile, JSON.stringify(key.toJSON(true)), { mode: 0o600 });
    }
    return new ReceiptSigner(key);
  }

  publicJwk(): object {
    return this.key.toJSON(false);
  }

  async sign(claims: object): Promise<string> {
    return (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: this.key.kid, typ: 'JWT', cty: 'consent-receipt' } }, this.key)
      .update(JSON.stringify(claims))
      .final()) as unknown as string;
  }
}
