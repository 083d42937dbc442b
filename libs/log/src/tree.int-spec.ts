import { KeyService, openKek } from '@custos/keys';
import { leafHash, rootOf, verifyConsistency, verifyInclusion } from '@custos/merkle';
import { openTestStore, type StoreKind, testEvent, type TestStore } from '@custos/testing';
import jose from 'node-jose';
import { Checkpoints } from './checkpoints.js';
import { LeafFeed, leafInput, LogTree } from './tree.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

describe.each<StoreKind>(['pglite', 'postgres'])('the log tree on %s', (kind) => {
  let t: TestStore;
  beforeEach(async () => {
    t = await openTestStore(kind, ALL_MIGRATIONS);
  });
  afterEach(async () => {
    await t.close();
  });

  it.each([
    { height: 8, feed: false },
    { height: 4, feed: true },
    { height: 2, feed: false },
    { height: 1, feed: true },
    { height: 2, feed: true },
  ])('integrates in batches to the same roots as an in-memory RFC 9162 tree, with proofs that verify (tile height $height, feed $feed)', async ({ height, feed }) => {
    const leafFeed = new LeafFeed();
    if (feed) leafFeed.attach(t.store);
    // Odd text on purpose: the feed hashes the append's canonical text, the store path the events read back.
    for (let i = 0; i < 45; i++) await t.store.append(`access-p${i % 4}`, [testEvent('AccessDecided', { i, note: i % 5 === 0 ? 'Zoë 😀 \u2028 "q"' : 'x' }, `p${i % 4}`)], { expectedVersion: 'any' });
    const tree = new LogTree(t.db, { tileHeight: height, ...(feed ? { feed: leafFeed } : {}) });
    const sizes: number[] = [];
    for (let next = await tree.integrate(7); ; ) {
      sizes.push(next);
      const after = await tree.integrate(7);
      if (after === next) break;
      next = after;
    }
    expect(sizes).toEqual([7, 14, 21, 28, 35, 42, 45]);
    if (feed) expect(leafFeed.size).toBe(0);
    const events = await t.store.readAll(0, 1000);
    const leaves = events.map((e) => leafHash(leafInput(e)));
    expect((await tree.head()).root.toString('hex')).toBe(rootOf(leaves).toString('hex'));
    expect((await tree.leafHashes(0, 45)).map((h) => h.toString('hex'))).toEqual(leaves.map((h) => h.toString('hex')));
    expect((await tree.leafHashes(13, 30)).map((h) => h.toString('hex'))).toEqual(leaves.slice(13, 30).map((h) => h.toString('hex')));
    // The root at every size; the proofs at the sizes where a subtree or a tile (2, 4, 16 or 256
    // leaves wide here) closes or opens: one below, at and above each power of two, and the end.
    const proved = new Set([1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 44, 45]);
    for (let n = 1; n <= 45; n++) {
      const root = await tree.root(n);
      expect(root.toString('hex')).toBe(rootOf(leaves.slice(0, n)).toString('hex'));
      if (!proved.has(n)) continue;
      for (const i of [0, Math.floor(n / 2), n - 1]) expect(verifyInclusion(i, n, leaves[i]!, await tree.inclusion(i, n), root)).toBe(true);
      for (const m of [1, Math.max(1, n - 3), n]) expect(verifyConsistency(m, n, await tree.root(m), root, await tree.consistency(m, n))).toBe(true);
    }
    await expect(tree.root(46)).rejects.toThrow(/not integrated that far/);
    // Tiles stored: one row per 2^height nodes of a tile's bottom level, plus the right edge.
    const [count] = await t.db.query<{ n: string | number }>('SELECT count(*) AS n FROM custos_log_tiles');
    expect(Number(count?.n)).toBeLessThanOrEqual({ 8: 1, 4: 4, 2: 16, 1: 90 }[height] as number);
  });

  it('writes a partial tile again as it fills, never narrower, and crosses tile boundaries at height 8', async () => {
    const leafFeed = new LeafFeed();
    leafFeed.attach(t.store);
    const requests = Array.from({ length: 300 }, (_, i) => ({ streamId: `access-q${i % 7}`, events: [testEvent('AccessDecided', { i }, `q${i % 7}`)], expectedVersion: 'any' as const }));
    for (let i = 0; i < requests.length; i += 100) await t.store.appendBatch(requests.slice(i, i + 100));
    const tree = new LogTree(t.db, { feed: leafFeed, tileHeight: 8 });
    expect(await tree.integrate(250)).toBe(250);
    expect(await tree.integrate(250)).toBe(300);
    const leaves = (await t.store.readAll(0, 1000)).map((e) => leafHash(leafInput(e)));
    expect((await tree.head()).root.equals(rootOf(leaves))).toBe(true);
    const rows = await t.db.query<{ tile_level: number; tile_index: string | number; width: number }>('SELECT tile_level, tile_index, width FROM custos_log_tiles ORDER BY 1, 2');
    expect(rows.map((r) => [Number(r.tile_level), Number(r.tile_index), Number(r.width)])).toEqual([
      [0, 0, 256],
      [0, 1, 44],
      [1, 0, 1],
    ]);
    expect(verifyInclusion(299, 300, leaves[299]!, await tree.inclusion(299, 300), await tree.root(300))).toBe(true);
    expect(verifyConsistency(250, 300, await tree.root(250), await tree.root(300), await tree.consistency(250, 300))).toBe(true);
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
