import { createHash } from 'node:crypto';
import { leafHash, verifyConsistency, verifyInclusion } from '@custos/merkle';
import jose from 'node-jose';
import { HEADS_TYP, type HeadsStatement } from '@custos/export-format';
import { type Bundle, type BundleEvent, bundleShape, BUNDLE_FORMAT, type Json, ShapeError, storedEvent } from './bundle-shape.js';

export { HEADS_TYP, type HeadsStatement } from '@custos/export-format';

/**
 * The offline check of a Custos export, for a regulator: it trusts nothing but the public
 * keys it is given (never the bundle's own, unless told to). Its own canonical JSON and event
 * hashing (not the service's code) re-derive every leaf and every event hash;
 * `@custos/merkle` (pure SHA-256, no framework) checks the proofs.
 */
export interface BundleReport {
  ok: boolean;
  /** The first check that failed, in words. */
  failure?: string;
  treeSize?: number;
  events: number;
  streams: number;
  /** Stream links proven (every link of every stream, each by an inclusion proof). */
  links?: number;
  consistencyFrom?: number;
  /** Witnesses whose cosignature of the checkpoint verified. */
  witnessed?: number;
  /** Set when the bundle's own keys were used (`--trust-bundle-keys`): the bundle proved itself, nothing more. */
  keysFromBundle?: true;
}

export interface VerifyOptions {
  /** The log's public keys (a JWKS) the regulator kept: the only keys trusted. */
  jwks?: object;
  /** Use the bundle's own JWKS instead (it proves only that the bundle agrees with itself). */
  trustBundleKeys?: boolean;
  /** A checkpoint kept from an earlier visit (compact JWS). */
  trusted?: string;
  /** One public key set (a JWKS or a single JWK) per witness, as the witness publishes it. */
  witnesses?: object[];
  /** How many of `witnesses` must have cosigned the checkpoint (default: all of them). */
  minCosignatures?: number;
}

const GENESIS = '0'.repeat(64);

