import { UnavailableError } from '@custos/errors';
import { ALL_MIGRATIONS } from '@custos/contexts';
import { createTestDatabase, testEvent } from '@custos/testing';
import { Database, EventStore } from './index.js';

describe('fail closed: an unreachable store is a typed UnavailableError (503), never a success', () => {
  it('refuses to open a database nobody answers for', async () => {
    await expect(Database.open({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/none', poolSize: 1 }, ALL_MIGRATIONS)).rejects.toBeInstanceOf(UnavailableError);
  });

  it('rejects appends with UnavailableError once the database is gone, and records nothing half-way', async () => {
    const pg = await createTestDatabase();
    const db = await Database.open({ kind: 'postgres', url: pg.url, poolSize: 2 }, ALL_MIGRATIONS);
    const store = new EventStore(db);
    await store.append('access-1', [testEvent()], { expectedVersion: 'no-stream' });
    await pg.drop(); // terminates every connection and removes the database
    await expect(store.append('access-1', [testEvent()], { expectedVersion: 1 })).rejects.toBeInstanceOf(UnavailableError);
    await expect(store.append('access-2', [testEvent()], { expectedVersion: 'no-stream' })).rejects.toBeInstanceOf(UnavailableError);
    await db.close().catch(() => undefined);
  });
});
