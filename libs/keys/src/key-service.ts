import { randomBytes, randomUUID } from 'node:crypto';
import type { Sql } from '@custos/event-store';
import { UnavailableError } from '@custos/errors';
import jose from 'node-jose';
import { unwrapA256KwA256Gcm } from './jwe.js';
import { KeyConfigError, type KekRing, newKekBytes, octKek, writeRing } from './kek.js';

/** A patient's (or a context's) data key, unwrapped. */
export interface DataKey {
  readonly kid: string;
  readonly key: jose.JWK.Key;
}

/** What a kid resolves to: the key, or the fact that it was destroyed (erasure). */
export type DataKeyLookup = DataKey | { readonly kid: string; readonly destroyed: true };

/**
 * What a kid resolves to in a bulk read (`dataKeys`): the key's 32 bytes (no node-jose key
 * object is made), or the fact that it was destroyed.
 */
export type RawDataKeyLookup = { readonly kid: string; readonly raw: Buffer } | { readonly kid: string; readonly destroyed: true };

/** Kids per query of a bulk read. */
const KIDS_PER_QUERY = 5_000;

export type SigningPurpose = 'receipts' | 'dev-tokens' | 'checkpoints';

/** A signing key (ES256) with its private half unwrapped. */
export interface SigningKey {
  readonly kid: string;
  readonly purpose: SigningPurpose;
  readonly key: jose.JWK.Key;
}

interface DataKeyRow {
  kid: string;
  owner: string;
  wrapped: string | null;
  created_at: Date | string;
}

interface SigningKeyRow {
  kid: string;
  purpose: SigningPurpose;
  public_jwk: Record<string, unknown> | string;
  wrapped: string;
  retired_at: Date | string | null;
}

/**
 * Every key Custos holds, behind one port.
 *
 * - A key-encryption key (KEK) ring from config: never stored in the database.
 * - A data key (A256GCM) per patient, or per context for events without one, stored wrapped by
 *   the KEK (JWE, A256KW) in `custos_data_keys`, outside the append-only log so erasure can
 *   destroy it. Unwrapped keys are kept in a bounded cache; a kid seen destroyed stays so.
 * - Signing keys (ES256) per purpose, private halves wrapped by the KEK in
 *   `custos_signing_keys`; a rotation retires the active one, whose public half stays in the
 *   JWKS so everything it signed still verifies.
 *
 * A wrapped key that does not unwrap (wrong KEK, damaged row) is an UnavailableError (503)
 * for the request that needed it: never a 500, never plaintext.
 */
export class KeyService {
  private readonly byKid = new Map<string, { key: jose.JWK.Key; at: number }>();
  private readonly byOwner = new Map<string, { kid: string; at: number }>();
  private readonly destroyed = new Set<string>();
  private readonly signing = new Map<SigningPurpose, SigningKey>();
  /** Moves whenever this process adds or retires a signing key: cached keystores read again. */
  signingGeneration = 0;

  constructor(
    private readonly sql: Sql & { transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> },
    private ring: KekRing,
    private readonly options: { maxCached?: number; ttlMs?: number; now?: () => number } = {},
  ) {}

  /**
   * At boot: every stored key must be wrapped under a KEK this process holds, else it stops
   * with a message naming the variable (a wrong KEK would make every personal field unreadable).
   */
  async checkKek(variable: string): Promise<void> {
    const rows = await this.sql.query<{ kek_kid: string }>(
      'SELECT DISTINCT kek_kid FROM (SELECT kek_kid FROM custos_data_keys WHERE kek_kid IS NOT NULL UNION SELECT kek_kid FROM custos_signing_keys) k',
    );
    const missing = rows.map((r) => r.kek_kid).filter((kid) => !this.ring.all.get(kid));
    if (missing.length > 0) throw new KeyConfigError(variable, `does not hold the key-encryption key the stored keys are wrapped under (${missing.join(', ')}); give the right key, or a ring with it`);
  }

