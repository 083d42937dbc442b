/**
 * The shape of a `custos-export/2` bundle, checked before anything else is: a bundle that is
 * not this shape is refused naming the JSON path of the first thing wrong, so nothing further
 * down meets a wrong type, a missing field, a number past 2^53 or nesting deep enough to
 * overflow the stack.
 */
import { BUNDLE_FORMAT, type BundleOf } from '@custos/export-format';

export { BUNDLE_FORMAT, type BundleLink } from '@custos/export-format';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface BundleEvent {
  [key: string]: Json;
  eventId: string;
  streamId: string;
  version: number;
  globalSeq: number;
  type: string;
  occurredAt: string;
  hash: string;
  metadata: { [key: string]: Json };
}

/** A bundle as read: plain JSON events, and the JWKS the bundle may carry (used only when told). */
export interface Bundle extends BundleOf<BundleEvent> {
  jwks?: { keys: Json[] };
}

/** Something in the bundle is not what its place needs: `path` is where (`$.events[3].leaf`). */
export class ShapeError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

/** Deeper than this anywhere is refused (events hold at most a few levels). */
export const MAX_DEPTH = 64;
/** Longer arrays than this are refused (an export holds at most 100,000 events, a proof 64 hashes). */
const MAX_ITEMS = 10_000_000;

const HEX64 = /^[0-9a-f]{64}$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function object(v: unknown, path: string): Record<string, unknown> {
  present(v, path);
  if (!isObject(v)) throw new ShapeError(path, `must be an object, not ${describe(v)}`);
  return v;
}
function array(v: unknown, path: string, max = MAX_ITEMS): unknown[] {
  present(v, path);
  if (!Array.isArray(v)) throw new ShapeError(path, `must be an array, not ${describe(v)}`);
  if (v.length > max) throw new ShapeError(path, `has ${v.length} entries, more than ${max}`);
  return v;
}
function string(v: unknown, path: string): string {
  present(v, path);
  if (typeof v !== 'string') throw new ShapeError(path, `must be a string, not ${describe(v)}`);
  return v;
}
function hex64(v: unknown, path: string): string {
  present(v, path);
  if (typeof v !== 'string' || !HEX64.test(v)) throw new ShapeError(path, 'must be a SHA-256 hash in lower-case hex (64 characters)');
  return v;
}
/** A whole number from `min` to 2^53 - 1: the sizes, sequences and versions the log can have. */
function count(v: unknown, path: string, min = 0): number {
  present(v, path);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new ShapeError(path, `must be a whole number from ${min} to ${Number.MAX_SAFE_INTEGER}, not ${describe(v)}`);
  return v;
}
function hexList(v: unknown, path: string): string[] {
  return array(v, path, 64).map((h, i) => hex64(h, `${path}[${i}]`));
}
function present(v: unknown, path: string): void {
  if (v === undefined) throw new ShapeError(path, 'is missing');
}
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? 'a long string' : JSON.stringify(v);
  if (typeof v === 'number') return String(v);
  return typeof v === 'object' ? 'an object' : typeof v;
}

/**
 * Plain JSON no deeper than MAX_DEPTH, walked without recursion (so a hostile nesting cannot
 * overflow the stack here either).
 */
export function plainJson(root: unknown, rootPath: string): Json {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value: root, path: rootPath, depth: 0 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    present(value, path);
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new ShapeError(path, 'must be a finite number');
      continue;
    }
    if (typeof value !== 'object') throw new ShapeError(path, `is not JSON (${typeof value})`);
    if (depth >= MAX_DEPTH) throw new ShapeError(path, `is nested deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(value)) value.forEach((v, i) => stack.push({ value: v, path: `${path}[${i}]`, depth: depth + 1 }));
    else for (const [k, v] of Object.entries(value)) stack.push({ value: v, path: `${path}${/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`}`, depth: depth + 1 });
  }
  return root as Json;
}

