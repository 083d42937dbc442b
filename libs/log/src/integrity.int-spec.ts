import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KeyService, openKek } from '@custos/keys';
import { createLogger, loadConfig } from '@custos/platform';
import type { ReadinessProbe } from '@custos/kernel';
import { openTestStore, type StoreKind, testEvent, type TestStore } from '@custos/testing';
import jose from 'node-jose';
import { checkpointBody, LogIntegrator } from './checkpoints.js';
import { openCheckpoint } from './verify-checkpoint.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

/** A witness over HTTP that refuses every checkpoint, as one does once the log was rewritten. */
async function refusingWitness(): Promise<{ url: string; calls: () => number; close: () => Promise<void> }> {
  let calls = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"keys":[]}');
      }
      calls += 1;
      res.writeHead(422, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ status: 422, code: 'inconsistent', detail: 'the checkpoint does not extend the one this witness holds' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls: () => calls, close: () => new Promise((r) => server.close(() => r())) };
}

describe.each<StoreKind>(['pglite', 'postgres'])('the log integrity alarms (%s)', (kind) => {
  let t: TestStore;
  let keys: KeyService;
  let probes: ReadinessProbe[];
  const integrator = (env: Record<string, string> = {}) => {
    probes = [];
    return new LogIntegrator(t.db, keys, loadConfig({ LOG_ORIGIN: 'custos.test/log', LOG_CHECKPOINT_MS: '0', ...env }), createLogger('silent'), t.store, probes);
  };
  const append = async (n: number) => {
    for (let i = 0; i < n; i++) await t.store.append(`access-p${i % 3}`, [testEvent('AccessDecided', { decision: 'PERMIT', i }, `p${i % 3}`)], { expectedVersion: 'any' });
  };
  const alarms = async () => t.db.query<{ type: string; data: { cause: string; kind: string } }>("SELECT type, data FROM custos_events WHERE stream_id = 'log-integrity' ORDER BY global_seq");
  const health = async (name: string) =>
    (probes.find((p) => p.name === name) as ReadinessProbe).check().then(
      () => 'up',
      (e: unknown) => (e as Error).message,
    );

  beforeEach(async () => {
    t = await openTestStore(kind, ALL_MIGRATIONS);
    keys = new KeyService(t.db, await openKek({ kind: 'memory' }, () => undefined));
  });
  afterEach(async () => {
    await t.close();
  });

  it('keeps signing past checkpoint rows a superuser planted for future sizes, serves none of them, and raises one alarm', async () => {
    const log = integrator();
    await append(5);
    await log.tick();
    expect((await log.checkpoints.latest())?.treeSize).toBe(5);
    // The superuser: a row for every size from 6 to 400, some with a genuine signature of another size, some with a key of their own.
    const genuine = (await log.checkpoints.latest())!.jws;
    const own = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
    const root = Buffer.alloc(32, 7);
    const forged = (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: own.kid, typ: 'tlog-checkpoint+jws' } }, own).update(checkpointBody('custos.test/log', 8, root)).final()) as unknown as string;
    await t.db.execute("INSERT INTO custos_log_checkpoints (tree_size, root, body, jws) SELECT s, $1, 'custos.test/log\n' || s || E'\n\n', $2 FROM generate_series(6, 400) AS s", [root, genuine]);
    await t.db.execute('UPDATE custos_log_checkpoints SET body = $1, jws = $2 WHERE tree_size = 8', [checkpointBody('custos.test/log', 8, root), forged]);
    const keystore = await jose.JWK.asKeyStore(await keys.jwks('checkpoints'));
    for (let round = 0; round < 4; round++) {
      await append(1);
      await log.tick();
      const latest = (await log.checkpoints.latest())!;
      const opened = await openCheckpoint(latest.jws, keystore);
      // Signed by Custos, of the tree as it stands: what it serves is what it signed.
      expect(opened.size).toBe(latest.treeSize);
      expect(opened.root.equals(await log.tree.root(latest.treeSize))).toBe(true);
      expect(latest.treeSize).toBe((await log.tree.head()).size);
      expect((await log.checkpoints.at(8))?.jws).not.toBe(forged);
    }
    expect(await t.db.query('SELECT 1 FROM custos_log_checkpoints WHERE tree_size > 20')).toHaveLength(0); // the planted rows are gone
    const raised = (await alarms()).filter((a) => a.type === 'LogIntegrityAlarm');
    expect(raised.map((a) => a.data.cause)).toEqual(['bad-checkpoint']);
  });

  it('serves no row it did not sign of its tree below the head either, and a copied genuine signature proves nothing', async () => {
    const log = integrator();
    await append(3);
    await log.tick();
    await append(4);
    await log.tick(); // signed at 3 and 7; nothing at 4, 5, 6
    const genuine = (await log.checkpoints.at(3))!;
    await t.db.execute('INSERT INTO custos_log_checkpoints (tree_size, root, body, jws) VALUES (5, $1, $2, $3)', [Buffer.from(genuine.rootHash, 'base64'), genuine.body, genuine.jws]);
    await t.db.execute('UPDATE custos_log_checkpoints SET root = $1 WHERE tree_size = 7', [Buffer.alloc(32, 1)]);
    expect(await log.checkpoints.at(5)).toBeNull();
    expect(await log.checkpoints.at(7)).toBeNull();
    expect((await log.checkpoints.latest())?.treeSize).toBe(3);
    expect(await health('log-integrity')).toContain('a checkpoint row was ignored');
    expect((await alarms()).map((a) => a.data.cause)).toEqual(['bad-checkpoint']);
  });

  it('reads alarms recorded before causes (v1) as open: a refusal already on record is not raised again', async () => {
    const witness = await refusingWitness();
    try {
      await t.store.append('log-integrity', [testEvent('LogIntegrityAlarm', { witnessUrl: witness.url, treeSize: 2, code: 'inconsistent', detail: 'old' })], { expectedVersion: 'any' });
      const log = integrator({ WITNESS_URLS: witness.url });
      await append(2);
      await log.tick();
      expect(witness.calls()).toBe(1);
      expect(await alarms()).toHaveLength(1);
      expect(await health('log-integrity')).toContain(`witness ${witness.url}`);
    } finally {
      await witness.close();
    }
  });

  it('a witness refusing every checkpoint is one alarm event over many rounds, and /health says so', async () => {
    const witness = await refusingWitness();
    try {
      const log = integrator({ WITNESS_URLS: witness.url });
      await append(3);
      for (let round = 0; round < 8; round++) {
        if (round % 2 === 0) await append(2); // the log keeps growing by other appends too
        await log.tick();
      }
      expect(witness.calls()).toBeGreaterThanOrEqual(5); // every new checkpoint went to it
      const events = await alarms();
      expect(events.map((e) => [e.type, e.data.cause])).toEqual([['LogIntegrityAlarm', `witness-refused:${witness.url}:inconsistent`]]);
      expect(await health('log-integrity')).toContain('refused');
      // Nothing grows the log now but the alarm would: a few idle rounds add no event.
      const head = (await log.tree.head()).size;
      for (let round = 0; round < 4; round++) await log.tick();
      expect((await log.tree.head()).size).toBe(head);
      expect(await alarms()).toHaveLength(1);
      // A restart remembers the open alarm: /health still fails, and no second event.
      const again = integrator({ WITNESS_URLS: witness.url });
      await append(1);
      await again.tick();
      await again.tick();
      expect(await alarms()).toHaveLength(1);
      expect(await health('log-integrity')).toContain('refused');
    } finally {
      await witness.close();
    }
  });

  it('a witness that stops answering raises witness-lag after WITNESS_MAX_LAG_MS, once, and only then', async () => {
    const witness = await refusingWitness();
    await witness.close(); // nobody answers at that address any more
    const log = integrator({ WITNESS_URLS: witness.url, WITNESS_MAX_LAG_MS: '300', LOG_INTEGRATE_MS: '10' });
    await append(2);
    await log.tick();
    expect(await health('witness-lag')).toBe('up');
    await new Promise((r) => setTimeout(r, 400));
    await log.tick();
    await log.tick();
    expect(await health('witness-lag')).toContain(`witness ${witness.url} has not cosigned`);
    expect(await health('log-integrity')).toBe('up');
    expect((await alarms()).map((e) => e.data.cause)).toEqual([`witness-lag:${witness.url}`]);
  });
});
