import { type Database, readLog } from '@custos/event-store';
import { leafHash, rootOf } from '@custos/merkle';
import jose from 'node-jose';
import { leafInput, LogTree } from './tree.js';

export interface CheckpointCheck {
  readonly ok: boolean;
  readonly origin: string;
  readonly treeSize: number;
  /** Events read from the log (up to the checkpoint's size). */
  readonly checked: number;
  /** Why it failed, in words. */
  readonly reason?: string;
  /** The first global sequence where the log no longer matches, when it can be named. */
  readonly firstInconsistentSeq?: number;
  /** Otherwise the range it lies in: [from, to), from the checkpoints whose signatures still hold. */
  readonly inconsistentWithin?: readonly [number, number];
}

/** Parses and verifies a checkpoint JWS; returns its body's fields. */
export async function openCheckpoint(jws: string, keystore: jose.JWK.KeyStore): Promise<{ origin: string; size: number; root: Buffer }> {
  const verified = await jose.JWS.createVerify(keystore, { algorithms: ['ES256'] }).verify(jws.trim());
  if ((verified.header as { typ?: string }).typ !== 'tlog-checkpoint+jws') throw new Error('not a tlog-checkpoint+jws');
  const [origin, size, root, end] = verified.payload.toString('utf8').split('\n');
  const rootBytes = Buffer.from(root ?? '', 'base64');
  if (!origin || !/^(0|[1-9]\d{0,15})$/.test(size ?? '') || rootBytes.length !== 32 || end !== '') throw new Error('the checkpoint body is not origin, size, base64 root, one per line');
  return { origin, size: Number(size), root: rootBytes };
}

/**
 * `custos verify --against checkpoint.jws`: recomputes the tree of the checkpoint's size from
 * the events themselves (not from the stored tree, which whoever rewrote the log can rebuild)
 * and compares roots. On a mismatch it names the first inconsistent position where it can:
 * the first leaf that differs from the stored tree's leaves (when those were not rebuilt), or
 * else the range between the last signed checkpoint that still matches and the first that
 * does not (signatures cannot be forged without the key).
 */
export async function verifyAgainstCheckpoint(db: Database, jws: string, keystore: jose.JWK.KeyStore, pageSize = 5000): Promise<CheckpointCheck> {
  const { origin, size, root } = await openCheckpoint(jws, keystore);
  const leaves: Buffer[] = [];
  while (leaves.length < size) {
    const page = await readLog(db, leaves.length, size - 1, Math.min(pageSize, size - leaves.length));
    if (page.length === 0) break;
    for (const e of page) leaves.push(leafHash(leafInput(e)));
  }
  if (leaves.length < size) {
    return { ok: false, origin, treeSize: size, checked: leaves.length, reason: `the log holds ${leaves.length} events; the checkpoint covers ${size}: events from ${leaves.length} on were removed`, firstInconsistentSeq: leaves.length };
  }
  if (rootOf(leaves).equals(root)) return { ok: true, origin, treeSize: size, checked: size };
  const stored = await new LogTree(db).leafHashes(0, size);
  for (let i = 0; i < stored.length; i++) {
    if (!(stored[i] as Buffer).equals(leaves[i] as Buffer)) {
      return { ok: false, origin, treeSize: size, checked: size, reason: `the event at global sequence ${i} is not the one the tree recorded`, firstInconsistentSeq: i };
    }
  }
  // The stored tree was rebuilt too: narrow it down with the signed checkpoints still on record.
  let lastGood = 0;
  let firstBad = size;
  const checkpoints = await db.query<{ tree_size: string | number; jws: string }>('SELECT tree_size, jws FROM custos_log_checkpoints WHERE tree_size < $1 ORDER BY tree_size', [size]);
  for (const c of checkpoints) {
    let opened: { size: number; root: Buffer };
    try {
      opened = await openCheckpoint(c.jws, keystore);
    } catch {
      continue; // not signed by a trusted key: says nothing
    }
    if (rootOf(leaves.slice(0, opened.size)).equals(opened.root)) lastGood = Math.max(lastGood, opened.size);
    else firstBad = Math.min(firstBad, opened.size);
  }
  return { ok: false, origin, treeSize: size, checked: size, reason: `the first ${size} events no longer hash to the checkpoint's root; the change lies in [${lastGood}, ${firstBad})`, inconsistentWithin: [lastGood, firstBad] };
}
