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

const HASH = 32;
const allHashes = (...hs: ReadonlyArray<Uint8Array | readonly Uint8Array[]>) => hs.flat().every((h) => h instanceof Uint8Array && h.length === HASH);

/** The verification of §2.1.3.2: whether `proof` takes the leaf at `index` to `root` in a tree of `size`. */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[] | null, root: Uint8Array): boolean {
  proof ??= [];
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (!allHashes(leaf, root, proof)) return false;
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

/**
 * PROOF(m, D[n]) of §2.1.4.1: the consistency proof from the tree of the first `size1` leaves
 * to the tree of all of them (0 < size1 < n; empty for size1 = n).
 */
export function consistencyProof(size1: number, leaves: readonly Uint8Array[]): Buffer[] {
  const n = leaves.length;
  if (!Number.isSafeInteger(size1) || size1 < 1 || size1 > n) throw new RangeError(`a consistency proof needs 0 < size1 <= size2 (got ${size1}, ${n})`);
  if (size1 === n) return [];
  return subproof(size1, leaves, 0, n, true);
}

function subproof(m: number, leaves: readonly Uint8Array[], from: number, to: number, whole: boolean): Buffer[] {
  const n = to - from;
  if (m === n) return whole ? [] : [subtreeRoot(leaves, from, to)];
  const k = splitPoint(n);
  if (m <= k) return [...subproof(m, leaves, from, from + k, whole), subtreeRoot(leaves, from + k, to)];
  return [...subproof(m - k, leaves, from + k, to, false), subtreeRoot(leaves, from, from + k)];
}

/**
 * The verification of §2.1.4.2: whether `proof` shows the tree of `size2` with `root2`
 * extends the tree of `size1` with `root1`. As transparency-dev/merkle: a proof from the
 * empty tree is meaningless (refused), equal sizes need an empty proof and equal roots.
 */
export function verifyConsistency(size1: number, size2: number, root1: Uint8Array, root2: Uint8Array, proof: readonly Uint8Array[] | null): boolean {
  proof ??= [];
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 1 || size2 < size1) return false;
  // Equal sizes: consistent exactly when the roots are the same bytes (the vectors test this with non-hashes).
  if (size1 === size2) return proof.length === 0 && Buffer.from(root1).equals(Buffer.from(root2));
  if (!allHashes(root1, root2, proof)) return false;
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = Buffer.from(path[0] as Uint8Array);
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr.equals(Buffer.from(root1)) && sr.equals(Buffer.from(root2));
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && splitPoint(n * 2) === n;
}