  /** The owner's active data key, made (and wrapped, and stored) on first use. */
  async dataKeyFor(owner: string): Promise<DataKey> {
    const known = this.byOwner.get(owner);
    if (known && this.fresh(known.at)) {
      const cached = this.byKid.get(known.kid);
      if (cached) return { kid: known.kid, key: cached.key };
    }
    let [row] = await this.sql.query<DataKeyRow>('SELECT kid, owner, wrapped, created_at FROM custos_data_keys WHERE owner = $1 AND destroyed_at IS NULL', [owner], { name: 'custos_data_key_of_owner' });
    if (!row) {
      const raw = randomBytes(32);
      const kid = `dk-${randomUUID()}`;
      const wrapped = await this.wrap(raw);
      await this.sql.execute('INSERT INTO custos_data_keys (kid, owner, wrapped, kek_kid) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [kid, owner, wrapped, this.ring.active.kid]);
      // Another process may have made one first: whichever row is there is the key.
      [row] = await this.sql.query<DataKeyRow>('SELECT kid, owner, wrapped, created_at FROM custos_data_keys WHERE owner = $1 AND destroyed_at IS NULL', [owner], { name: 'custos_data_key_of_owner' });
      if (!row) throw new UnavailableError('a data key could not be made', 'key-unavailable');
    }
    const key = await this.unwrapRow(row);
    this.remember(owner, row.kid, key);
    return { kid: row.kid, key };
  }

  /** The data key with this id, or `destroyed` once its owner was erased. */
  async dataKey(kid: string): Promise<DataKeyLookup> {
    if (this.destroyed.has(kid)) return { kid, destroyed: true };
    const cached = this.byKid.get(kid);
    if (cached && this.fresh(cached.at)) return { kid, key: cached.key };
    const [row] = await this.sql.query<DataKeyRow>('SELECT kid, owner, wrapped, created_at FROM custos_data_keys WHERE kid = $1', [kid], { name: 'custos_data_key_by_kid' });
    if (!row) throw new UnavailableError(`data key ${kid} is not in the key table`, 'key-unavailable');
    if (row.wrapped === null) {
      this.forget(kid);
      this.destroyed.add(kid);
      return { kid, destroyed: true };
    }
    const key = await this.unwrapRow(row);
    this.remember(row.owner, kid, key);
    return { kid, key };
  }

  /**
   * Many data keys at once, for a report that opens one part per patient: one query per 5,000
   * kids (`kid = ANY($1)`), each wrapped key unwrapped with node:crypto (node-jose for any form
   * but the one Custos writes). Always asks the key table, so a key destroyed before the call
   * (here or in another process) reads destroyed: the caller holds the result for the report's
   * duration instead of the bounded cache, which this neither fills nor evicts from.
   * A kid the table does not hold is left out of the map: `dataKey(kid)` then refuses it
   * (UnavailableError), as for one key. A key that does not unwrap is an UnavailableError.
   */
  async dataKeys(kids: readonly string[]): Promise<Map<string, RawDataKeyLookup>> {
    const out = new Map<string, RawDataKeyLookup>();
    const unique = [...new Set(kids)];
    for (let i = 0; i < unique.length; i += KIDS_PER_QUERY) {
      const chunk = unique.slice(i, i + KIDS_PER_QUERY);
      const rows = await this.sql.query<{ kid: string; wrapped: string | null }>('SELECT kid, wrapped FROM custos_data_keys WHERE kid = ANY($1)', [chunk], { name: 'custos_data_keys_by_kids' });
      for (const row of rows) {
        if (row.wrapped === null || this.destroyed.has(row.kid)) {
          this.forget(row.kid);
          this.destroyed.add(row.kid);
          out.set(row.kid, { kid: row.kid, destroyed: true });
          continue;
        }
        const raw = await this.unwrap(row.wrapped);
        if (raw.length !== 32) throw new UnavailableError('a stored data key is malformed', 'key-unavailable');
        out.set(row.kid, { kid: row.kid, raw });
      }
    }
    return out;
  }

  /**
   * Destroys every data key of `owner` (crypto-shredding): the wrapped key is overwritten and
   * the row kept as a tombstone, so a kid found in the log reads as destroyed. Returns the kids.
   * A later event of the owner gets a new key.
   */
  async destroy(owner: string): Promise<string[]> {
    const rows = await this.sql.query<{ kid: string }>('SELECT kid FROM custos_data_keys WHERE owner = $1 AND destroyed_at IS NULL', [owner]);
    await this.sql.execute('UPDATE custos_data_keys SET wrapped = NULL, kek_kid = NULL, destroyed_at = now() WHERE owner = $1 AND destroyed_at IS NULL', [owner]);
    for (const r of rows) {
      this.forget(r.kid);
      this.destroyed.add(r.kid);
    }
    this.byOwner.delete(owner);
    return rows.map((r) => r.kid);
  }

  /** The active signing key of a purpose, made on first use. */
  async signingKey(purpose: SigningPurpose): Promise<SigningKey> {
    const known = this.signing.get(purpose);
    if (known) return known;
    let [row] = await this.sql.query<SigningKeyRow>('SELECT kid, purpose, public_jwk, wrapped, retired_at FROM custos_signing_keys WHERE purpose = $1 AND retired_at IS NULL', [purpose]);
    if (!row) {
      const fresh = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
      await this.addSigningKey(purpose, await jose.JWK.asKey({ ...(fresh.toJSON(true) as object), kid: kidOfSigning(purpose, fresh) }));
      [row] = await this.sql.query<SigningKeyRow>('SELECT kid, purpose, public_jwk, wrapped, retired_at FROM custos_signing_keys WHERE purpose = $1 AND retired_at IS NULL', [purpose]);
      if (!row) throw new UnavailableError('a signing key could not be made', 'key-unavailable');
    }
    const key = await jose.JWK.asKey(JSON.parse((await this.unwrap(row.wrapped)).toString('utf8')) as object);
    const signing = { kid: row.kid, purpose, key };
    this.signing.set(purpose, signing);
    return signing;
  }

  /**
   * Brings an existing private signing key under the key service (a key file from before it),
   * as the active key of `purpose` unless one is active already. Returns whether it was added.
   */
  async importSigningKey(purpose: SigningPurpose, jwk: object): Promise<boolean> {
    const key = await jose.JWK.asKey(jwk);
    const [exists] = await this.sql.query('SELECT 1 FROM custos_signing_keys WHERE kid = $1', [key.kid]);
    if (exists) return false;
    const [active] = await this.sql.query('SELECT 1 FROM custos_signing_keys WHERE purpose = $1 AND retired_at IS NULL', [purpose]);
    await this.addSigningKey(purpose, key, active !== undefined);
    return true;
  }

  /** A new signing key for `purpose`; the old one is retired but stays in the JWKS. */
  async rotateSigning(purpose: SigningPurpose): Promise<{ retired: string | null; active: string }> {
    const fresh = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
    const kid = kidOfSigning(purpose, fresh);
    const withKid = await jose.JWK.asKey({ ...(fresh.toJSON(true) as object), kid });
    const retired = await this.sql.transaction(async (tx) => {
      const [old] = await tx.query<{ kid: string }>('SELECT kid FROM custos_signing_keys WHERE purpose = $1 AND retired_at IS NULL FOR UPDATE', [purpose]);
      await tx.execute('UPDATE custos_signing_keys SET retired_at = now() WHERE purpose = $1 AND retired_at IS NULL', [purpose]);
      await tx.execute('INSERT INTO custos_signing_keys (kid, purpose, public_jwk, wrapped, kek_kid) VALUES ($1, $2, $3, $4, $5)', [kid, purpose, JSON.stringify(withKid.toJSON(false)), await this.wrap(Buffer.from(JSON.stringify(withKid.toJSON(true)))), this.ring.active.kid]);
      return old?.kid ?? null;
    });
    this.signing.delete(purpose);
    this.signingGeneration += 1;
    return { retired, active: kid };
  }

  /** Every public key still needed to verify something (active and retired signing keys). */
  jwks(purpose?: SigningPurpose): Promise<{ keys: object[] }> {
    return publishedJwks(this.sql, purpose);
  }

  /**
   * KEK rotation: every wrapped key (data and signing) is unwrapped with the ring and wrapped
   * again under `next`, in one transaction; no event is touched. The caller persists the new
   * ring first (embedded: the KEK file) so a crash between leaves keys readable.
   */
  async rewrapAll(next: KekRing): Promise<{ dataKeys: number; signingKeys: number }> {
    const previous = this.ring;
    const counts = await this.sql.transaction(async (tx) => {
      const data = await tx.query<{ kid: string; wrapped: string }>('SELECT kid, wrapped FROM custos_data_keys WHERE wrapped IS NOT NULL FOR UPDATE');
      for (const r of data) {
        const raw = await this.unwrap(r.wrapped, next);
        await tx.execute('UPDATE custos_data_keys SET wrapped = $2, kek_kid = $3 WHERE kid = $1', [r.kid, await wrapUnder(next.active, raw), next.active.kid]);
      }
      const signing = await tx.query<{ kid: string; wrapped: string }>('SELECT kid, wrapped FROM custos_signing_keys FOR UPDATE');
      for (const r of signing) {
        const raw = await this.unwrap(r.wrapped, next);
        await tx.execute('UPDATE custos_signing_keys SET wrapped = $2, kek_kid = $3 WHERE kid = $1', [r.kid, await wrapUnder(next.active, raw), next.active.kid]);
      }
      return { dataKeys: data.length, signingKeys: signing.length };
    });
    this.ring = { ...next, ...(previous.file && !next.file ? { file: previous.file } : {}) };
    return counts;
  }

  /**
   * KEK rotation. Embedded mode (a generated KEK): a new KEK is generated and written first to
   * the ring file (new first, old kept) so both unwrap during the rewrap, then the old one is
   * dropped from the file. KEK_FILE / KEK: the operator deploys the new ring first (a JWK Set,
   * new key first, old kept) to every process; this rewraps every key under the new active
   * one, after which the old key can be removed from the ring.
   */
  async rotateKek(): Promise<{ previous: string[]; active: string; dataKeys: number; signingKeys: number }> {
    const before = await this.sql.query<{ kek_kid: string }>(
      'SELECT DISTINCT kek_kid FROM (SELECT kek_kid FROM custos_data_keys WHERE kek_kid IS NOT NULL UNION SELECT kek_kid FROM custos_signing_keys) k ORDER BY kek_kid',
    );
    const previous = before.map((r) => r.kek_kid);
    const file = this.ring.file;
    if (!file) {
      const counts = await this.rewrapAll(this.ring);
      return { previous, active: this.ring.active.kid, ...counts };
    }
    const fresh = await octKek(newKekBytes());
    const both = jose.JWK.createKeyStore();
    await both.add(fresh);
    for (const k of this.ring.all.all()) await both.add(k);
    await writeRing(file, [fresh, ...this.ring.all.all()]);
    const counts = await this.rewrapAll({ active: fresh, all: both, file });
    const only = jose.JWK.createKeyStore();
    await only.add(fresh);
    await writeRing(file, [fresh]);
    this.ring = { active: fresh, all: only, file };
    return { previous, active: fresh.kid, ...counts };
  }

  /** The data keys of `owner` that exist now (what an erasure destroys). */
  async activeKids(owner: string): Promise<string[]> {
    return (await this.sql.query<{ kid: string }>('SELECT kid FROM custos_data_keys WHERE owner = $1 AND destroyed_at IS NULL ORDER BY kid', [owner])).map((r) => r.kid);
  }

  /** The purposes that have an active signing key. */
  async signingPurposes(): Promise<SigningPurpose[]> {
    return (await this.sql.query<{ purpose: SigningPurpose }>('SELECT purpose FROM custos_signing_keys WHERE retired_at IS NULL ORDER BY purpose')).map((r) => r.purpose);
  }

  private async addSigningKey(purpose: SigningPurpose, key: jose.JWK.Key, retired = false): Promise<void> {
    const kid = key.kid || kidOfSigning(purpose, key);
    const withKid = await jose.JWK.asKey({ ...(key.toJSON(true) as object), kid, alg: 'ES256', use: 'sig' });
    await this.sql.execute(
      `INSERT INTO custos_signing_keys (kid, purpose, public_jwk, wrapped, kek_kid, retired_at) VALUES ($1, $2, $3, $4, $5, ${retired ? 'now()' : 'NULL'}) ON CONFLICT DO NOTHING`,
      [kid, purpose, JSON.stringify(withKid.toJSON(false)), await this.wrap(Buffer.from(JSON.stringify(withKid.toJSON(true)))), this.ring.active.kid],
    );
    this.signingGeneration += 1;
  }

  private fresh(at: number): boolean {
    return (this.options.now ?? Date.now)() - at < (this.options.ttlMs ?? 30_000);
  }

  private remember(owner: string, kid: string, key: jose.JWK.Key): void {
    const max = this.options.maxCached ?? 10_000;
    if (this.byKid.size >= max) this.byKid.delete(this.byKid.keys().next().value as string);
    if (this.byOwner.size >= max) this.byOwner.delete(this.byOwner.keys().next().value as string);
    const at = (this.options.now ?? Date.now)();
    this.byKid.set(kid, { key, at });
    this.byOwner.set(owner, { kid, at });
  }

  private forget(kid: string): void {
    this.byKid.delete(kid);
  }

  private wrap(raw: Buffer): Promise<string> {
    return wrapUnder(this.ring.active, raw);
  }

  private async unwrap(wrapped: string, ring: KekRing = this.ring): Promise<Buffer> {
    try {
      // node:crypto for the form wrapUnder writes (A256KW + A256GCM, a KEK of the ring by kid); node-jose for anything else.
      return unwrapA256KwA256Gcm((kid) => kekBytes(ring, kid), wrapped) ?? (await jose.JWE.createDecrypt(ring.all).decrypt(wrapped)).plaintext;
    } catch {
      throw new UnavailableError('a stored key does not unwrap under this process\'s key-encryption key', 'key-unavailable');
    }
  }

  private async unwrapRow(row: DataKeyRow): Promise<jose.JWK.Key> {
    if (row.wrapped === null) throw new UnavailableError(`data key ${row.kid} was destroyed`, 'key-destroyed');
    const raw = await this.unwrap(row.wrapped);
    if (raw.length !== 32) throw new UnavailableError('a stored data key is malformed', 'key-unavailable');
    return jose.JWK.asKey({ kty: 'oct', k: raw.toString('base64url'), alg: 'A256GCM', use: 'enc', kid: row.kid });
  }
}

/**
 * The public halves of the signing keys (all purposes, or one), oldest first: what
 * /.well-known/jwks.json serves. Needs no KEK, so tools that hold none (the CLI) read it too.
 */
export async function publishedJwks(sql: Sql, purpose?: SigningPurpose): Promise<{ keys: object[] }> {
  const rows = await sql.query<{ public_jwk: Record<string, unknown> | string }>(
    `SELECT public_jwk FROM custos_signing_keys ${purpose ? 'WHERE purpose = $1' : ''} ORDER BY created_at, kid`,
    purpose ? [purpose] : [],
  );
  return { keys: rows.map((r) => (typeof r.public_jwk === 'string' ? (JSON.parse(r.public_jwk) as object) : r.public_jwk)) };
}

const kekRaws = new WeakMap<jose.JWK.KeyStore, Map<string, Buffer>>();

/**
 * The 32 bytes of the ring's KEK with this kid, or undefined. Kept per key store and kid (a
 * store only grows, and a lookup in a node-jose store costs more than the unwrap itself).
 */
function kekBytes(ring: KekRing, kid: string): Buffer | undefined {
  let known = kekRaws.get(ring.all);
  if (!known) kekRaws.set(ring.all, (known = new Map()));
  const hit = known.get(kid);
  if (hit) return hit;
  const key = ring.all.get(kid) as jose.JWK.Key | null | undefined;
  if (!key || key.kty !== 'oct') return undefined;
  const k = (key.toJSON(true) as { k?: unknown }).k;
  if (typeof k !== 'string') return undefined;
  const raw = Buffer.from(k, 'base64url');
  known.set(kid, raw);
  return raw;
}

/** JWE key wrapping: the key bytes as the payload of a JWE under the KEK (A256KW + A256GCM). */
export async function wrapUnder(kek: jose.JWK.Key, raw: Buffer): Promise<string> {
  return (await jose.JWE.createEncrypt({ format: 'compact', fields: { alg: 'A256KW', enc: 'A256GCM', kid: kek.kid, cty: 'custos-key' } }, kek).update(raw).final()) as unknown as string;
}

function kidOfSigning(purpose: SigningPurpose, key: jose.JWK.Key): string {
  const jwk = key.toJSON(false) as { x?: string };
  return `custos-${purpose}-${(jwk.x ?? randomUUID()).slice(0, 16)}`;
}
