import { KeyService, openKek } from '@custos/keys';
import { leafHash, rootOf, verifyConsistency, verifyInclusion } from '@custos/merkle';
import { openTestStore, type StoreKind, testEvent, type TestStore } from '@custos/testing';
import jose from 'node-jose';
import { Checkpoints } from './checkpoints.js';
import { leafInput, LogTree } from './tree.js';

describe.each<StoreKind>(['pglite', 'postgres'])('the log tree on %s', (kind) => {
  let t: TestStore;
  beforeEach(async () => {
    t = await openTestStore(kind);
  });
  afterEach(async () => {
    await t.close();
  });

  it('integrates in batches to the same roots as an in-memory RFC 9162 tree, with proofs that verify', async () => {
    for (let i = 0; i < 45; i++) await t.store.append(`access-p${i % 4}`, [testEvent('AccessDecided', { i }, `p${i % 4}`)], { expectedVersion: 'any' });
    const tree = new LogTree(t.db);
    const sizes: number[] = [];
    for (let next = await tree.integrate(7); ; ) {
      sizes.push(next);
      const after = await tree.integrate(7);
      if (after === next) break;
      next = after;
    }
    expect(sizes).toEqual([7, 14, 21, 28, 35, 42, 45]);
    const events = await t.store.readAll(0, 1000);
    const leaves = events.map((e) => leafHash(leafInput(e)));
    expect((await tree.head()).root.toString('hex')).toBe(rootOf(leaves).toString('hex'));
    for (let n = 1; n <= 45; n++) {
      const root = await tree.root(n);
      expect(root.toString('hex')).toBe(rootOf(leaves.slice(0, n)).toString('hex'));
      for (const i of [0, Math.floor(n / 2), n - 1]) expect(verifyInclusion(i, n, leaves[i]!, await tree.inclusion(i, n), root)).toBe(true);
      for (const m of [1, Math.max(1, n - 3), n]) expect(verifyConsistency(m, n, await tree.root(m), root, await tree.consistency(m, n))).toBe(true);
    }
    // Nodes stored: perfect subtrees only, about 2 per leaf.
    const [count] = await t.db.query<{ n: string | number }>('SELECT count(*) AS n FROM custos_log_nodes');
    expect(Number(count?.n)).toBeLessThanOrEqual(2 * 45);
  });

  it('signs checkpoints in the C2SP note format as a compact JWS verifiable with the JWKS', async () => {
    for (let i = 0; i < 5; i++) await t.store.append('access-p1', [testEvent('AccessDecided', { i }, 'p1')], { expectedVersion: 'any' });
    const tree = new LogTree(t.db);
    await tree.integrate();
    const keys = new KeyService(t.db, await openKek({ kind: 'memory' }, () => undefined));
    const checkpoints = new Checkpoints(t.db, keys, 'custos.test/log');
    const cp = await checkpoints.sign(tree);
    expect(cp).not.toBeNull();
    expect(await checkpoints.sign(tree)).toBeNull(); // nothing new, nothing signed
    const root = (await tree.head()).root;
    expect(cp?.body).toBe(`custos.test/log\n5\n${root.toString('base64')}\n`);
    const verified = await jose.JWS.createVerify(await jose.JWK.asKeyStore(await keys.jwks()), { algorithms: ['ES256'] }).verify(cp?.jws as string);
    expect(verified.payload.toString('utf8')).toBe(cp?.body);
    expect(verified.header).toMatchObject({ alg: 'ES256', typ: 'tlog-checkpoint+jws' });
    expect((verified.header as { kid: string }).kid).toMatch(/^custos-checkpoints-/);
    expect((await checkpoints.latest())?.treeSize).toBe(5);
  });
});
