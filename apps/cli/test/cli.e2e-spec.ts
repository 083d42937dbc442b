import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database, EventStore } from '@custos/event-store';
import { ALL_MIGRATIONS } from '@custos/contexts';
import { testEvent } from '@custos/testing';
import { runCli } from '../src/cli.js';

/** The operator commands against a real PGlite data folder, as `npm run custos -- …` runs them. */
describe('custos CLI', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'custos-cli-'));
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

  it('refuses bad configuration and unknown commands with a non-zero exit', async () => {
    let err = '';
    expect(await runCli(['head'], { PORT: 'x' }, { out: () => undefined, err: (t) => (err += t), tty: false })).toBe(1);
    expect(err).toContain('PORT');
    expect((await run('frobnicate')).code).not.toBe(0);
  });
});
