import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { consistencyProof, inclusionProof, leafHash, rootOf, verifyConsistency, verifyInclusion } from './rfc9162.js';

// Test vectors from transparency-dev/merkle (testonly/constants.go and cmd/proofgen/main.go),
// computed there by an independent implementation of RFC 6962 / RFC 9162 hashing.
const INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => Buffer.from(h, 'hex'));
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
// [1-based leaf, tree size, audit path]
const PROOFS: Array<[number, number, string[]]> = [
  [1, 1, []],
  [1, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [6, 8, ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [3, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [2, 5, ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
];

describe('RFC 9162 Merkle tree', () => {
  const leaves = INPUTS.map(leafHash);

  it('gives the reference root for every tree size 0..8', () => {
    for (let n = 0; n <= 8; n++) expect({ n, root: rootOf(leaves.slice(0, n)).toString('hex') }).toEqual({ n, root: ROOTS[n] });
  });

  it('gives the reference audit paths, and they verify', () => {
    for (const [leaf, size, path] of PROOFS) {
      const proof = inclusionProof(leaf - 1, leaves.slice(0, size));
      expect(proof.map((p) => p.toString('hex'))).toEqual(path);
      expect(verifyInclusion(leaf - 1, size, leaves[leaf - 1]!, proof, Buffer.from(ROOTS[size]!, 'hex'))).toBe(true);
    }
  });

  it('verifies every leaf of trees up to 70 leaves, and refuses a changed proof, leaf, index, or a larger tree', () => {
    const many = Array.from({ length: 70 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
    for (let n = 1; n <= 70; n++) {
      const tree = many.slice(0, n);
      const root = rootOf(tree);
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(i, tree);
        expect(verifyInclusion(i, n, tree[i]!, proof, root)).toBe(true);
        if (proof.length > 0) {
          const bent = proof.map((p, j) => (j === 0 ? createHash('sha256').update(p).digest() : p));
          expect(verifyInclusion(i, n, tree[i]!, bent, root)).toBe(false);
        }
        expect(verifyInclusion(i, n, leafHash(Buffer.from('other')), proof, root)).toBe(false);
        if (n > 1) expect(verifyInclusion((i + 1) % n, n, tree[i]!, proof, root)).toBe(false);
        // The size a proof is checked at comes with the root of that size (a checkpoint): the
        // proof from n does not lead to the root of n + 1.
        if (n < 70) expect(verifyInclusion(i, n + 1, tree[i]!, proof, rootOf(many.slice(0, n + 1)))).toBe(false);
      }
    }
  });

  it('refuses an index outside the tree', () => {
    expect(() => inclusionProof(3, leaves.slice(0, 3))).toThrow(RangeError);
    expect(verifyInclusion(-1, 3, leaves[0]!, [], rootOf(leaves.slice(0, 3)))).toBe(false);
  });
});

// Consistency vectors from transparency-dev/merkle cmd/proofgen (size1, size2, proof).
const CONSISTENCY: Array<[number, number, string[]]> = [
  [1, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [6, 8, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 5, ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
];

describe('RFC 9162 consistency proofs', () => {
  const leaves = INPUTS.map(leafHash);

  it('gives the reference proofs, and they verify', () => {
    for (const [m, n, path] of CONSISTENCY) {
      const proof = consistencyProof(m, leaves.slice(0, n));
      expect(proof.map((p) => p.toString('hex'))).toEqual(path);
      expect(verifyConsistency(m, n, Buffer.from(ROOTS[m]!, 'hex'), Buffer.from(ROOTS[n]!, 'hex'), proof)).toBe(true);
    }
  });

  it('verifies every pair of sizes up to 40, and refuses a changed proof or root, or swapped sizes', () => {
    const many = Array.from({ length: 40 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
    for (let n = 1; n <= 40; n++) {
      const rootN = rootOf(many.slice(0, n));
      for (let m = 1; m <= n; m++) {
        const rootM = rootOf(many.slice(0, m));
        const proof = consistencyProof(m, many.slice(0, n));
        expect(verifyConsistency(m, n, rootM, rootN, proof)).toBe(true);
        if (m < n) {
          expect(verifyConsistency(m, n, rootM, rootOf(many.slice(0, n - 1)), proof)).toBe(false);
          expect(verifyConsistency(m, n, leafHash(Buffer.from('x')), rootN, proof)).toBe(false);
          const bent = proof.map((p, j) => (j === proof.length - 1 ? createHash('sha256').update(p).digest() : p));
          expect(verifyConsistency(m, n, rootM, rootN, bent)).toBe(false);
          expect(verifyConsistency(n, m, rootN, rootM, proof)).toBe(false);
        }
      }
    }
  });

  it('refuses the known pitfalls: size1 = 0, equal sizes with a proof, hashes not 32 bytes', () => {
    const r = rootOf(leaves.slice(0, 4));
    expect(verifyConsistency(0, 4, r, r, [])).toBe(false);
    expect(verifyConsistency(4, 4, r, r, [r])).toBe(false);
    expect(verifyConsistency(4, 4, r, r, [])).toBe(true);
    expect(verifyConsistency(2, 4, r.subarray(0, 31), r, consistencyProof(2, leaves.slice(0, 4)))).toBe(false);
    expect(verifyInclusion(0, 4, leaves[0]!, inclusionProof(0, leaves.slice(0, 4)).map((p) => p.subarray(0, 31)), r)).toBe(false);
  });
});

/** Every probe file of transparency-dev/merkle's testdata (see testdata/transparency-dev/SOURCE.md). */
function probes(dir: string): Array<{ file: string; probe: Record<string, unknown> }> {
  const out: Array<{ file: string; probe: Record<string, unknown> }> = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.json')) out.push({ file: p.slice(p.indexOf('transparency-dev')), probe: JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown> });
    }
  };
  walk(dir);
  return out;
}

describe('transparency-dev/merkle conformance probes (positive and negative)', () => {
  const root = join(import.meta.dirname, '..', 'testdata', 'transparency-dev');
  const b64 = (v: unknown) => Buffer.from(String(v ?? ''), 'base64');
  const list = (v: unknown) => ((v as string[] | null) ?? []).map(b64);

  it('inclusion: every probe verifies exactly when it should', () => {
    const all = probes(join(root, 'inclusion'));
    expect(all.length).toBeGreaterThan(50);
    const wrong = all.filter(({ probe: p }) => verifyInclusion(Number(p.leafIdx), Number(p.treeSize), b64(p.leafHash), list(p.proof), b64(p.root)) === Boolean(p.wantErr)).map((x) => x.file);
    expect(wrong).toEqual([]);
  });

  it('consistency: every probe verifies exactly when it should', () => {
    const all = probes(join(root, 'consistency'));
    expect(all.length).toBeGreaterThan(20);
    const wrong = all.filter(({ probe: p }) => verifyConsistency(Number(p.size1), Number(p.size2), b64(p.root1), b64(p.root2), list(p.proof)) === Boolean(p.wantErr)).map((x) => x.file);
    expect(wrong).toEqual([]);
  });
});

describe('RFC 9162 §2.1.5 examples (the seven-leaf tree)', () => {
  // a..f: leaves of d0..d5; j: leaf of d6; g = H(a, b), h = H(c, d), i = H(e, f), k = H(g, h), l = H(i, j).
  const d = Array.from({ length: 7 }, (_, n) => leafHash(Buffer.from(`d${n}`)));
  const [a, b, c, dd, e, f, j] = d as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
  const H = (x: Buffer, y: Buffer) => createHash('sha256').update(Buffer.concat([Buffer.from([1]), x, y])).digest();
  const g = H(a, b);
  const h = H(c, dd);
  const i = H(e, f);
  const k = H(g, h);
  const l = H(i, j);
  const hex = (xs: Buffer[]) => xs.map((x) => x.toString('hex'));

  it('gives the audit paths of the RFC: d0 [b, h, l], d3 [c, g, l], d4 [f, j, k], d6 [i, k]', () => {
    expect(hex(inclusionProof(0, d))).toEqual(hex([b, h, l]));
    expect(hex(inclusionProof(3, d))).toEqual(hex([c, g, l]));
    expect(hex(inclusionProof(4, d))).toEqual(hex([f, j, k]));
    expect(hex(inclusionProof(6, d))).toEqual(hex([i, k]));
    expect(rootOf(d).toString('hex')).toBe(H(k, l).toString('hex'));
  });

  it('gives the consistency proofs of the RFC: (3, 7) [c, d, g, l], (4, 7) [l], (6, 7) [i, j, k]', () => {
    expect(hex(consistencyProof(3, d))).toEqual(hex([c, dd, g, l]));
    expect(hex(consistencyProof(4, d))).toEqual(hex([l]));
    expect(hex(consistencyProof(6, d))).toEqual(hex([i, j, k]));
  });
});
