import { createHash, hash } from 'node:crypto';

/**
 * The Merkle tree of RFC 9162 §2.1 (Certificate Transparency v2), SHA-256: a leaf hash is
 * SHA-256(0x00 ‖ input), an interior node SHA-256(0x01 ‖ left ‖ right); a tree of n > 1
 * leaves splits at k, the largest power of two smaller than n; no node is ever duplicated.
 * Pure: hashes in, hashes out. Sizes and indexes stay below 2^53 (JavaScript numbers); the
 * split is computed without 32-bit shifts.
 */
export function leafHash(input: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(input).digest();
}

/** The leaf hash of a leaf input given as text (hashed as its UTF-8 bytes), in one call. */
export function leafHashOfText(input: string): Buffer {
  return hash('sha256', `\u0000${input}`, 'buffer');
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  // One-shot hashing of the 65 bytes: node hashes are half of what integration spends.
  const bytes = Buffer.allocUnsafe(1 + left.length + right.length);
  bytes[0] = 0x01;
  bytes.set(left, 1);
  bytes.set(right, 1 + left.length);
  return hash('sha256', bytes, 'buffer');
}

const LEAF_PREFIX = Buffer.from([0x00]);

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

/** MTH of the leaves [from, to): what a proof needs from the tree, wherever it is kept. */
export type SubtreeRoots = (from: number, to: number) => Buffer;

/** PATH(m, D[n]) of §2.1.3.1: the audit path of leaf `index`, nearest sibling first. */
export function inclusionProof(index: number, leaves: readonly Uint8Array[]): Buffer[] {
  return inclusionPath(index, leaves.length, (from, to) => subtreeRoot(leaves, from, to));
}

/** The same, for a tree of `size` whose subtree roots come from `roots` (a stored tree). */
export function inclusionPath(index: number, size: number, roots: SubtreeRoots): Buffer[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new RangeError(`leaf index ${index} is outside a tree of ${size}`);
  const path: Buffer[] = [];
  let from = 0;
  let to = size;
  let m = index;
  // Walk down from the root, collecting the sibling subtree at each split; reversed at the end.
  while (to - from > 1) {
    const k = splitPoint(to - from);
    if (m < k) {
      path.push(roots(from + k, to));
      to = from + k;
    } else {
      path.push(roots(from, from + k));
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
  return consistencyPath(size1, leaves.length, (from, to) => subtreeRoot(leaves, from, to));
}

/** The same, for a tree of `size2` whose subtree roots come from `roots` (a stored tree). */
export function consistencyPath(size1: number, size2: number, roots: SubtreeRoots): Buffer[] {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 1 || size1 > size2) throw new RangeError(`a consistency proof needs 0 < size1 <= size2 (got ${size1}, ${size2})`);
  if (size1 === size2) return [];
  return subproof(size1, 0, size2, true, roots);
}

function subproof(m: number, from: number, to: number, whole: boolean, roots: SubtreeRoots): Buffer[] {
  const n = to - from;
  if (m === n) return whole ? [] : [roots(from, to)];
  const k = splitPoint(n);
  if (m <= k) return [...subproof(m, from, from + k, whole, roots), roots(from + k, to)];
  return [...subproof(m - k, from + k, to, false, roots), roots(from, from + k)];
}

/**
 * The perfect subtrees [from, to) splits into along the RFC's splits: each `(level, index)`
 * covers leaves [index * 2^level, (index + 1) * 2^level). A tree that keeps only perfect
 * subtree nodes answers MTH of any range from these, and a proof needs O(log n) of them.
 */
export function perfectSubtrees(from: number, to: number): Array<{ level: number; index: number }> {
  const n = to - from;
  if (n <= 0) return [];
  if (isPowerOfTwo(n) && from % n === 0) return [{ level: Math.log2(n), index: from / n }];
  const k = splitPoint(n);
  return [...perfectSubtrees(from, from + k), ...perfectSubtrees(from + k, to)];
}

/** MTH of [from, to) from the roots of its perfect subtrees (in the order perfectSubtrees gives). */
export function rootFromPerfect(from: number, to: number, node: (level: number, index: number) => Buffer): Buffer {
  const n = to - from;
  if (isPowerOfTwo(n) && from % n === 0) return node(Math.log2(n), from / n);
  const k = splitPoint(n);
  return nodeHash(rootFromPerfect(from, from + k, node), rootFromPerfect(from + k, to, node));
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
