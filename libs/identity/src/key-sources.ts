import { readFile } from 'node:fs/promises';
import jose from 'node-jose';

/** Verification keys from a JWKS document at a URL, refetched at most every `minRefreshMs`. */
export class RemoteJwks {
  private store: jose.JWK.KeyStore | undefined;
  private fetchedAt = 0;

  constructor(
    private readonly url: string,
    private readonly ttlMs = 300_000,
    private readonly minRefreshMs = 30_000,
  ) {}

  async keystore(refresh = false): Promise<jose.JWK.KeyStore> {
    const age = Date.now() - this.fetchedAt;
    if (!this.store || age > this.ttlMs || (refresh && age > this.minRefreshMs)) {
      const response = await fetch(this.url, { signal: AbortSignal.timeout(3000) });
      if (!response.ok) throw new Error(`JWKS ${this.url} answered ${response.status}`);
      this.store = await jose.JWK.asKeyStore((await response.json()) as object);
      this.fetchedAt = Date.now();
    }
    return this.store;
  }
}

/** Verification keys from a JWKS file, read once. */
export class FileJwks {
  private store: Promise<jose.JWK.KeyStore> | undefined;
  constructor(private readonly path: string) {}
  keystore(): Promise<jose.JWK.KeyStore> {
    this.store ??= readFile(this.path, 'utf8').then((text) => jose.JWK.asKeyStore(JSON.parse(text) as object));
    return this.store;
  }
}
