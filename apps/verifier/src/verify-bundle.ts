import { createHash } from 'node:crypto';
import { leafHash, verifyConsistency, verifyInclusion } from '@custos/merkle';
import jose from 'node-jose';

/**
 * The offline check of a Custos export, for a regulator: it trusts nothing but the public
 * keys. Its own canonical JSON and event hashing (not the service's code) re-derive every
 * leaf and every event hash; `@custos/merkle` (pure SHA-256, no framework) checks the proofs.
 */
export interface BundleReport {
  ok: boolean;
  /** The first check that failed, in words. */
  failure?: string;
  treeSize?: number;
  events: number;
  streams: number;
  consistencyFrom?: number;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
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

async function openCheckpoint(jws: string, keystore: jose.JWK.KeyStore): Promise<{ size: number; root: Buffer; body: string }> {
  const verified = await jose.JWS.createVerify(keystore, { algorithms: ['ES256'] }).verify(jws.trim());
  if ((verified.header as { typ?: string }).typ !== 'tlog-checkpoint+jws') throw new Error('not a tlog-checkpoint+jws');
  const body = verified.payload.toString('utf8');
  const [origin, size, root, end] = body.split('\n');
  const rootBytes = Buffer.from(root ?? '', 'base64');
  if (!origin || !/^(0|[1-9]\d{0,15})$/.test(size ?? '') || rootBytes.length !== 32 || end !== '') throw new Error('the checkpoint body is not origin, size, base64 root');
  return { size: Number(size), root: rootBytes, body };
}

interface Bundle {
  format: string;
  checkpoint: { treeSize: number; body: string; jws: string };
  events: Array<{ event: Record<string, Json> & { globalSeq: number; streamId: string; version: number; hash: string }; leaf: string; inclusionProof: string[] }>;
  streams: Array<{ streamId: string; versionAtCheckpoint: number; links: Array<{ version: number; globalSeq: number; hash: string; streamPrevHash: string | null }> }>;
  consistency?: { fromSize: number; fromRoot: string; proof: string[] };
  jwks: { keys: object[] };
}

export async function verifyBundle(input: unknown, options: { jwks?: object; trusted?: string } = {}): Promise<BundleReport> {
  const bundle = input as Bundle;
  const fail = (failure: string, extra: Partial<BundleReport> = {}): BundleReport => ({ ok: false, failure, events: 0, streams: 0, ...extra });
  if (!bundle || bundle.format !== 'custos-export/1' || !Array.isArray(bundle.events) || !Array.isArray(bundle.streams) || !bundle.checkpoint) return fail('not a custos-export/1 bundle');
  const keystore = await jose.JWK.asKeyStore(options.jwks ?? bundle.jwks);
  let cp: { size: number; root: Buffer; body: string };
  try {
    cp = await openCheckpoint(bundle.checkpoint.jws, keystore);
  } catch (e) {
    return fail(`the checkpoint's signature does not verify with these keys (${(e as Error).message})`);
  }
  if (cp.size !== bundle.checkpoint.treeSize) return fail('the checkpoint says another tree size than the bundle');

  for (const [i, entry] of bundle.events.entries()) {
    const e = entry.event;
    const where = `event ${i} (global sequence ${e.globalSeq})`;
    if (canonical(e) !== entry.leaf) return fail(`${where}: its leaf is not the event's canonical JSON`, { treeSize: cp.size });
    const { hash, ...unhashed } = e;
    if (createHash('sha256').update(canonical(unhashed as Json)).digest('hex') !== hash) return fail(`${where}: its content does not hash to its hash`, { treeSize: cp.size });
    const proof = entry.inclusionProof.map((h) => Buffer.from(h, 'hex'));
    if (!verifyInclusion(e.globalSeq, cp.size, leafHash(Buffer.from(entry.leaf, 'utf8')), proof, cp.root)) return fail(`${where}: its inclusion proof does not lead to the checkpoint's root`, { treeSize: cp.size });
  }

  const links = new Map<string, string>();
  for (const s of bundle.streams) {
    let previous = GENESIS;
    for (const [i, l] of s.links.entries()) {
      if (l.version !== i + 1) return fail(`stream ${s.streamId}: version ${i + 1} is missing`, { treeSize: cp.size });
      if (l.streamPrevHash !== null && l.streamPrevHash !== previous) return fail(`stream ${s.streamId}: version ${l.version} does not link to version ${l.version - 1}`, { treeSize: cp.size });
      if (l.globalSeq >= cp.size) return fail(`stream ${s.streamId}: version ${l.version} is beyond the checkpoint`, { treeSize: cp.size });
      previous = l.hash;
      links.set(`${s.streamId}\u0000${l.version}`, l.hash);
    }
    if (s.versionAtCheckpoint !== s.links.length) return fail(`stream ${s.streamId}: its version at the checkpoint is not its last link`, { treeSize: cp.size });
  }
  for (const { event } of bundle.events) {
    if (links.get(`${event.streamId}\u0000${event.version}`) !== event.hash) return fail(`global sequence ${event.globalSeq} is not in its stream's chain`, { treeSize: cp.size });
  }

  let consistencyFrom: number | undefined;
  if (options.trusted) {
    let trusted: { size: number; root: Buffer };
    try {
      trusted = await openCheckpoint(options.trusted, keystore);
    } catch (e) {
      return fail(`the trusted checkpoint does not verify with these keys (${(e as Error).message})`, { treeSize: cp.size });
    }
    if (trusted.size > cp.size) return fail(`the bundle's checkpoint (${cp.size}) is older than the trusted one (${trusted.size})`, { treeSize: cp.size });
    if (trusted.size === cp.size) {
      if (!trusted.root.equals(cp.root)) return fail('the trusted checkpoint and the bundle have the same size and different roots: the log was rewritten', { treeSize: cp.size });
    } else {
      const c = bundle.consistency;
      if (!c || c.fromSize !== trusted.size) return fail(`the bundle carries no consistency proof from the trusted size ${trusted.size} (export it with "since": ${trusted.size})`, { treeSize: cp.size });
      if (c.fromRoot !== trusted.root.toString('hex')) return fail(`the log's tree at ${trusted.size} is not the one the trusted checkpoint signed: the log was rewritten`, { treeSize: cp.size });
      if (!verifyConsistency(trusted.size, cp.size, trusted.root, cp.root, c.proof.map((h) => Buffer.from(h, 'hex')))) return fail('the consistency proof from the trusted checkpoint does not verify: the log was rewritten', { treeSize: cp.size });
    }
    consistencyFrom = trusted.size;
  }
  return { ok: true, treeSize: cp.size, events: bundle.events.length, streams: bundle.streams.length, ...(consistencyFrom !== undefined ? { consistencyFrom } : {}) };
}
