import { readFile } from 'node:fs/promises';
import { Database, EventStore, verifyChain } from '@custos/event-store';
import { ConfigError, type CustosConfig, loadConfig } from '@custos/platform';
import { ALL_MIGRATIONS, allProjections, PERSONAL_FIELDS, verifyDecisions } from '@custos/contexts';
import { KeyService, openKek, PayloadCipher, publishedJwks } from '@custos/keys';
import { type CheckpointCheck, verifyAgainstCheckpoint } from '@custos/log';
import jose from 'node-jose';
import { verifyProjections } from '@custos/projections';
import { createProjectionRunner } from '@custos/runtime';
import { Presets, SingleBar } from 'cli-progress';
import { Command } from 'commander';

/**
 * Operator commands, run against the configured store (DATA_DIR in embedded mode,
 * DATABASE_URL in distributed mode):
 *   custos verify   re-walk the hash chain, name the first broken sequence (exit 2 when broken);
 *                   with --decisions, also derive every access decision again from the policy
 *                   and the consent at its position, and name the first that does not follow;
 *                   with --projections, rebuild the read models from the log in a scratch schema
 *                   and name the first row the live ones hold otherwise
 *   custos replay   rebuild every read model from the log (stop the projector first)
 *   custos migrate  run pending migrations
 *   custos head     print the chain head
 */
/** Where a command writes; `tty` decides whether progress bars are drawn. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  tty: boolean;
}

function progressBar(label: string, enabled: boolean): { update(done: number, total: number): void; stop(): void } {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({ format: `${label} [{bar}] {percentage}% | {value}/{total} events | {eta_formatted} left`, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.setTotal(total);
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** The checkpoint check of `verify --against`: the JWKS from a file, or the one the database publishes. */
async function checkAgainst(db: Database, file: string, jwksFile: string | undefined, pageSize: number): Promise<CheckpointCheck> {
  const text = (await readFile(file, 'utf8')).trim();
  const jws = text.startsWith('{') ? String((JSON.parse(text) as { jws?: unknown }).jws ?? '') : text;
  const jwks = jwksFile
    ? (JSON.parse(await readFile(jwksFile, 'utf8')) as object)
    : await publishedJwks(db);
  return verifyAgainstCheckpoint(db, jws, await jose.JWK.asKeyStore(jwks), pageSize);
}

