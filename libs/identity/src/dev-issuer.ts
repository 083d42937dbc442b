import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import jose from 'node-jose';

export interface DevTokenRequest {
  sub: string;
  roles: string[];
  patient_id?: string;
  credentials?: string[];
  ttlSeconds?: number;
}

/**
 * The local token issuer of embedded mode, for development: an ES256 key (kept in the data
 * folder so tokens survive a restart) whose public half is served at /.well-known/jwks.json.
 * Off by default outside embedded mode.
 */
export class DevIssuer {
  private constructor(
    private readonly key: jose.JWK.Key,
    private readonly issuer: string,
    private readonly audience: string,
  ) {}

  static async open(options: { keyFile?: string; issuer: string; audience: string }): Promise<DevIssuer> {
    let key: jose.JWK.Key | undefined;
    if (options.keyFile) {
      try {
        key = await jose.JWK.asKey(JSON.parse(await readFile(options.keyFile, 'utf8')) as object);
      } catch {
        key = undefined;
      }
    }
    if (!key) {
      key = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
      if (options.keyFile) {
        await mkdir(dirname(options.keyFile), { recursive: true });
        await writeFile(options.keyFile, JSON.stringify(key.toJSON(true)), { mode: 0o600 });
      }
    }
    return new DevIssuer(key, options.issuer, options.audience);
  }

  private publicStore: Promise<jose.JWK.KeyStore> | undefined;

  /** Public keys only; one store for the issuer's life. */
  keystore(): Promise<jose.JWK.KeyStore> {
    this.publicStore ??= jose.JWK.asKeyStore({ keys: [this.key.toJSON(false)] });
    return this.publicStore;
  }

  publicJwk(): object {
    return this.key.toJSON(false);
  }

  async issue(request: DevTokenRequest, nowSeconds: number): Promise<string> {
    const claims = {
      iss: this.issuer,
      aud: this.audience,
      sub: request.sub,
      roles: request.roles,
      ...(request.patient_id ? { patient_id: request.patient_id } : {}),
      credentials: request.credentials ?? [],
      iat: nowSeconds,
      nbf: nowSeconds,
      exp: nowSeconds + (request.ttlSeconds ?? 3600),
    };
    return (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: this.key.kid, typ: 'JWT' } }, this.key).update(JSON.stringify(claims)).final()) as unknown as string;
  }
}
