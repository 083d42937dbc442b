import { ALL_MIGRATIONS } from '@custos/contexts';
import { createTestDatabase, testEvent } from '@custos/testing';
import { Database } from './database.js';
import { EventStore } from './event-store.js';

/** Gateway, relay and projector start together on a new database: migrations must take turns. */
describe('migrations on PostgreSQL', () => {
  it('lets four processes opening a fresh database at once all succeed, each migration run once', async () => {
    const pg = await createTestDatabase();
    try {
      const dbs = await Promise.all(Array.from({ length: 4 }, () => Database.open({ kind: 'postgres', url: pg.url, poolSize: 2 }, ALL_MIGRATIONS)));
      const rows = await dbs[0]!.query<{ name: string }>('SELECT name FROM custos_migrations');
      expect(rows.length).toBe(new Set(rows.map((r) => r.name)).size);
      expect(rows.length).toBeGreaterThan(0);
      await Promise.all(dbs.map((d) => d.close()));
    } finally {
      await pg.drop();
    }
  });
});

describe('the append on PostgreSQL', () => {
  it('runs as prepared statements, parsed and planned once per connection', async () => {
    const pg = await createTestDatabase();
    try {
      const db = await Database.open({ kind: 'postgres', url: pg.url, poolSize: 1 }, ALL_MIGRATIONS);
      const store = new EventStore(db);
      for (const n of [1, 3, 7]) await store.appendBatch(Array.from({ length: n }, (_, i) => ({ streamId: `s-${n}-${i}`, events: [testEvent()], expectedVersion: 'no-stream' as const })));
      const prepared = await db.transaction((sql) => sql.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name'));
      expect(prepared.map((p) => p.name)).toEqual(expect.arrayContaining(['custos_append', 'custos_head_and_versions']));
      expect((await store.readAll(0)).map((e) => e.globalSeq)).toEqual(Array.from({ length: 11 }, (_, i) => i));
      await db.close();
    } finally {
      await pg.drop();
    }
  });
});
