import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statfsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database } from '@custos/event-store';
import type { MigrationClass } from '@custos/kernel';

/**
 * Fresh, already migrated PGlite data folders for tests, copied from a template.
 *
 * Opening an empty PGlite runs initdb inside the WASM Postgres and then every migration: about
 * 4–6 s of CPU, paid by every test that opened a store in `beforeEach`. Copying a folder that
 * went through exactly that once (~40 MB, ~0.1 s) and opening the copy (~1 s) gives the same
 * empty, migrated store. The template is built once per set of migrations (its key hashes the
 * migrations' names and code and the PGlite version, so a changed migration builds a new one)
 * and shared by every test file and worker: it is built aside and renamed into place, so a
 * reader never sees half of one.
 */

/** /dev/shm when it has room (a RAM disk, like PGlite's memory://), else the system's tmp. */
function scratchRoot(): string {
  try {
    const shm = statfsSync('/dev/shm');
    if (Number(shm.bavail) * Number(shm.bsize) > 2 * 1024 ** 3) return '/dev/shm';
  } catch {
    // no /dev/shm (macOS): the system's tmp folder
  }
  return tmpdir();
}

function pgliteVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    const main = require.resolve('@electric-sql/pglite');
    // …/node_modules/@electric-sql/pglite/dist/index.cjs → the package's own package.json
    const root = main.slice(0, main.lastIndexOf('/pglite/') + '/pglite/'.length);
    return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function templateKey(migrations: readonly MigrationClass[]): string {
  const hash = createHash('sha256').update(pgliteVersion());
  for (const m of migrations) {
    const proto = m.prototype as { up?: unknown; down?: unknown };
    hash.update(`\0${m.name}\0${String(proto.up)}\0${String(proto.down)}`);
  }
  return hash.digest('hex').slice(0, 16);
}

const templates = new Map<string, Promise<string>>();

/** The template folder for `migrations`, built if no test file built it before. */
function template(migrations: readonly MigrationClass[]): Promise<string> {
  const root = join(scratchRoot(), 'custos-pglite-templates');
  const dir = join(root, templateKey(migrations));
  let pending = templates.get(dir);
  if (!pending) {
    pending = (async () => {
      if (existsSync(join(dir, 'PG_VERSION'))) return dir;
      mkdirSync(root, { recursive: true });
      const building = mkdtempSync(join(root, 'building-'));
      try {
        const db = await Database.open({ kind: 'pglite', dataDir: building }, [...migrations]);
        await db.close();
        try {
          renameSync(building, dir);
        } catch (e) {
          // Another worker renamed its own first: the same template, use theirs.
          if (!existsSync(join(dir, 'PG_VERSION'))) throw e;
        }
      } finally {
        rmSync(building, { recursive: true, force: true });
      }
      return dir;
    })();
    pending.catch(() => templates.delete(dir));
    templates.set(dir, pending);
  }
  return pending;
}

/**
 * A new folder holding an empty PGlite database already migrated with `migrations`, to open with
 * `Database.open({ kind: 'pglite', dataDir })` (which then finds no migration left to run). The
 * caller removes it (`rmSync(dir, { recursive: true, force: true })`) when done.
 */
export async function migratedPgliteDir(migrations: readonly MigrationClass[], prefix = 'custos-pglite-'): Promise<string> {
  const from = await template(migrations);
  const dir = mkdtempSync(join(scratchRoot(), prefix));
  cpSync(from, dir, { recursive: true });
  return dir;
}
