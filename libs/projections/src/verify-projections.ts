import { randomBytes } from 'node:crypto';
import { type Database, readEventsAt, readLog, type Sql, type StoredEvent } from '@custos/event-store';
import { applyAll, type Projection } from './projection.js';

/** A schema migration as the contexts declare them: only `query` of its runner is used. */
export type SchemaMigration = new () => { up(runner: { query(text: string, params?: unknown[]): Promise<unknown> }): Promise<unknown> };

/** The first row of a read model that the log does not give. */
export interface ProjectionDifference {
  readonly table: string;
  /** The row's primary key (column → value), or the whole row for a table without one. */
  readonly key: Readonly<Record<string, unknown>>;
  /** `differs`: both have the row, with other values; `missing`: the log gives it, the live table lacks it; `extra`: the live table has it, the log does not give it. */
  readonly kind: 'differs' | 'missing' | 'extra';
}

export interface ProjectionsReport {
  readonly ok: boolean;
  /** The live checkpoint compared at (every event up to it, and those applied beyond it, rebuilt). */
  readonly position: number;
  readonly events: number;
  readonly tables: number;
  /** The first differing row of the first table (in projection order) that differs. */
  readonly firstDifference?: ProjectionDifference;
  /** The first differing row of each table that differs. */
  readonly differences: readonly ProjectionDifference[];
}

/** Rolls the scratch work back while carrying the report out of the transaction. */
class Done extends Error {
  constructor(readonly report: ProjectionsReport) {
    super('verify-projections done');
  }
}

/**
 * Rebuilds the read models from the log in a scratch schema and compares them with the live
 * ones, row by row by primary key, naming the first row that differs.
 *
 * Everything happens in one transaction that is rolled back (nothing is left behind, on
 * PostgreSQL or PGlite): a schema `custos_verify_<random>` gets the same migrations, then
 * everything but the read-model tables is dropped from it, so with `search_path` set to it
 * and then `public`, projections write into the scratch copies while reading the log (and any
 * table they consult) from the live schema. The set rebuilt is exactly what the live
 * projector applied (every sequence up to its checkpoint, and those its ledger holds beyond),
 * read at one snapshot (REPEATABLE READ), so a projector running meanwhile does not make a
 * difference appear. A superuser's edit of a read-model row, or a forged event projected in a
 * real one's place, shows as the first difference. Events quarantined for a projection are
 * left out of its rebuild, as they are out of the live view.
 */
