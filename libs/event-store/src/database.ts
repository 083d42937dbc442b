import { UnavailableError } from '@custos/errors';
import type { DatabaseConfig } from '@custos/platform';
import { chmod, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DataSource, type MixedList, type QueryRunner } from 'typeorm';
import { PGliteDriver } from 'typeorm-pglite';
import pg from 'pg';

/** The SQL surface libs use: the same statements run on PostgreSQL and on PGlite. */
export interface Sql {
  /**
   * `options.name`: a prepared statement of that name (PostgreSQL parses and plans it once per
   * connection, not on every call; the text must never change for a name). Honoured inside
   * transactions on PostgreSQL; elsewhere the statement simply runs unnamed.
   */
  query<T = Record<string, unknown>>(text: string, params?: readonly unknown[], options?: StatementOptions): Promise<T[]>;
  /** Runs a statement and returns the number of rows it affected. */
  execute(text: string, params?: readonly unknown[], options?: StatementOptions): Promise<number>;
}

export interface StatementOptions {
  readonly name?: string;
}

/** What TypeORM's PostgreSQL query runner holds once connected: the pg client itself. */
interface PgConnection {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

type Migration = MixedList<string | (new () => unknown)>;

/**
 * One database, either PostgreSQL (a pg pool) or PGlite (Postgres compiled to WASM, persisted
 * to a folder), opened through TypeORM with the same migrations.
 *
 * PGlite has a single session, and typeorm-pglite shares it between all query runners: a
 * query issued while another caller's transaction is open would run inside that transaction.
 * So in PGlite mode every statement and every transaction goes through one FIFO lock.
 */
export class Database implements Sql {
  private tail: Promise<void> = Promise.resolve();

  private constructor(
    readonly dataSource: DataSource,
    readonly kind: DatabaseConfig['kind'],
    /** The embedded data folder, if any. */
    readonly folder?: string,
  ) {}

  static async open(config: DatabaseConfig, migrations: Migration = []): Promise<Database> {
    const folder = config.kind === 'pglite' && !config.dataDir.startsWith('memory://') ? config.dataDir : undefined;
    if (folder) {
      await mkdir(folder, { recursive: true, mode: 0o700 });
      await chmod(folder, 0o700); // before PGlite writes into it
    }
    const dataSource =
      config.kind === 'postgres'
        ? new DataSource({
            type: 'postgres',
            url: config.url,
            parseInt8: true,
            migrations,
            migrationsTableName: 'custos_migrations',
            connectTimeoutMS: 3000,
            extra: { max: config.poolSize, connectionTimeoutMillis: 3000, idleTimeoutMillis: 30000 },
          })
        : new DataSource({
            type: 'postgres',
            driver: new PGliteDriver({ dataDir: config.dataDir }).driver,
            migrations,
            migrationsTableName: 'custos_migrations',
          });
    try {
      await dataSource.initialize();
    } catch (e) {
      throw asUnavailable(e) ?? e;
    }
    const db = new Database(dataSource, config.kind, folder);
    if (config.kind === 'postgres') await withMigrationLock(config.url, () => dataSource.runMigrations({ transaction: 'each' }));
    else await db.exclusive(() => dataSource.runMigrations({ transaction: 'each' }));
    if (db.folder) await secureFolder(db.folder);
    return db;
  }

  async query<T = Record<string, unknown>>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.exclusive(async () => {
      const result = await this.dataSource.query(text, params as unknown[], undefined);
      return (Array.isArray(result) ? result : []) as T[];
    });
  }

  async execute(text: string, params: readonly unknown[] = []): Promise<number> {
    return this.exclusive(async () => {
      const runner = this.dataSource.createQueryRunner();
      try {
        const result = await runner.query(text, params as unknown[], true);
        return result.affected ?? 0;
      } finally {
        await runner.release();
      }
    });
  }

