import { readFile } from 'node:fs/promises';
import jose from 'node-jose';
import { assertPrivate, KeyConfigError } from './kek.js';
import type { KeyService, SigningPurpose } from './key-service.js';

/**
 * Compact JWS (ES256) with the active signing key of one purpose, through the key service.
 * Verification keys (active and retired) come from the same service, so whatever was signed
 * before a rotation still verifies.
 */
export class KeySigner {
  private store: Promise<jose.JWK.KeyStore> | undefined;
  private readAt = 0;
  private generation = -1;

  constructor(
    private readonly keys: KeyService,
    readonly purpose: SigningPurpose,
  ) {}

  /**
   * Brings a key file from before the key service under it (`variable` names the setting in
   * errors): a file that is there but cannot be read or parsed stops the process; no file is
   * fine (nothing to bring).
   */
  async adoptKeyFile(path: string | undefined, variable: string): Promise<void> {
    if (!path) return;
    await assertPrivate(path, variable); // a private key: as with the KEK, nobody but its owner may read it
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new KeyConfigError(variable, `names a key file that cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}: ${path})`);
    }
    let jwk: object;
    try {
      jwk = JSON.parse(text) as object;
      await jose.JWK.asKey(jwk);
    } catch {
      throw new KeyConfigError(variable, `names a key file that holds no valid JWK (${path})`);
    }
    await this.keys.importSigningKey(this.purpose, jwk);
  }

  async sign(payload: string, fields: Record<string, unknown>): Promise<string> {
    const { key } = await this.keys.signingKey(this.purpose);
    return (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: key.kid, ...fields } }, key).update(payload).final()) as unknown as string;
  }

  /**
   * Public keys of this purpose, active and retired: read again after this process rotated or
   * added a key, and on `refresh` (a verifier met an unknown kid: another process rotated) at
   * most once a second, whatever the callers send.
   */
  keystore(refresh = false): Promise<jose.JWK.KeyStore> {
    if (this.generation !== this.keys.signingGeneration || (refresh && Date.now() - this.readAt >= 1000)) this.store = undefined;
    if (!this.store) {
      this.readAt = Date.now();
      this.generation = this.keys.signingGeneration;
      this.store = this.keys.jwks(this.purpose).then((jwks) => jose.JWK.asKeyStore(jwks));
      this.store.catch(() => (this.store = undefined));
    }
    return this.store;
  }
}
