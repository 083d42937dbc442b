import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accessShell, policyShell, policyStreamId } from '@custos/access';
import { STANDARD_RULES } from '@custos/consent';
import { ALL_MIGRATIONS, allProjections, policyInForce } from '@custos/contexts';
import { Database, EventStore, hashEvent, readLog } from '@custos/event-store';
import { KeyService, openKek } from '@custos/keys';
import { Checkpoints, LogTree } from '@custos/log';
import { createProjectionRunner } from '@custos/runtime';
import { asSuperuser, createTestDatabase, migratedPgliteDir, rewriteAndRehash, type TestDatabase, testEvent } from '@custos/testing';
import { runCli } from '../src/cli.js';

/** The operator commands against a real PGlite data folder, as `npm run custos -- …` runs them. */
describe('custos CLI', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await migratedPgliteDir(ALL_MIGRATIONS, 'custos-cli-');
    const db = await Database.open({ kind: 'pglite', dataDir }, ALL_MIGRATIONS);
    const store = new EventStore(db);
    for (let i = 0; i < 12; i++) await store.append(`access-${i % 4}`, [testEvent('TestHappened', { i }, `p${i % 4}`)], { expectedVersion: 'any' });
    await db.close();
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runCli(argv, { DATA_DIR: dataDir, LOG_LEVEL: 'silent' }, { out: (t) => (out += t), err: (t) => (err += t), tty: false });
    return { code, out, err };
  }

  it('head prints the chain head', async () => {
    const r = await run('head');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ lastSeq: 11 });
  });

  it('verify passes an untouched log with exit 0', async () => {
    const r = await run('verify', '--page-size', '5');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ ok: true, checked: 12, lastSeq: 11 });
  });

  it('replay rebuilds the read models and says how many events it applied', async () => {
    const r = await run('replay');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ replayed: 12 });
  });

  it('replay reports an event a projection cannot apply (quarantined for it alone) and does not fail', async () => {
    const dir = await migratedPgliteDir(ALL_MIGRATIONS, 'custos-cli-poison-');
    try {
      const db = await Database.open({ kind: 'pglite', dataDir: dir }, ALL_MIGRATIONS);
      const store = new EventStore(db);
      await store.append('access-0', [testEvent('TestHappened', { i: 0 }, 'p0')], { expectedVersion: 'any' });
      // An incident without a subject: the incidents read model's subject_kind is NOT NULL.
      const opened = { incidentId: 'inc-poison', severity: 'low', subject: {}, rules: [], patientIds: [], detectionIds: [], openedAt: '2026-01-01T00:00:00.000Z', discoveredAt: '2026-01-01T00:00:00.000Z' };
      const { events } = await store.append('incident-inc-poison', [testEvent('IncidentOpened', opened)], { expectedVersion: 'no-stream' });
      await store.append('access-0', [testEvent('TestHappened', { i: 2 }, 'p0')], { expectedVersion: 'any' });
      await db.close();
      let out = '';
      let err = '';
      const code = await runCli(['replay'], { DATA_DIR: dir, LOG_LEVEL: 'silent' }, { out: (t) => (out += t), err: (t) => (err += t), tty: false });
      expect(code).toBe(0);
      expect(JSON.parse(out)).toMatchObject({ replayed: 3, quarantined: [{ projection: 'incidents', globalSeq: 1, eventId: events[0]?.eventId, eventType: 'IncidentOpened', code: '23502' }] });
      expect(err).toMatch(/^quarantined for incidents: global sequence 1 \(IncidentOpened/);
      const again = await Database.open({ kind: 'pglite', dataDir: dir }, ALL_MIGRATIONS);
      const [streams] = await again.query<{ n: number | string }>('SELECT sum(event_count) AS n FROM custos_rm_streams');
      expect(Number(streams?.n)).toBe(3); // the other read models took all three
      await again.close();
      // verify --projections leaves the quarantined event out of that projection's rebuild too:
      // the views are what the log gives, so no difference and exit 0.
      let verified = '';
      const verifyCode = await runCli(['verify', '--projections'], { DATA_DIR: dir, LOG_LEVEL: 'silent' }, { out: (t) => (verified += t), err: () => undefined, tty: false });
      expect(JSON.parse(verified)).toMatchObject({ projections: { ok: true } });
      expect(verifyCode).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('verify names the first broken sequence and exits 2 after tampering', async () => {
    const db = await Database.open({ kind: 'pglite', dataDir }, ALL_MIGRATIONS);
    await db.transaction(async (sql) => {
      await sql.execute('ALTER TABLE custos_events DISABLE TRIGGER USER');
      await sql.execute(`UPDATE custos_events SET data = '{"i": 42}' WHERE global_seq = 7`);
      await sql.execute('ALTER TABLE custos_events ENABLE TRIGGER USER');
    });
    await db.close();
    const r = await run('verify');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, firstBrokenSeq: 7, reason: 'hash-mismatch' });
    expect(r.err).toContain('chain broken at global sequence 7');
  });

  it('verify --against checks the log against a checkpoint kept outside (file and JWKS), exit 2 naming the event after a rewrite', async () => {
    const dir = await migratedPgliteDir(ALL_MIGRATIONS, 'custos-cli-against-');
    try {
      const db = await Database.open({ kind: 'pglite', dataDir: dir }, ALL_MIGRATIONS);
      const store = new EventStore(db);
      for (let i = 0; i < 9; i++) await store.append(`access-${i % 3}`, [testEvent('TestHappened', { i }, `p${i % 3}`)], { expectedVersion: 'any' });
      const keys = new KeyService(db, await openKek({ kind: 'memory' }, () => undefined));
      const tree = new LogTree(db);
      await tree.integrate();
      const checkpoint = (await new Checkpoints(db, keys, 'custos.test/log').sign(tree))!;
      writeFileSync(join(dir, 'kept.jws'), `${checkpoint.jws}\n`);
      writeFileSync(join(dir, 'jwks.json'), JSON.stringify(await keys.jwks()));
      await db.close();
      const runIn = async (...argv: string[]) => {
        let out = '';
        let err = '';
        const code = await runCli(argv, { DATA_DIR: dir, LOG_LEVEL: 'silent' }, { out: (t) => (out += t), err: (t) => (err += t), tty: false });
        return { code, out, err };
      };
      const ok = await runIn('verify', '--against', join(dir, 'kept.jws'), '--jwks', join(dir, 'jwks.json'));
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.out).checkpoint).toMatchObject({ ok: true, treeSize: 9 });
      const db2 = await Database.open({ kind: 'pglite', dataDir: dir }, ALL_MIGRATIONS);
      await rewriteAndRehash(db2, 4, () => ({ i: 404 }));
      await db2.close();
      const bad = await runIn('verify', '--against', join(dir, 'kept.jws'), '--jwks', join(dir, 'jwks.json'));
      expect(bad.code).toBe(2);
      expect(JSON.parse(bad.out)).toMatchObject({ ok: true, checkpoint: { ok: false, firstInconsistentSeq: 4 } });
      expect(bad.err).toContain('global sequence 4');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad configuration and unknown commands with a non-zero exit', async () => {
    let err = '';
    expect(await runCli(['head'], { PORT: 'x' }, { out: () => undefined, err: (t) => (err += t), tty: false })).toBe(1);
    expect(err).toContain('PORT');
    expect((await run('frobnicate')).code).not.toBe(0);
  });

  it('verify --decisions re-derives every decision, exit 0, and names one rewritten with every hash recomputed, exit 2', async () => {
    const dir = await migratedPgliteDir(ALL_MIGRATIONS, 'custos-cli-decisions-');
    try {
      const db = await Database.open({ kind: 'pglite', dataDir: dir }, ALL_MIGRATIONS);
      const store = new EventStore(db);
      const policy = policyInForce(STANDARD_RULES);
      const context = { actor: { id: 'dr-1', roles: ['clinician'] }, correlationId: 'c' };
      const now = new Date('2026-06-01T00:00:00.000Z');
      await policyShell(store, { now: () => now }).handle(policyStreamId(policy.version), { type: 'ActivatePolicy', data: { policyVersion: policy.version, rulesDigest: policy.rulesDigest, parameters: policy.parameters } }, context);
      const principal = { sub: 'dr-1', roles: ['clinician'], credentials: [] };
      for (const id of ['img-a', 'img-b']) {
        const command = { type: 'DecideAccess' as const, principal, resourceType: 'image' as const, resourceId: id, action: 'view' as const, purpose: 'TREATMENT' as const, resource: null, consent: { granted: false, version: 0 }, policyVersion: policy.version };
        await accessShell(store, { now: () => now }).handle('access-unresolved', command, context, { expectedVersion: 'any' });
      }
      await db.close();
      const env = { DATA_DIR: dir, LOG_LEVEL: 'silent' };
      let out = '';
      expect(await runCli(['verify', '--decisions'], env, { out: (t) => (out += t), err: () => undefined, tty: false })).toBe(0);
      expect(JSON.parse(out)).toMatchObject({ ok: true, decisions: { ok: true, decisions: 2, rederived: 2, unknownPolicies: {} } });

      // A careful superuser: flip the last DENY to PERMIT and recompute its hash and the head.
      const tamper = await Database.open({ kind: 'pglite', dataDir: dir }, ALL_MIGRATIONS);
      await tamper.transaction(async (sql) => {
        const [last] = await readLog(sql, 2, 2, 1);
        const data = { ...(last!.data as object), decision: 'PERMIT', rule: 'clinician-treatment' };
        const hash = hashEvent({ ...last!, data });
        await sql.execute('ALTER TABLE custos_events DISABLE TRIGGER USER');
        await sql.execute('UPDATE custos_events SET data = $1, hash = $2 WHERE global_seq = 2', [JSON.stringify(data), hash]);
        await sql.execute('UPDATE custos_chain_head SET last_hash = $1 WHERE id = 1', [hash]);
        await sql.execute('ALTER TABLE custos_events ENABLE TRIGGER USER');
      });
      await tamper.close();
      out = '';
      let err = '';
      expect(await runCli(['verify', '--decisions'], env, { out: (t) => (out += t), err: (t) => (err += t), tty: false })).toBe(2);
      expect(JSON.parse(out)).toMatchObject({ ok: true, decisions: { ok: false, firstDeviation: { globalSeq: 2, field: 'decision', recorded: 'PERMIT', derived: 'DENY' } } });
      expect(err).toContain('decision at global sequence 2');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs against a distributed store without KAFKA_BROKERS, which it never uses', async () => {
    const pg = await createTestDatabase();
    try {
      let out = '';
      let err = '';
      const code = await runCli(['verify', '--decisions'], { DATABASE_URL: pg.url, LOG_LEVEL: 'silent' }, { out: (t) => (out += t), err: (t) => (err += t), tty: false });
      expect(err).toBe('');
      expect(code).toBe(0);
      expect(JSON.parse(out)).toMatchObject({ ok: true, checked: 0, decisions: { ok: true, decisions: 0 } });
    } finally {
      await pg.drop();
    }
  });
});