/** RFC 8785 order: keys sorted by UTF-16 code units, no whitespace, JSON.stringify's numbers and strings. */
export function canonical(value: Json): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  return `{${Object.keys(value)
    .filter((k) => value[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(value[k] as Json)}`)
    .join(',')}}`;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function openCheckpoint(jws: string, keystore: jose.JWK.KeyStore): Promise<{ size: number; root: Buffer; body: string }> {
  const verified = await jose.JWS.createVerify(keystore, { algorithms: ['ES256'] }).verify(jws.trim());
  if ((verified.header as { typ?: string }).typ !== 'tlog-checkpoint+jws') throw new Error('not a tlog-checkpoint+jws');
  const body = verified.payload.toString('utf8');
  const [origin, size, root, end] = body.split('\n');
  const rootBytes = Buffer.from(root ?? '', 'base64');
  if (!origin || !/^(0|[1-9]\d{0,15})$/.test(size ?? '') || rootBytes.length !== 32 || end !== '') throw new Error('the checkpoint body is not origin, size, base64 root');
  return { size: Number(size), root: rootBytes, body };
}

async function openHeads(jws: string, keystore: jose.JWK.KeyStore): Promise<HeadsStatement> {
  const verified = await jose.JWS.createVerify(keystore, { algorithms: ['ES256'] }).verify(jws.trim());
  if ((verified.header as { typ?: string }).typ !== HEADS_TYP) throw new Error(`not a ${HEADS_TYP}`);
  const s = JSON.parse(verified.payload.toString('utf8')) as HeadsStatement;
  const ok =
    typeof s === 'object' && s !== null && typeof s.patientId === 'string' && typeof s.from === 'string' && typeof s.to === 'string' &&
    Number.isSafeInteger(s.treeSize) && typeof s.root === 'string' && Number.isSafeInteger(s.total) && Array.isArray(s.streams) &&
    s.streams.every((h) => typeof h === 'object' && h !== null && typeof h.streamId === 'string' && Number.isSafeInteger(h.version) && Number.isSafeInteger(h.globalSeq) && typeof h.hash === 'string');
  if (!ok) throw new Error('its statement is not the heads of an export');
  return s;
}

/** The keys of one witness: a JWKS, or one JWK. */
async function witnessKeys(keys: object): Promise<jose.JWK.KeyStore> {
  return jose.JWK.asKeyStore('keys' in keys ? keys : { keys: [keys] });
}

async function cosigned(keystore: jose.JWK.KeyStore, body: string, cosignatures: Bundle['checkpoint']['cosignatures']): Promise<boolean> {
  for (const { cosignature } of cosignatures) {
    try {
      const v = await jose.JWS.createVerify(keystore, { algorithms: ['ES256'] }).verify(cosignature.trim());
      if ((v.header as { typ?: string }).typ === 'tlog-cosignature+jws' && v.payload.toString('utf8') === body) return true;
    } catch {
      // not this witness's, or not valid: try the next one
    }
  }
  return false;
}

/** Never throws: every bundle, however malformed, gets a verdict. */
export async function verifyBundle(input: unknown, options: VerifyOptions = {}): Promise<BundleReport> {
  try {
    return await check(input, options);
  } catch (e) {
    if (e instanceof ShapeError) return { ok: false, failure: e.message, events: 0, streams: 0 };
    return { ok: false, failure: `the bundle could not be checked (${e instanceof Error ? e.message : String(e)})`, events: 0, streams: 0 };
  }
}

async function check(input: unknown, options: VerifyOptions): Promise<BundleReport> {
  if (options.jwks === undefined && !options.trustBundleKeys) return { ok: false, failure: 'no keys to verify with: give the log\'s public keys you kept (--jwks FILE or --jwks-url URL)', events: 0, streams: 0 };
  const bundle = bundleShape(input);
  const fromBundle = options.jwks === undefined && options.trustBundleKeys === true;
  const tag = fromBundle ? { keysFromBundle: true as const } : {};
  const fail = (failure: string, extra: Partial<BundleReport> = {}): BundleReport => ({ ok: false, failure, events: 0, streams: 0, ...tag, ...extra });
  if (fromBundle && bundle.jwks === undefined) return fail('$.jwks: missing, and --trust-bundle-keys asks for the bundle\'s own keys');
  let keystore: jose.JWK.KeyStore;
  try {
    keystore = await jose.JWK.asKeyStore(options.jwks ?? (bundle.jwks as object));
  } catch (e) {
    return fail(`${fromBundle ? '$.jwks' : 'the keys given'}: not a usable JWKS (${(e as Error).message})`);
  }

  let cp: { size: number; root: Buffer; body: string };
  try {
    cp = await openCheckpoint(bundle.checkpoint.jws, keystore);
  } catch (e) {
    return fail(`$.checkpoint.jws: its signature does not verify with these keys (${(e as Error).message})`);
  }
  const at = { treeSize: cp.size };
  if (cp.size !== bundle.checkpoint.treeSize) return fail('$.checkpoint.treeSize: not the tree size the checkpoint signed', at);
  if (cp.body !== bundle.checkpoint.body) return fail('$.checkpoint.body: not the note body the checkpoint signed', at);

  // Witnesses: each given witness counts once, whatever number of cosignatures the bundle carries.
  let witnessed: number | undefined;
  const witnesses = options.witnesses ?? [];
  if (witnesses.length > 0) {
    const needed = options.minCosignatures ?? witnesses.length;
    const missing: number[] = [];
    for (const [i, w] of witnesses.entries()) {
      let store: jose.JWK.KeyStore;
      try {
        store = await witnessKeys(w);
      } catch (e) {
        return fail(`witness ${i + 1}: its key is not a usable JWK or JWKS (${(e as Error).message})`, at);
      }
      if (!(await cosigned(store, cp.body, bundle.checkpoint.cosignatures))) missing.push(i + 1);
    }
    witnessed = witnesses.length - missing.length;
    if (witnessed < needed) return fail(`the checkpoint (${cp.size}) is not witnessed: ${witnessed} of the ${needed} required cosignatures verify (none from witness ${missing.join(', ')})`, { ...at, witnessed });
  }

  let heads: HeadsStatement;
  try {
    heads = await openHeads(bundle.heads.jws, keystore);
  } catch (e) {
    return fail(`$.heads.jws: the signed stream heads do not verify with these keys (${(e as Error).message})`, at);
  }
  if (heads.format !== BUNDLE_FORMAT || heads.treeSize !== cp.size || heads.root !== cp.root.toString('hex')) return fail('$.heads: signed for another checkpoint or format than this bundle\'s', at);
  if (heads.patientId !== bundle.patientId || heads.from !== bundle.from || heads.to !== bundle.to) return fail('$.patientId: the bundle\'s patient or window is not the one Custos signed', at);

  /** A leaf (canonical JSON of a stored event) proven in the checkpoint's tree; the failure in words if not. */
  const prove = (event: BundleEvent, leaf: string, proof: string[], where: string): string | undefined => {
    if (canonical(event) !== leaf) return `${where}: its leaf is not the event's canonical JSON`;
    const { hash, ...unhashed } = event;
    if (sha256(canonical(unhashed as Json)) !== hash) return `${where}: its content does not hash to its hash`;
    if (event.globalSeq >= cp.size) return `${where}: it is beyond the checkpoint (${cp.size})`;
    if (!verifyInclusion(event.globalSeq, cp.size, leafHash(Buffer.from(leaf, 'utf8')), proof.map((h) => Buffer.from(h, 'hex')), cp.root)) return `${where}: its inclusion proof does not lead to the checkpoint's root`;
    return undefined;
  };

  const proven = new Map<number, BundleEvent>();
  for (const [i, entry] of bundle.events.entries()) {
    const e = entry.event;
    const where = `$.events[${i}] (global sequence ${e.globalSeq})`;
    const failure = prove(e, entry.leaf, entry.inclusionProof, where);
    if (failure) return fail(failure, at);
    if (proven.has(e.globalSeq)) return fail(`${where}: the same event twice`, at);
    if (e.metadata.patientId !== bundle.patientId) return fail(`${where}: not an event of patient ${bundle.patientId}`, at);
    proven.set(e.globalSeq, e);
  }

  const inWindow = (e: BundleEvent) => {
    const t = Date.parse(e.occurredAt);
    return e.metadata.patientId === bundle.patientId && t >= Date.parse(bundle.from) && t < Date.parse(bundle.to);
  };
  const signedHeads = new Map(heads.streams.map((h) => [h.streamId, h]));
  const inChain = new Set<number>();
  let links = 0;
  for (const [i, s] of bundle.streams.entries()) {
    const stream = `stream ${s.streamId}`;
    const head = signedHeads.get(s.streamId);
    if (!head) return fail(`$.streams[${i}]: ${stream} is not among the streams Custos signed for this export`, at);
    signedHeads.delete(s.streamId);
    let previous = GENESIS;
    for (const [j, l] of s.links.entries()) {
      const where = `${stream}: version ${l.version} (global sequence ${l.globalSeq})`;
      if (l.version !== j + 1) return fail(`${stream}: version ${j + 1} is missing`, at);
      let event: BundleEvent | undefined;
      if (l.leaf !== undefined && l.inclusionProof !== undefined) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(l.leaf);
        } catch {
          return fail(`$.streams[${i}].links[${j}].leaf: not JSON (${where})`, at);
        }
        event = storedEvent(parsed, `$.streams[${i}].links[${j}].leaf`);
        const failure = prove(event, l.leaf, l.inclusionProof, where);
        if (failure) return fail(failure, at);
        if (inWindow(event) && !proven.has(event.globalSeq)) return fail(`${where}: an event of patient ${bundle.patientId} in the window, left out of $.events: events were withheld`, at);
      } else {
        event = proven.get(l.globalSeq);
        if (!event) return fail(`${where}: not proven (no inclusion proof for it in the bundle): the link may stand for a withheld event`, at);
      }
      if (event.streamId !== s.streamId || event.version !== l.version || event.globalSeq !== l.globalSeq) return fail(`${where}: the link names an event of another stream or version (global sequence ${event.globalSeq} is ${event.streamId} version ${event.version})`, at);
      if (event.hash !== l.hash) return fail(`${where}: the link's hash is not its event's hash`, at);
      const ownPrev = (event.streamPrevHash ?? null) as string | null;
      if (ownPrev !== l.streamPrevHash) return fail(`${where}: the link's streamPrevHash is not its event's`, at);
      if (ownPrev !== null && ownPrev !== previous) return fail(`${where}: does not link to version ${l.version - 1}`, at);
      previous = l.hash;
      inChain.add(l.globalSeq);
      links++;
    }
    const last = s.links.at(-1);
    if (s.versionAtCheckpoint !== s.links.length || !last) return fail(`${stream}: its version at the checkpoint (${s.versionAtCheckpoint}) is not its last link (${s.links.length})`, at);
    if (head.version !== last.version || head.hash !== last.hash || head.globalSeq !== last.globalSeq) {
      return fail(`${stream}: the bundle shows it up to version ${last.version}, but Custos signed its head at the checkpoint as version ${head.version} (global sequence ${head.globalSeq}): the stream is not complete`, at);
    }
  }
  const [absent] = signedHeads.keys();
  if (absent !== undefined) return fail(`$.streams: stream ${absent} is signed for this export but missing from the bundle`, at);
  if (bundle.total !== heads.total) return fail(`$.total: ${bundle.total}, but Custos signed ${heads.total}`, at);
  if (bundle.events.length !== heads.total) return fail(`$.events: ${bundle.events.length} events, but Custos signed ${heads.total} for this patient and window: events were withheld or added`, at);
  for (const [, e] of proven) if (!inChain.has(e.globalSeq)) return fail(`global sequence ${e.globalSeq} is not in its stream's chain (stream ${e.streamId}, version ${e.version})`, at);

  let consistencyFrom: number | undefined;
  if (options.trusted) {
    let trusted: { size: number; root: Buffer };
    try {
      trusted = await openCheckpoint(options.trusted, keystore);
    } catch (e) {
      return fail(`the trusted checkpoint does not verify with these keys (${(e as Error).message})`, at);
    }
    if (trusted.size > cp.size) return fail(`the bundle's checkpoint (${cp.size}) is older than the trusted one (${trusted.size})`, at);
    if (trusted.size === cp.size) {
      if (!trusted.root.equals(cp.root)) return fail('the trusted checkpoint and the bundle have the same size and different roots: the log was rewritten', at);
    } else {
      const c = bundle.consistency;
      if (!c || c.fromSize !== trusted.size) return fail(`the bundle carries no consistency proof from the trusted size ${trusted.size} (export it with "since": ${trusted.size})`, at);
      if (c.fromRoot !== trusted.root.toString('hex')) return fail(`the log's tree at ${trusted.size} is not the one the trusted checkpoint signed: the log was rewritten`, at);
      if (!verifyConsistency(trusted.size, cp.size, trusted.root, cp.root, c.proof.map((h) => Buffer.from(h, 'hex')))) return fail('the consistency proof from the trusted checkpoint does not verify: the log was rewritten', at);
    }
    consistencyFrom = trusted.size;
  }
  return {
    ok: true,
    treeSize: cp.size,
    events: bundle.events.length,
    streams: bundle.streams.length,
    links,
    ...(consistencyFrom !== undefined ? { consistencyFrom } : {}),
    ...(witnessed !== undefined ? { witnessed } : {}),
    ...tag,
  };
}