  /** Runs `work` in one transaction; commits when it resolves, rolls back when it throws. */
  async transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      const runner = this.dataSource.createQueryRunner();
      try {
        await runner.connect();
        await runner.startTransaction();
      } catch (e) {
        await runner.release().catch(() => undefined);
        throw asUnavailable(e) ?? e;
      }
      try {
        const value = await work(runnerSql(runner, this.kind));
        await runner.commitTransaction();
        return value;
      } catch (e) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        throw e;
      } finally {
        await runner.release().catch(() => undefined);
      }
    });
  }

  /**
   * Runs `work` on one dedicated connection outside any transaction (session-level advisory
   * locks live there). PGlite has one session anyway: `work` runs on the shared one.
   */
  async session<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    if (this.kind === 'pglite') return work(this);
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.connect();
    } catch (e) {
      await runner.release().catch(() => undefined);
      throw asUnavailable(e) ?? e;
    }
    try {
      return await work(runnerSql(runner, this.kind));
    } catch (e) {
      throw asUnavailable(e) ?? e;
    } finally {
      await runner.release().catch(() => undefined);
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
    if (this.folder) await secureFolder(this.folder).catch(() => undefined);
  }

  /** In PGlite mode, serialises `work` behind every earlier statement; in PostgreSQL mode, runs it. */
  private async exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      try {
        return await work();
      } catch (e) {
        throw asUnavailable(e) ?? e;
      }
    };
    if (this.kind !== 'pglite') return run();
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await previous;
    try {
      return await run();
    } finally {
      release();
    }
  }
}

/** Any key only migrations take: 'custos' in ASCII. */
const MIGRATION_LOCK = 0x637573746f73;

/**
 * Processes starting together (gateway, relay, projector) would each run the pending
 * migrations at once, and all but one would fail on objects the first created. One session
 * lock, held on a connection of its own, makes them take turns: the later ones find nothing
 * left to run.
 */
async function withMigrationLock<T>(url: string, work: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch (e) {
    throw asUnavailable(e) ?? e;
  }
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    return await work();
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The embedded data folder holds the whole log: only the owner may enter it (0700) or read
 * its files (0600). PGlite's WASM file system sets modes of its own (0666) whatever the umask,
 * so the folder's 0700 is what keeps others out of files it creates while running; their
 * modes are closed again here, at open (after migrations) and at close.
 */
export async function secureFolder(dir: string): Promise<void> {
  const walk = async (path: string): Promise<void> => {
    await chmod(path, 0o700);
    for (const entry of await readdir(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) await chmod(child, 0o600);
    }
  };
  await walk(dir);
}

function runnerSql(runner: QueryRunner, kind: DatabaseConfig['kind']): Sql {
  const connection = (): PgConnection | undefined => (kind === 'postgres' ? (runner as unknown as { databaseConnection?: PgConnection }).databaseConnection : undefined);
  return {
    async query<T>(text: string, params: readonly unknown[] = [], options: StatementOptions = {}): Promise<T[]> {
      const pgClient = options.name ? connection() : undefined;
      if (pgClient && options.name) return (await pgClient.query({ name: options.name, text, values: [...params] })).rows as T[];
      const result = await runner.query(text, params as unknown[], true);
      return (result.records ?? []) as T[];
    },
    async execute(text: string, params: readonly unknown[] = [], options: StatementOptions = {}): Promise<number> {
      const pgClient = options.name ? connection() : undefined;
      if (pgClient && options.name) return (await pgClient.query({ name: options.name, text, values: [...params] })).rowCount ?? 0;
      const result = await runner.query(text, params as unknown[], true);
      return result.affected ?? 0;
    },
  };
}

const CONNECTION_CODES = new Set(['3D000', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03']);

/** Connection-level failures become UnavailableError (503, fail closed); anything else is left as is. */
export function asUnavailable(e: unknown): UnavailableError | undefined {
  if (e instanceof UnavailableError) return e;
  if (typeof e !== 'object' || e === null) return undefined;
  const err = e as { code?: unknown; message?: unknown; driverError?: unknown };
  const code = typeof err.code === 'string' ? err.code : undefined;
  const message = typeof err.message === 'string' ? err.message : '';
  if (
    (code && (CONNECTION_CODES.has(code) || code.startsWith('08') || code.startsWith('53'))) ||
    /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Client has encountered a connection error|Cannot use a pool after calling end|Driver not Connected|PGlite is closed/i.test(message)
  ) {
    return new UnavailableError('the event store is unreachable', 'store-unavailable');
  }
  if (err.driverError) return asUnavailable(err.driverError);
  return undefined;
}
