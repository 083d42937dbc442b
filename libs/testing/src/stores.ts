import { rmSync } from 'node:fs';
import { Database, EventStore, type NewEvent } from '@custos/event-store';
import { SequentialIds } from '@custos/platform';
import { migratedPgliteDir } from './pglite-template.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import type { MigrationClass } from '@custos/kernel';

export type StoreKind = 'pglite' | 'postgres';

export interface TestStore {
  readonly kind: StoreKind;
  readonly db: Database;
  readonly store: EventStore;
  /** Set for PostgreSQL: the test database, for superuser access. */
  readonly pg?: TestDatabase;
  close(): Promise<void>;
}

/**
 * An empty event store on PGlite or on a fresh PostgreSQL database, migrated with
 * `migrations`: the caller says which contexts it needs (`ALL_MIGRATIONS` of `@custos/contexts`
 * for the whole product), so this lib sits below the contexts and knows none of them.
 * The PGlite one is a copy of a migrated template folder (on /dev/shm when it has room), not a
 * fresh initdb each time: see `migratedPgliteDir`. It is removed at `close()`.
 */
export async function openTestStore(kind: StoreKind, migrations: readonly MigrationClass[]): Promise<TestStore> {
  if (kind === 'pglite') {
    const dir = await migratedPgliteDir(migrations, 'custos-store-');
    let db: Database;
    try {
      db = await Database.open({ kind: 'pglite', dataDir: dir }, [...migrations]);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return {
      kind,
      db,
      store: new EventStore(db, { ids: new SequentialIds() }),
      close: async () => {
        try {
          await db.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  }
  const pg = await createTestDatabase();
  const db = await Database.open({ kind: 'postgres', url: pg.url, poolSize: 8 }, [...migrations]);
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
