import { UnauthenticatedError } from '@custos/errors';
import jose from 'node-jose';
import { type Identity, isRole, type Role } from './identity.js';

export interface JwtVerifierOptions {
  audience: string;
  /** Accepted signature algorithms: asymmetric only (HS* would let a public key forge tokens). */
  algorithms: readonly string[];
  clockSkewSeconds: number;
  /** Most verified tokens kept (each until its exp). */
  cacheSize?: number;
  /** Most bytes of tokens kept (default 32 MiB): 10,000 13 KB tokens must not take 330 MB. */
  cacheBytes?: number;
}

/** Keys and the one issuer whose tokens they may sign (the dev issuer's key never signs for production's issuer). */
export interface TrustedIssuer {
  readonly issuer: string;
  readonly keys: KeySource;
}

/** Per cached token, what the Identity object and the Map entry cost beyond the token's own characters. */
const ENTRY_OVERHEAD_BYTES = 512;
// eslint-disable-next-line no-control-regex -- the point is to refuse control characters in claims
const CLAIM_TEXT = /^[^\u0000-\u001f\u007f]*$/;
const LONE_SURROGATE = /\p{Cs}/u;

/** Where verification keys come from: a JWKS URL or file, and/or the local dev issuer. */
export interface KeySource {
  /** The keystore to verify with; `refresh` asks for a fresh copy (an unknown kid was seen). */
  keystore(refresh?: boolean): Promise<jose.JWK.KeyStore>;
}

