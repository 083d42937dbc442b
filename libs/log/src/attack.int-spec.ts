import { type Database, readLog, verifyChain } from '@custos/event-store';
import { KeyService, openKek } from '@custos/keys';
import { openTestStore, rewriteAndRehash, type StoreKind, testEvent, type TestStore } from '@custos/testing';
import jose from 'node-jose';
import { Checkpoints } from './checkpoints.js';
import { LogTree } from './tree.js';
import { verifyAgainstCheckpoint } from './verify-checkpoint.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

/** The careful attacker of the issue: one decision flipped, every hash and stream link and the head recomputed. */
const rewrite = (db: Database, globalSeq: number) => rewriteAndRehash(db, globalSeq, (data) => ({ ...data, decision: 'DENY' }));

async function deleteTail(db: Database, from: number): Promise<void> {
  await db.transaction(async (sql) => {
    await sql.execute('ALTER TABLE custos_events DISABLE TRIGGER USER');
    const [before] = await readLog(sql, from - 1, from - 1, 1);
    await sql.execute('DELETE FROM custos_outbox WHERE global_seq >= $1', [from]);
    await sql.execute('DELETE FROM custos_events WHERE global_seq >= $1', [from]);
    await sql.execute('UPDATE custos_chain_head SET last_seq = $1, last_hash = $2 WHERE id = 1', [from - 1, before!.hash]);
    await sql.execute('ALTER TABLE custos_events ENABLE TRIGGER USER');
  });
}

describe.each<StoreKind>(['pglite', 'postgres'])('a careful rewrite of the log, caught by a checkpoint kept outside (%s)', (kind) => {
  let t: TestStore;
  let keystore: jose.JWK.KeyStore;
  let tree: LogTree;
  let checkpoints: Checkpoints;
  const append = async (n: number) => {
    for (let i = 0; i < n; i++) await t.store.append(`access-p${i % 3}`, [testEvent('AccessDecided', { decision: 'PERMIT', i }, `p${i % 3}`)], { expectedVersion: 'any' });
    await tree.integrate();
    return (await checkpoints.sign(tree))!.jws;
  };

  beforeEach(async () => {
    t = await openTestStore(kind, ALL_MIGRATIONS);
    const keys = new KeyService(t.db, await openKek({ kind: 'memory' }, () => undefined));
    tree = new LogTree(t.db);
    checkpoints = new Checkpoints(t.db, keys, 'custos.test/log');
    await append(10); // an earlier checkpoint, at 10
    keystore = await jose.JWK.asKeyStore(await keys.jwks());
  });
  afterEach(async () => {
    await t.close();
  });

  it('a rewritten decision: the chain still verifies, the checkpoint does not, naming the event; with the tree rebuilt too, the range', async () => {
    const kept = await append(20); // the regulator keeps this one (size 30)
    expect(await verifyAgainstCheckpoint(t.db, kept, keystore)).toMatchObject({ ok: true, treeSize: 30 });
    await rewrite(t.db, 17);
    expect((await verifyChain(t.db)).ok).toBe(true); // the hash chain alone is fooled
    expect(await verifyAgainstCheckpoint(t.db, kept, keystore)).toMatchObject({ ok: false, treeSize: 30, firstInconsistentSeq: 17 });
    // The attacker rebuilds the stored tree as well: the signed checkpoints still on record narrow it down.
    await t.db.execute('DELETE FROM custos_log_tiles');
    await t.db.execute('DELETE FROM custos_log_head');
    await tree.integrate();
    const report = await verifyAgainstCheckpoint(t.db, kept, keystore);
    expect(report).toMatchObject({ ok: false, inconsistentWithin: [10, 30] });
    expect(report.reason).toMatch(/\[10, 30\)/);
  });

  it('a deleted tail: the chain still verifies, the checkpoint names where the log now ends', async () => {
    const kept = await append(20);
    await deleteTail(t.db, 25);
    expect((await verifyChain(t.db)).ok).toBe(true);
    expect(await verifyAgainstCheckpoint(t.db, kept, keystore)).toMatchObject({ ok: false, treeSize: 30, checked: 25, firstInconsistentSeq: 25 });
  });

  it('refuses a checkpoint not signed by a trusted key, or not a checkpoint at all', async () => {
    const kept = await append(1);
    const stranger = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
    const strangers = await jose.JWK.asKeyStore({ keys: [stranger.toJSON(false)] });
    await expect(verifyAgainstCheckpoint(t.db, kept, strangers)).rejects.toThrow();
    const forged = (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: stranger.kid, typ: 'tlog-checkpoint+jws' } }, stranger).update('custos.test/log\n11\nAAAA\n').final()) as unknown as string;
    await expect(verifyAgainstCheckpoint(t.db, forged, strangers)).rejects.toThrow(/body/);
  });
});