export async function verifyProjections(db: Database, projections: readonly Projection[], migrations: readonly SchemaMigration[], options: { pageSize?: number; projector?: string; onProgress?: (done: number, total: number) => void } = {}): Promise<ProjectionsReport> {
  const pageSize = options.pageSize ?? 2000;
  const projector = options.projector ?? 'main';
  const tables = projections.flatMap((p) => p.tables);
  for (const t of tables) if (!/^[a-z_][a-z0-9_]*$/.test(t)) throw new Error(`verify-projections: ${t} is not a plain table name`);
  const scratch = `custos_verify_${randomBytes(6).toString('hex')}`;
  try {
    await db.transaction(async (sql) => {
      await sql.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      const [{ schema: liveSchema } = { schema: 'public' }] = await sql.query<{ schema: string }>('SELECT current_schema() AS schema');
      const [live] = await sql.query<{ position: string | number }>('SELECT position FROM custos_projection_checkpoint WHERE projector = $1', [projector]);
      const position = Number(live?.position ?? -1);
      const beyond = (await sql.query<{ global_seq: string | number }>('SELECT global_seq FROM custos_projection_ledger WHERE projector = $1 AND global_seq > $2 ORDER BY global_seq', [projector, position])).map((r) => Number(r.global_seq));

      await sql.execute(`CREATE SCHEMA ${scratch}`);
      await sql.execute(`SET LOCAL search_path TO ${scratch}`);
      const runner = { query: (text: string, params?: unknown[]) => sql.query(text, params ?? []) };
      for (const Migration of migrations) await new Migration().up(runner);
      const keep = new Set(tables);
      const made = await sql.query<{ tablename: string }>('SELECT tablename FROM pg_tables WHERE schemaname = $1', [scratch]);
      for (const { tablename } of made) if (!keep.has(tablename)) await sql.execute(`DROP TABLE IF EXISTS ${scratch}.${tablename} CASCADE`);
      // Seed rows a migration put into a read model are in both; everything else comes from the log.
      for (const table of tables) await sql.execute(`DELETE FROM ${scratch}.${table}`);
      await sql.execute(`SET LOCAL search_path TO ${scratch}, "${liveSchema}"`);

      // What the live projector quarantined for a projection (custos_projection_faults) is left
      // out of that projection's rebuild too: the live view lacks it by design, and it is reported
      // on /health and by replay, not as a difference.
      const quarantined = new Map<string, Set<number>>();
      for (const f of await sql.query<{ projection: string; global_seq: string | number }>('SELECT projection, global_seq FROM custos_projection_faults WHERE projector = $1', [projector])) {
        const set = quarantined.get(f.projection) ?? new Set<number>();
        set.add(Number(f.global_seq));
        quarantined.set(f.projection, set);
      }
      let events = 0;
      const total = position + 1 + beyond.length;
      const apply = async (batch: readonly StoredEvent[]) => {
        for (const projection of projections) {
          const skip = quarantined.get(projection.name);
          await applyAll(sql, projection, skip ? batch.filter((e) => !skip.has(e.globalSeq)) : batch);
        }
        events += batch.length;
        options.onProgress?.(events, total);
      };
      for (let next = 0; next <= position; ) {
        const batch = await readLog(sql, next, position, pageSize);
        if (batch.length === 0) break;
        await apply(batch);
        next = (batch[batch.length - 1] as StoredEvent).globalSeq + 1;
      }
      for (let i = 0; i < beyond.length; i += pageSize) await apply(await readEventsAt(sql, beyond.slice(i, i + pageSize)));

      const differences: ProjectionDifference[] = [];
      for (const table of tables) {
        const difference = await firstDifferingRow(sql, table, `"${liveSchema}"`, scratch);
        if (difference) differences.push(difference);
      }
      const [firstDifference] = differences;
      throw new Done({ ok: !firstDifference, position, events, tables: tables.length, ...(firstDifference ? { firstDifference } : {}), differences });
    });
  } catch (e) {
    if (e instanceof Done) return e.report;
    throw e;
  }
  throw new Error('verify-projections: the scratch transaction ended without a report');
}

/** The first row (in primary-key order) where `live.table` and `scratch.table` disagree. */
async function firstDifferingRow(sql: Sql, table: string, live: string, scratch: string): Promise<ProjectionDifference | undefined> {
  const key = (
    await sql.query<{ attname: string }>(
      `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
      [`${scratch}.${table}`],
    )
  ).map((r) => r.attname);
  if (key.length === 0) {
    // No primary key: compare as multisets of whole rows.
    const [extra] = await sql.query<Record<string, unknown>>(`(SELECT * FROM ${live}.${table} EXCEPT ALL SELECT * FROM ${scratch}.${table}) LIMIT 1`);
    if (extra) return { table, key: extra, kind: 'extra' };
    const [missing] = await sql.query<Record<string, unknown>>(`(SELECT * FROM ${scratch}.${table} EXCEPT ALL SELECT * FROM ${live}.${table}) LIMIT 1`);
    return missing ? { table, key: missing, kind: 'missing' } : undefined;
  }
  const cols = key.map((c) => `"${c}"`).join(', ');
  const [row] = await sql.query<Record<string, unknown> & { in_live: boolean; in_log: boolean }>(
    `SELECT ${cols}, l."${key[0]}" IS NOT NULL AS in_live, s."${key[0]}" IS NOT NULL AS in_log
       FROM ${live}.${table} l FULL JOIN ${scratch}.${table} s USING (${cols})
      WHERE ROW(l.*) IS DISTINCT FROM ROW(s.*)
      ORDER BY ${cols} LIMIT 1`,
  );
  if (!row) return undefined;
  const { in_live: inLive, in_log: inLog, ...values } = row;
  return { table, key: values, kind: inLive && inLog ? 'differs' : inLog ? 'missing' : 'extra' };
}
