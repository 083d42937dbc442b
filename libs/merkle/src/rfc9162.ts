import { createHash } from 'node:crypto';

/**
 * The Merkle tree of RFC 9162 §2.1 (Certificate Transparency v2), SHA-256: a leaf hash is
 * SHA-256(0x00 ‖ input), an interior node SHA-256(0x01 ‖ left ‖ right); a tree of n > 1
 * leaves splits at k, the largest power of two smaller than n; no node is ever duplicated.
 * Pure: hashes in, hashes out. Sizes and indexes stay below 2^53 (JavaScript numbers); the
 * split is computed without 32-bit shifts.
 */
export function leafHash(input: Uint8Array): Buffer {
  return createHash('sha256').update(Buffer.from([0x00])).update(input).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(Buffer.from([0x01])).update(left).update(right).digest();
}

/** The largest power of two strictly smaller than n (n >= 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) from the leaf hashes (the empty tree's hash is SHA-256 of nothing). */
export function rootOf(leaves: readonly Uint8Array[]): Buffer {
  if (leaves.length === 0) return createHash('sha256').digest();
  return subtreeRoot(leaves, 0, leaves.length);
}

function subtreeRoot(leaves: readonly Uint8Array[], from: number, to: number): Buffer {
  const n = to - from;
  if (n === 1) return Buffer.from(leaves[from] as Uint8Array);
  const k = splitPoint(n);
  return nodeHash(subtreeRoot(leaves, from, from + k), subtreeRoot(leaves, from + k, to));
}

/** PATH(m, D[n]) of §2.1.3.1: the audit path of leaf `index`, nearest sibling first. */
export function inclusionProof(index: number, leaves: readonly Uint8Array[]): Buffer[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leaves.length) throw new RangeError(`leaf index ${index} is outside a tree of ${leaves.length}`);
  const path: Buffer[] = [];
  let from = 0;
  let to = leaves.length;
  let m = index;
  // Walk down from the root, collecting the sibling subtree at each split; reversed at the end.
  while (to - from > 1) {
    const k = splitPoint(to - from);
    if (m < k) {
      path.push(subtreeRoot(leaves, from + k, to));
      to = from + k;
    } else {
      path.push(subtreeRoot(leaves, from, from + k));
      from += k;
      m -= k;
    }
  }
  return path.reverse();
}

/** The verification of §2.1.3.2: whether `proof` takes the leaf at `index` to `root` in a tree of `size`. */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(Buffer.from(root));
}
