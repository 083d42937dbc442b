import { Database, EventStore, type NewEvent } from '@custos/event-store';
import { SequentialIds } from '@custos/platform';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

export type StoreKind = 'pglite' | 'postgres';

export interface TestStore {
  readonly kind: StoreKind;
  readonly db: Database;
  readonly store: EventStore;
  /** Set for PostgreSQL: the test database, for superuser access. */
  readonly pg?: TestDatabase;
  close(): Promise<void>;
}

/** An empty, migrated event store on PGlite (in memory) or on a fresh PostgreSQL database. */
export async function openTestStore(kind: StoreKind): Promise<TestStore> {
  if (kind === 'pglite') {
    const db = await Database.open({ kind: 'pglite', dataDir: 'memory://' }, ALL_MIGRATIONS);
    return { kind, db, store: new EventStore(db, { ids: new SequentialIds() }), close: () => db.close() };
  }
  const pg = await createTestDatabase();
  const db = await Database.open({ kind: 'postgres', url: pg.url, poolSize: 8 }, ALL_MIGRATIONS);
  return {
    kind,
    db,
    pg,
    store: new EventStore(db, { ids: new SequentialIds() }),
    close: async () => {
      await db.close();
      await pg.drop();
    },
  };
}

/** A plain test event for stream-level tests. */
export function testEvent(type = 'TestHappened', data: unknown = { n: 1 }, patientId?: string): NewEvent {
  return {
    type,
    schemaVersion: 1,
    data,
    metadata: { actor: { id: 'tester', roles: ['admin'] }, correlationId: 'corr-test', ...(patientId ? { patientId } : {}) },
    occurredAt: new Date('2026-01-01T00:00:00.000Z'),
  };
}

/** Every row of the given tables, ordered by primary key: two snapshots equal means the same state. */
export async function snapshotTables(db: Database, tables: readonly string[]): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of tables) out[table] = await db.query(`SELECT * FROM ${table} ORDER BY 1`);
  return out;
}
