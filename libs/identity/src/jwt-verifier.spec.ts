import jose from 'node-jose';
import { JwtVerifier, type KeySource } from './jwt-verifier.js';

/** The verified-token cache is bounded by bytes as well as by count (trust issue, hygiene). */
describe('JwtVerifier token cache', () => {
  let key: jose.JWK.Key;
  let keys: KeySource;
  const now = 1_800_000_000;
  beforeAll(async () => {
    const store = jose.JWK.createKeyStore();
    key = await store.generate('EC', 'P-256', { kid: 'k1', use: 'sig', alg: 'ES256' });
    keys = { keystore: async () => store };
  });
  const sign = async (sub: string, padding: number) =>
    (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: 'k1', typ: 'JWT' } }, key)
      .update(JSON.stringify({ iss: 'urn:test', aud: 'custos', sub, roles: ['clinician'], exp: now + 3600, credentials: Array.from({ length: padding }, (_, i) => `${i}`.padEnd(200, 'c')) }))
      .final()) as unknown as string;
  const verifier = (options: { cacheBytes?: number; cacheSize?: number }) => new JwtVerifier([{ issuer: 'urn:test', keys }], { audience: 'custos', algorithms: ['ES256'], clockSkewSeconds: 30, ...options }, () => now * 1000);

  it('keeps at most cacheBytes of 13 KB tokens, evicting the oldest first, and still verifies every one', async () => {
    const v = verifier({ cacheBytes: 256 * 1024 });
    const heavy: string[] = [];
    for (let i = 0; i < 40; i++) heavy.push(await sign(`heavy-${i}`, 50));
    expect(heavy[0]!.length).toBeGreaterThan(13_000);
    for (const t of heavy) expect((await v.verify(t)).sub).toMatch(/^heavy-/);
    expect(v.cachedBytes).toBeLessThanOrEqual(256 * 1024);
    expect(v.cachedTokens).toBeGreaterThanOrEqual(8);
    expect(v.cachedTokens).toBeLessThan(10); // by count alone all 40 (520 KB) would stay
    // the newest stayed, the oldest went
    const before = v.cachedTokens;
    await v.verify(heavy[39]!);
    expect(v.cachedTokens).toBe(before);
    await v.verify(heavy[0]!);
    expect(v.cachedBytes).toBeLessThanOrEqual(256 * 1024);
  });

  it('keeps at most cacheSize tokens, whatever their size', async () => {
    const v = verifier({ cacheSize: 5 });
    for (let i = 0; i < 12; i++) await v.verify(await sign(`c-${i}`, 1));
    expect(v.cachedTokens).toBe(5);
  });

  it('caches nothing when one token alone exceeds the byte bound, and still answers', async () => {
    const v = verifier({ cacheBytes: 100 });
    expect((await v.verify(await sign('solo', 1))).sub).toBe('solo');
    expect(v.cachedTokens).toBe(0);
    expect(v.cachedBytes).toBe(0);
  });
});
