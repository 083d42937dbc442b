import { type KeyService, KeySigner } from '@custos/keys';
import type jose from 'node-jose';

export interface DevTokenRequest {
  sub: string;
  roles: string[];
  patient_id?: string;
  credentials?: string[];
  purpose_of_use?: string;
  ttlSeconds?: number;
}

/**
 * The local token issuer of embedded mode, for development: the key service's `dev-tokens`
 * ES256 key (kept with the other keys, so tokens survive a restart) whose public half is
 * served at /.well-known/jwks.json. A key file from before the key service (DATA_DIR/keys/
 * dev-issuer.jwk.json) is brought under it once. Off by default outside embedded mode.
 */
export class DevIssuer {
  private constructor(
    private readonly signer: KeySigner,
    private readonly issuer: string,
    private readonly audience: string,
  ) {}

  static async open(options: { keys: KeyService; legacyKeyFile?: string; issuer: string; audience: string }): Promise<DevIssuer> {
    const signer = new KeySigner(options.keys, 'dev-tokens');
    await signer.adoptKeyFile(options.legacyKeyFile, 'DATA_DIR');
    await options.keys.signingKey('dev-tokens');
    return new DevIssuer(signer, options.issuer, options.audience);
  }

  /** Public keys only (active and retired dev-token keys); `refresh` after an unknown kid. */
  keystore(refresh = false): Promise<jose.JWK.KeyStore> {
    return this.signer.keystore(refresh);
  }

  async issue(request: DevTokenRequest, nowSeconds: number): Promise<string> {
    const claims = {
      iss: this.issuer,
      aud: this.audience,
      sub: request.sub,
      roles: request.roles,
      ...(request.patient_id ? { patient_id: request.patient_id } : {}),
      credentials: request.credentials ?? [],
      ...(request.purpose_of_use ? { purpose_of_use: request.purpose_of_use } : {}),
      iat: nowSeconds,
      nbf: nowSeconds,
      exp: nowSeconds + (request.ttlSeconds ?? 3600),
    };
    return this.signer.sign(JSON.stringify(claims), { typ: 'JWT' });
  }
}
