import { ALL_MIGRATIONS } from '@custos/contexts';
import { createTestDatabase } from '@custos/testing';
import { Database } from './database.js';

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
