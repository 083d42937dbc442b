import 'reflect-metadata';
import { Database, EventStore, verifyChain } from '@custos/event-store';
import { ALL_MIGRATIONS, configOrExit, createProjectionRunner } from '@custos/runtime';
import { Presets, SingleBar } from 'cli-progress';
import { Command } from 'commander';

/**
 * Operator commands, run against the configured store (DATA_DIR in embedded mode,
 * DATABASE_URL in distributed mode):
 *   custos verify   re-walk the hash chain, name the first broken sequence (exit 2 when broken)
 *   custos replay   rebuild every read model from the log (stop the projector first)
 *   custos migrate  run pending migrations
 *   custos head     print the chain head
 */
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

async function withStore<T>(work: (db: Database, store: EventStore) => Promise<T>): Promise<T> {
  const config = configOrExit();
  const db = await Database.open(config.database, ALL_MIGRATIONS);
  try {
    return await work(db, new EventStore(db));
  } finally {
    await db.close();
  }
}

const program = new Command('custos').description('Custos operator commands').showHelpAfterError();

program
  .command('verify')
  .description('re-walk the hash chain and name the first broken global sequence')
  .option('--page-size <n>', 'events read per page', (v) => Number.parseInt(v, 10), 5000)
  .option('--no-progress', 'no progress bar')
  .action(async (opts: { pageSize: number; progress: boolean }) => {
    const report = await withStore(async (db) => {
      const bar = progressBar('verify', opts.progress && process.stderr.isTTY === true);
      try {
        return await verifyChain(db, { pageSize: opts.pageSize, onProgress: (done, total) => bar.update(done, total) });
      } finally {
        bar.stop();
      }
    });
    process.stdout.write(`${JSON.stringify(report)}\n`);
    if (!report.ok) {
      process.stderr.write(`chain broken at global sequence ${report.firstBrokenSeq} (${report.reason})\n`);
      process.exitCode = 2;
    }
  });

program
  .command('replay')
  .description('rebuild every read model from the log (run with the projector stopped)')
  .option('--no-progress', 'no progress bar')
  .action(async (opts: { progress: boolean }) => {
    const started = Date.now();
    const count = await withStore(async (db, store) => {
      const bar = progressBar('replay', opts.progress && process.stderr.isTTY === true);
      try {
        return await createProjectionRunner(db).replay(store, { onProgress: (done, total) => bar.update(done, total) });
      } finally {
        bar.stop();
      }
    });
    process.stdout.write(`${JSON.stringify({ replayed: count, seconds: (Date.now() - started) / 1000 })}\n`);
  });

program
  .command('migrate')
  .description('run pending migrations (every process also does this at start)')
  .action(async () => {
    await withStore(async () => undefined);
    process.stdout.write('{"migrated":true}\n');
  });

program
  .command('head')
  .description('print the chain head: last global sequence and its hash')
  .action(async () => {
    const head = await withStore((_db, store) => store.head());
    process.stdout.write(`${JSON.stringify(head)}\n`);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`custos: ${(e as Error).message}\n`);
  process.exit(1);
});