/** A stored event: the fields the verifier reads, of the right types; the rest plain JSON. */
export function storedEvent(v: unknown, path: string): BundleEvent {
  const e = object(plainJson(v, path), path);
  string(e.eventId, `${path}.eventId`);
  string(e.streamId, `${path}.streamId`);
  count(e.version, `${path}.version`, 1);
  count(e.globalSeq, `${path}.globalSeq`);
  string(e.type, `${path}.type`);
  string(e.occurredAt, `${path}.occurredAt`);
  hex64(e.hash, `${path}.hash`);
  if (e.streamPrevHash !== undefined && e.streamPrevHash !== null) hex64(e.streamPrevHash, `${path}.streamPrevHash`);
  object(e.metadata, `${path}.metadata`);
  return e as BundleEvent;
}

/** The bundle, checked field by field; throws ShapeError naming the first path that is wrong. */
export function bundleShape(input: unknown): Bundle {
  const b = object(input, '$');
  if (b.format !== BUNDLE_FORMAT) {
    const seen = typeof b.format === 'string' ? `"${b.format.slice(0, 40)}"` : describe(b.format);
    throw new ShapeError('$.format', `is ${seen}: this verifier reads ${BUNDLE_FORMAT} bundles only${b.format === 'custos-export/1' ? ' (custos-export/1 cannot prove a stream complete: ask for a new export)' : ''}`);
  }
  string(b.patientId, '$.patientId');
  string(b.from, '$.from');
  string(b.to, '$.to');
  count(b.total, '$.total');

  const cp = object(b.checkpoint, '$.checkpoint');
  count(cp.treeSize, '$.checkpoint.treeSize', 1);
  string(cp.body, '$.checkpoint.body');
  string(cp.jws, '$.checkpoint.jws');
  array(cp.cosignatures, '$.checkpoint.cosignatures', 1000).forEach((c, i) => {
    const o = object(c, `$.checkpoint.cosignatures[${i}]`);
    string(o.witness, `$.checkpoint.cosignatures[${i}].witness`);
    string(o.cosignature, `$.checkpoint.cosignatures[${i}].cosignature`);
  });

  array(b.events, '$.events').forEach((entry, i) => {
    const path = `$.events[${i}]`;
    const o = object(entry, path);
    storedEvent(o.event, `${path}.event`);
    string(o.leaf, `${path}.leaf`);
    hexList(o.inclusionProof, `${path}.inclusionProof`);
  });

  array(b.streams, '$.streams').forEach((entry, i) => {
    const path = `$.streams[${i}]`;
    const s = object(entry, path);
    string(s.streamId, `${path}.streamId`);
    count(s.versionAtCheckpoint, `${path}.versionAtCheckpoint`, 1);
    array(s.links, `${path}.links`).forEach((link, j) => {
      const lp = `${path}.links[${j}]`;
      const l = object(link, lp);
      count(l.version, `${lp}.version`, 1);
      count(l.globalSeq, `${lp}.globalSeq`);
      hex64(l.hash, `${lp}.hash`);
      if (l.streamPrevHash !== null) hex64(l.streamPrevHash, `${lp}.streamPrevHash`);
      if ((l.leaf === undefined) !== (l.inclusionProof === undefined)) throw new ShapeError(lp, 'must carry both a leaf and an inclusion proof, or neither (then its event is in $.events)');
      if (l.leaf !== undefined) {
        string(l.leaf, `${lp}.leaf`);
        hexList(l.inclusionProof, `${lp}.inclusionProof`);
      }
    });
  });

  string(object(b.heads, '$.heads').jws, '$.heads.jws');

  if (b.consistency !== undefined) {
    const c = object(b.consistency, '$.consistency');
    count(c.fromSize, '$.consistency.fromSize', 1);
    hex64(c.fromRoot, '$.consistency.fromRoot');
    hexList(c.proof, '$.consistency.proof');
  }
  if (b.jwks !== undefined) array(object(plainJson(b.jwks, '$.jwks'), '$.jwks').keys, '$.jwks.keys', 1000);
  return b as unknown as Bundle;
}