/**
 * `custos verify --projections`: the read models rebuilt from the log in a scratch schema and
 * compared with the live ones, on both stores. A superuser's edit of a read-model row (what a
 * forged Kafka message did to the projector, issue 18 defect 11) is named by table and key.
 */
describe.each(['pglite', 'postgres'] as const)('custos verify --projections on %s', (kind) => {
  let dir: string;
  let pg: TestDatabase | undefined;
  let env: Record<string, string>;
  const open = () => Database.open(kind === 'pglite' ? { kind: 'pglite', dataDir: dir } : { kind: 'postgres', url: pg!.url, poolSize: 2 }, ALL_MIGRATIONS);
  /** Runs statements as the database's owner would (PGlite) or as the server's superuser (PostgreSQL). */
  async function superuser(statements: string[]): Promise<void> {
    if (kind === 'postgres') {
      await asSuperuser(pg!.url, async (c) => {
        for (const s of statements) await c.query(s);
      });
      return;
    }
    const db = await open();
    for (const s of statements) await db.execute(s);
    await db.close();
  }
  async function verify(): Promise<{ code: number; out: Record<string, unknown> & { projections: Record<string, unknown> }; err: string }> {
    let out = '';
    let err = '';
    const code = await runCli(['verify', '--projections', '--page-size', '7'], env, { out: (t) => (out += t), err: (t) => (err += t), tty: false });
    return { code, out: JSON.parse(out), err };
  }

  beforeAll(async () => {
    dir = kind === 'pglite' ? await migratedPgliteDir(ALL_MIGRATIONS, 'custos-cli-projections-') : mkdtempSync(join(tmpdir(), 'custos-cli-projections-'));
    if (kind === 'postgres') pg = await createTestDatabase();
    env = kind === 'pglite' ? { DATA_DIR: dir, LOG_LEVEL: 'silent' } : { DATABASE_URL: pg!.url, LOG_LEVEL: 'silent' };
    const db = await open();
    const store = new EventStore(db);
    const policy = policyInForce(STANDARD_RULES);
    const now = new Date('2026-06-01T00:00:00.000Z');
    await policyShell(store, { now: () => now }).handle(policyStreamId(policy.version), { type: 'ActivatePolicy', data: { policyVersion: policy.version, rulesDigest: policy.rulesDigest, parameters: policy.parameters } }, { actor: { id: 'admin-1', roles: ['admin'] }, correlationId: 'c' });
    for (let i = 0; i < 20; i++) {
      const patientId = `p${i % 3}`;
      const principal = { sub: `dr-${i % 2}`, roles: ['clinician'], credentials: [] };
      const command = { type: 'DecideAccess' as const, principal, resourceType: 'image' as const, resourceId: `img-${i}`, action: 'view' as const, purpose: 'TREATMENT' as const, resource: { patientId }, consent: { granted: i % 4 !== 0, version: 1 }, policyVersion: policy.version };
      await accessShell(store, { now: () => now }).handle(`access-${patientId}`, command, { actor: { id: principal.sub, roles: principal.roles }, correlationId: `c${i}` }, { expectedVersion: 'any', patientId });
    }
    // Projected as the live projector would, then more recorded that is not projected yet.
    const runner = createProjectionRunner(db, allProjections());
    await runner.applyBatch(await store.readAll(0));
    for (let i = 0; i < 3; i++) await store.append('access-p9', [testEvent('TestHappened', { i }, 'p9')], { expectedVersion: 'any' });
    await db.close();
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await pg?.drop();
  });

  it('exit 0 when the live read models are what the log gives, up to their checkpoint; nothing left behind', async () => {
    const r = await verify();
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatchObject({ ok: true, checked: 24, projections: { ok: true, position: 20, events: 21 } });
    const db = await open();
    try {
      expect(await db.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'custos_verify_%'")).toEqual([]);
      expect(await db.query<{ n: string | number }>('SELECT count(*) AS n FROM custos_rm_access_trail').then(([row]) => Number(row?.n))).toBe(20);
    } finally {
      await db.close();
    }
  });

  /** The trail row the tamper tests below change: the fourth PERMIT. */
  async function targetSeq(): Promise<number> {
    const db = await open();
    try {
      const [row] = await db.query<{ global_seq: string | number }>("SELECT global_seq FROM custos_rm_access_trail WHERE decision = 'PERMIT' ORDER BY global_seq LIMIT 1 OFFSET 3");
      return Number(row!.global_seq);
    } finally {
      await db.close();
    }
  }

  // One tampering per test (each ends with a replay that repairs it), so that each has the
  // whole test timeout for its CLI runs, every one of which opens the store.
  it('names a trail row a superuser changed (table, key), exit 2; a replay repairs it', async () => {
    const seq = await targetSeq();
    await superuser([`UPDATE custos_rm_access_trail SET patient_id = 'p-invented', actor_id = 'ghost-1' WHERE global_seq = ${seq}`]);
    const r = await verify();
    expect(r.code).toBe(2);
    expect(r.out.ok).toBe(true); // the log itself is intact: only the read model lies
    expect(r.out.projections).toMatchObject({ ok: false, firstDifference: { table: 'custos_rm_access_trail', key: { global_seq: seq }, kind: 'differs' } });
    expect(r.err).toContain(`read model custos_rm_access_trail: the row {"global_seq":${seq}} differs from what the log gives`);

    await runCli(['replay'], env, { out: () => undefined, err: () => undefined, tty: false });
    expect((await verify()).code).toBe(0);
  });

  it('names a trail row a superuser deleted, exit 2', async () => {
    const seq = await targetSeq();
    await superuser([`DELETE FROM custos_rm_access_trail WHERE global_seq = ${seq}`]);
    const r = await verify();
    expect(r.code).toBe(2);
    expect(r.out.projections).toMatchObject({ firstDifference: { table: 'custos_rm_access_trail', key: { global_seq: seq }, kind: 'missing' } });
    await runCli(['replay'], env, { out: () => undefined, err: () => undefined, tty: false });
  });

  it('names a trail row a superuser invented, exit 2', async () => {
    const seq = await targetSeq();
    await superuser([
      `INSERT INTO custos_rm_access_trail (global_seq, event_id, patient_id, occurred_at, actor_id, actor_roles, resource_type, resource_id, action, purpose, decision, rule, emergency, consent_version, items_returned)
       SELECT 9999, '00000000-0000-4000-8000-000000000009', 'p-invented', occurred_at, 'ghost-1', actor_roles, resource_type, resource_id, action, purpose, decision, rule, emergency, consent_version, items_returned
         FROM custos_rm_access_trail WHERE global_seq = ${seq}`,
    ]);
    const r = await verify();
    expect(r.code).toBe(2);
    expect(r.out.projections).toMatchObject({ firstDifference: { table: 'custos_rm_access_trail', key: { global_seq: 9999 }, kind: 'extra' } });
    expect(r.err).toContain('is not given by the log');
    await runCli(['replay'], env, { out: () => undefined, err: () => undefined, tty: false });
  });

  it('names the trail row a forged message took before the projector checked the store (what plain verify passed)', async () => {
    const db = await open();
    const store = new EventStore(db);
    let target: number;
    try {
      // The projector as it was: it applied a message as the event at its sequence, unchecked.
      const runner = createProjectionRunner(db, allProjections());
      await runner.applyBatch(await store.readAll(0)); // up to the head, as the live one would be
      const [template] = (await store.readAll(0)).filter((e) => e.type === 'AccessDecided');
      target = (await store.head()).lastSeq + 1;
      const forged = { ...template!, globalSeq: target, eventId: '00000000-0000-4000-8000-00000000000f', data: { ...(template!.data as object), patientId: 'p-invented' }, metadata: { ...template!.metadata, actor: { id: 'ghost-1', roles: ['clinician'] }, patientId: 'p-invented' }, hash: 'f'.repeat(64) };
      await runner.applyBatch([forged]);
      // The real event at that sequence, then skipped as already applied.
      const [real] = (await store.append('access-p0', [testEvent('AccessDecided', { ...(template!.data as object), patientId: 'p0' }, 'p0')], { expectedVersion: 'any' })).events;
      expect(real!.globalSeq).toBe(target);
      expect(await runner.applyBatch([real!])).toBe(0);
    } finally {
      await db.close();
    }
    let out = '';
    expect(await runCli(['verify'], env, { out: (t) => (out += t), err: () => undefined, tty: false })).toBe(0); // the log is intact
    expect(JSON.parse(out)).toMatchObject({ ok: true });
    const r = await verify();
    expect(r.code).toBe(2);
    expect(r.out.projections.ok).toBe(false);
    // Every read model the forgery touched: the stream it named, and the trail row it took.
    expect(r.out.projections.differences).toEqual(
      expect.arrayContaining([
        { table: 'custos_rm_streams', key: { stream_id: 'access-p0' }, kind: 'differs' },
        { table: 'custos_rm_access_trail', key: { global_seq: target }, kind: 'differs' },
      ]),
    );
    expect(r.err).toContain(`read model custos_rm_access_trail: the row {"global_seq":${target}} differs from what the log gives`);
  });
});
