import { createHash } from 'node:crypto';
import { inclusionProof, leafHash, rootOf, verifyInclusion } from './rfc9162.js';

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