const ASYMMETRIC = new Set(['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);

/**
 * Verifies bearer JWTs strictly: compact JWS only, an allowed asymmetric algorithm named in
 * the header, a `kid` the key source knows, a valid signature (node-jose), then `iss`, `aud`,
 * `exp` and `nbf` with a small skew, then Custos' own claims. Verified tokens are cached until
 * they expire (bounded), since one ES256 verification costs ~0.3 ms of CPU.
 */
export class JwtVerifier {
  private readonly cache = new Map<string, Identity>();
  private readonly cacheSize: number;
  private readonly cacheBytes: number;
  private bytes = 0;

  constructor(
    private readonly trusted: readonly TrustedIssuer[],
    private readonly options: JwtVerifierOptions,
    private readonly now: () => number = () => Date.now(),
  ) {
    for (const alg of options.algorithms) {
      if (!ASYMMETRIC.has(alg)) throw new Error(`JWT algorithm ${alg} is not an accepted asymmetric algorithm`);
    }
    this.cacheSize = options.cacheSize ?? 10_000;
    this.cacheBytes = options.cacheBytes ?? 32 * 1024 * 1024;
  }

  /** Bytes the cache holds now (tokens counted as UTF-16, plus a fixed overhead per entry). */
  get cachedBytes(): number {
    return this.bytes;
  }

  get cachedTokens(): number {
    return this.cache.size;
  }

  async verify(token: string): Promise<Identity> {
    // The token itself is the key: hashing it first cost more per request than the lookup.
    const key = token;
    const cached = this.cache.get(key);
    const nowSeconds = Math.floor(this.now() / 1000);
    if (cached) {
      if (cached.exp + this.options.clockSkewSeconds > nowSeconds) return cached;
      this.forget(key);
      throw new UnauthenticatedError('the token has expired', 'token-expired');
    }
    const identity = await this.verifyUncached(token, nowSeconds);
    const cost = costOf(key);
    if (cost <= this.cacheBytes) {
      while (this.cache.size > 0 && (this.cache.size >= this.cacheSize || this.bytes + cost > this.cacheBytes)) this.forget(this.cache.keys().next().value as string);
      this.cache.set(key, identity);
      this.bytes += cost;
    }
    return identity;
  }

  private forget(key: string): void {
    if (this.cache.delete(key)) this.bytes -= costOf(key);
  }

  private async verifyUncached(token: string, now: number): Promise<Identity> {
    const parts = token.split('.');
    if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)) || !parts[0] || !parts[1]) {
      throw new UnauthenticatedError('the bearer token is not a compact JWS', 'token-malformed');
    }
    let header: { alg?: unknown; kid?: unknown; crit?: unknown };
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as typeof header;
    } catch {
      throw new UnauthenticatedError('the token header is not JSON', 'token-malformed');
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new UnauthenticatedError('the token header is not a JSON object', 'token-malformed');
    if (typeof header.alg !== 'string' || !this.options.algorithms.includes(header.alg)) {
      throw new UnauthenticatedError(`token algorithm ${JSON.stringify(header.alg)} is not accepted`, 'token-algorithm-rejected');
    }
    if (typeof header.kid !== 'string' || header.kid.length === 0) throw new UnauthenticatedError('the token names no key (kid)', 'token-unknown-key');
    if (header.crit !== undefined) throw new UnauthenticatedError('critical token header extensions are not supported', 'token-malformed');

    const found = (await this.findKey(header.kid, false)) ?? (await this.findKey(header.kid, true));
    if (!found) throw new UnauthenticatedError('the token was signed with an unknown key', 'token-unknown-key');
    const { jwk, issuer } = found;

    let payloadText: string;
    try {
      const result = await jose.JWS.createVerify(jwk, { algorithms: [header.alg], allowEmbeddedKey: false }).verify(token);
      payloadText = result.payload.toString('utf8');
    } catch {
      throw new UnauthenticatedError('the token signature does not verify', 'token-bad-signature');
    }
    let claims: unknown;
    try {
      claims = JSON.parse(payloadText);
    } catch {
      throw new UnauthenticatedError('the token payload is not JSON', 'token-malformed');
    }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new UnauthenticatedError('the token payload is not a JSON object', 'token-malformed');
    return this.checkClaims(claims as Record<string, unknown>, now, issuer);
  }

  /** The key with this kid and the issuer it may sign for, from the first source that has it. */
  private async findKey(kid: string, refresh: boolean): Promise<{ jwk: jose.JWK.Key; issuer: string } | undefined> {
    for (const t of this.trusted) {
      const store = await t.keys.keystore(refresh).catch(() => undefined);
      const jwk = store?.get({ kid });
      if (jwk) return { jwk, issuer: t.issuer };
    }
    return undefined;
  }

  private checkClaims(c: Record<string, unknown>, now: number, issuer: string): Identity {
    const skew = this.options.clockSkewSeconds;
    if (c.iss !== issuer) throw new UnauthenticatedError('the token was issued by someone else', 'token-wrong-issuer');
    for (const name of ['exp', 'nbf', 'iat'] as const) {
      if (c[name] !== undefined && (typeof c[name] !== 'number' || !Number.isFinite(c[name]) || Math.abs(c[name]) > 1e11)) {
        throw new UnauthenticatedError(`the ${name} claim must be a finite number of seconds`, 'token-bad-claims');
      }
    }
    const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
    if (!aud.includes(this.options.audience)) throw new UnauthenticatedError('the token is not meant for Custos', 'token-wrong-audience');
    if (typeof c.exp !== 'number') throw new UnauthenticatedError('the token has no expiry', 'token-malformed');
    if (c.exp + skew <= now) throw new UnauthenticatedError('the token has expired', 'token-expired');
    if (c.nbf !== undefined && (typeof c.nbf !== 'number' || c.nbf - skew > now)) throw new UnauthenticatedError('the token is not valid yet', 'token-not-yet-valid');
    if (typeof c.sub !== 'string' || c.sub.length === 0 || c.sub.length > 200) throw new UnauthenticatedError('the token has no subject', 'token-malformed');
    if (!wellFormed(c.sub)) throw new UnauthenticatedError('the sub claim is not well-formed text', 'token-bad-claims');
    if (c.org !== undefined && (typeof c.org !== 'string' || c.org.length === 0 || c.org.length > 200 || !wellFormed(c.org))) throw new UnauthenticatedError('the org claim is malformed', 'token-bad-claims');
    if (!Array.isArray(c.roles) || c.roles.length === 0 || !c.roles.every(isRole)) {
      throw new UnauthenticatedError('the token roles claim is missing or names an unknown role', 'token-bad-claims');
    }
    const roles = [...new Set(c.roles as Role[])];
    const patientId = c.patient_id;
    if (patientId !== undefined && (typeof patientId !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(patientId))) {
      throw new UnauthenticatedError('the patient_id claim is malformed', 'token-bad-claims');
    }
    if (roles.includes('patient') && patientId === undefined) throw new UnauthenticatedError('a patient token needs patient_id', 'token-bad-claims');
    const credentials = c.credentials ?? [];
    if (!Array.isArray(credentials) || credentials.length > 50 || !credentials.every((x) => typeof x === 'string' && x.length <= 200 && wellFormed(x))) {
      throw new UnauthenticatedError('the credentials claim must be an array of well-formed strings', 'token-bad-claims');
    }
    const purposeOfUse = purposeClaim(c.purpose_of_use);
    return { sub: c.sub, roles, ...(patientId ? { patientId } : {}), credentials: credentials as string[], ...(typeof c.org === 'string' ? { org: c.org } : {}), ...(purposeOfUse ? { purposeOfUse } : {}), exp: c.exp };
  }
}

/**
 * IHE IUA's `purpose_of_use`: a code, or a Coding (`{ system, code }`), or a list of one. Anything
 * else is a malformed token (a purpose the caller did not mean must never be assumed).
 */
function purposeClaim(claim: unknown): string | undefined {
  if (claim === undefined) return undefined;
  const one = Array.isArray(claim) && claim.length === 1 ? claim[0] : claim;
  const code = typeof one === 'string' ? one : typeof one === 'object' && one !== null && !Array.isArray(one) ? (one as { code?: unknown }).code : undefined;
  if (typeof code !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(code)) throw new UnauthenticatedError('the purpose_of_use claim must be one code or one Coding', 'token-bad-claims');
  return code;
}

function costOf(token: string): number {
  return token.length * 2 + ENTRY_OVERHEAD_BYTES;
}

/** Text a claim may hold: well-formed Unicode, no control characters (NUL included). */
function wellFormed(text: string): boolean {
  return CLAIM_TEXT.test(text) && !LONE_SURROGATE.test(text);
}