/** Runs one command line; returns the exit code (0 ok, 1 error, 2 broken chain). */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  let exitCode = 0;
  const config = () => loadConfig(env, process.cwd(), { requireKafka: false });
  async function withStore<T>(work: (db: Database, store: EventStore, config: CustosConfig) => Promise<T>): Promise<T> {
    const loaded = config();
    const db = await Database.open(loaded.database, ALL_MIGRATIONS);
    try {
      return await work(db, new EventStore(db), loaded);
    } finally {
      await db.close();
    }
  }

  const program = new Command('custos').description('Custos operator commands').showHelpAfterError().exitOverride().configureOutput({ writeOut: (t) => io.out(t), writeErr: (t) => io.err(t) });

  program
    .command('verify')
    .description('re-walk the hash chain and name the first broken global sequence')
    .option('--page-size <n>', 'events read per page', (v) => Number.parseInt(v, 10), 5000)
    .option('--decisions', 'also re-derive every access decision and name the first that does not follow')
    .option('--against <checkpoint>', 'also check the log against a signed checkpoint kept earlier (a file with its compact JWS, or JSON with a "jws" field)')
    .option('--jwks <file>', 'the public keys to check the checkpoint with (default: the ones this database publishes)')
    .option('--projections', 'also rebuild the read models from the log in a scratch schema (rolled back after) and name the first row the live ones hold otherwise')
    .option('--no-progress', 'no progress bar')
    .action(async (opts: { pageSize: number; progress: boolean; decisions?: boolean; against?: string; jwks?: string; projections?: boolean }) => {
      const { chain, decisions, checkpoint, projections } = await withStore(async (db, _store, config) => {
        const bar = progressBar('verify', opts.progress && io.tty);
        try {
          const chain = await verifyChain(db, { pageSize: opts.pageSize, onProgress: (done, total) => bar.update(done, total) });
          // Emergency reasons are sealed: opened where this process holds the KEK, else counted as unreadable.
          const cipher = opts.decisions && config.keys.kek.kind !== 'none' ? new PayloadCipher(new KeyService(db, await openKek(config.keys.kek, (m) => io.err(`${m}\n`))), PERSONAL_FIELDS) : undefined;
          const decisions = opts.decisions ? await verifyDecisions(db, { pageSize: opts.pageSize, ...(cipher ? { cipher } : {}) }) : undefined;
          const checkpoint = opts.against ? await checkAgainst(db, opts.against, opts.jwks, opts.pageSize) : undefined;
          const projections = opts.projections ? await verifyProjections(db, allProjections(), ALL_MIGRATIONS, { pageSize: opts.pageSize }) : undefined;
          return { chain, decisions, checkpoint, projections };
        } finally {
          bar.stop();
        }
      });
      io.out(`${JSON.stringify({ ...chain, ...(decisions ? { decisions } : {}), ...(checkpoint ? { checkpoint } : {}), ...(projections ? { projections } : {}) })}\n`);
      for (const d of projections?.differences ?? []) {
        const what = d.kind === 'differs' ? 'differs from what the log gives' : d.kind === 'missing' ? 'is missing (the log gives it)' : 'is not given by the log';
        io.err(`read model ${d.table}: the row ${JSON.stringify(d.key)} ${what} (projected up to ${projections?.position})\n`);
        exitCode = 2;
      }
      if (checkpoint && !checkpoint.ok) {
        io.err(`log does not match the checkpoint of size ${checkpoint.treeSize}: ${checkpoint.reason}\n`);
        exitCode = 2;
      }
      if (!chain.ok) {
        io.err(`chain broken at global sequence ${chain.firstBrokenSeq} (${chain.reason})\n`);
        exitCode = 2;
      }
      if (decisions?.firstDeviation) {
        const d = decisions.firstDeviation;
        io.err(`decision at global sequence ${d.globalSeq} (event ${d.eventId}) does not follow: ${d.field} recorded ${JSON.stringify(d.recorded)}, derived ${JSON.stringify(d.derived)}\n`);
        exitCode = 2;
      } else if (decisions?.badPolicy) {
        io.err(`policy ${decisions.badPolicy.policyVersion} at global sequence ${decisions.badPolicy.globalSeq} does not hash to its version\n`);
        exitCode = 2;
      }
    });

  program
    .command('replay')
    .description('rebuild every read model from the log (run with the projector stopped)')
    .option('--no-progress', 'no progress bar')
    .action(async (opts: { progress: boolean }) => {
      const started = Date.now();
      const { count, quarantined } = await withStore(async (db, store) => {
        const bar = progressBar('replay', opts.progress && io.tty);
        try {
          const runner = createProjectionRunner(db, allProjections());
          const replayed = await runner.replay(store, { onProgress: (done, total) => bar.update(done, total) });
          return { count: replayed, quarantined: await runner.faults() };
        } finally {
          bar.stop();
        }
      });
      // An event a projection cannot apply is quarantined for it alone: reported, not fatal.
      for (const f of quarantined) {
        io.err(`quarantined for ${f.projection}: global sequence ${f.globalSeq} (${f.eventType}, event ${f.eventId}): ${f.code} ${f.error}\n`);
      }
      const faults = quarantined.map((f) => ({ projection: f.projection, globalSeq: f.globalSeq, eventId: f.eventId, eventType: f.eventType, code: f.code, error: f.error }));
      io.out(`${JSON.stringify({ replayed: count, seconds: (Date.now() - started) / 1000, quarantined: faults })}\n`);
    });

  program
    .command('migrate')
    .description('run pending migrations (every process also does this at start)')
    .action(async () => {
      await withStore(async () => undefined);
      io.out('{"migrated":true}\n');
    });

  program
    .command('head')
    .description('print the chain head: last global sequence and its hash')
    .action(async () => {
      const head = await withStore((_db, store) => store.head());
      io.out(`${JSON.stringify(head)}\n`);
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof ConfigError) {
      io.err(`${e.message}\n`);
      return 1;
    }
    const code = (e as { exitCode?: number }).exitCode;
    if (typeof code === 'number') return code; // commander: help, unknown command
    io.err(`custos: ${(e as Error).message}\n`);
    return 1;
  }
  return exitCode;
}
