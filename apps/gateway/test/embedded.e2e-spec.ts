import { type INestApplication } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStore, verifyChain, Database } from '@custos/event-store';
import { createLogger, loadConfig } from '@custos/platform';
import { EmbeddedProjections } from '@custos/runtime';
import { testEvent } from '@custos/testing';
import request from 'supertest';
import { createGatewayApp } from './helpers.js';

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('embedded mode (the npm start default): PGlite persisted in DATA_DIR', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'custos-embedded-'));
  });
  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function boot(): Promise<INestApplication> {
    const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    expect(config.mode).toBe('embedded');
    const app = await createGatewayApp(config, createLogger('silent'));
    await app.init();
    return app;
  }

  it('records, projects in process, and keeps everything across a restart', async () => {
    let app = await boot();
    const store = app.get(EventStore);
    const base = (await store.head()).lastSeq + 1; // the gateway recorded its policy version first
    for (let i = 0; i < 25; i++) await store.append(`access-${i % 5}`, [testEvent('AccessPermitted', { i }, `patient-${i % 3}`)], { expectedVersion: 'any' });
    const projections = app.get(EmbeddedProjections);
    await waitFor(async () => (await projections.runner.position()) === base + 24);
    const db = app.get(Database);
    expect(await db.query('SELECT * FROM custos_outbox')).toHaveLength(0); // the in-process feed consumed it
    await app.close();

    app = await boot();
    const again = app.get(EventStore);
    expect((await again.head()).lastSeq).toBe(base + 24); // the same policy version is recorded once, not per start
    expect(await verifyChain(app.get(Database))).toMatchObject({ ok: true, checked: base + 25 });
    expect(await app.get(EmbeddedProjections).runner.position()).toBe(base + 24);
    await again.append('access-0', [testEvent()], { expectedVersion: 5 });
    await waitFor(async () => (await app.get(EmbeddedProjections).runner.position()) === base + 25);
    const [row] = await app.get(Database).query<{ event_count: number }>(`SELECT event_count FROM custos_rm_streams WHERE stream_id = 'access-0'`);
    expect(row?.event_count).toBe(6);
    await request(app.getHttpServer()).get('/health').expect(200);
    await app.close();
  });
});
