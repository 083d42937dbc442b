/**
 * The verifiable log's figures for `npm run bench`: tree integration beside raw SHA-256 over
 * the same leaf bytes; append throughput with the integrator running and not; inclusion-proof
 * latency at BENCH_LOG_EVENTS (default 10^6) events; the offline verifier on an export of
 * BENCH_EXPORT_EVENTS (default 20,000) events.
 */
import { createHash, hash } from 'node:crypto';
import { type Database, type EventStore, type NewEvent } from '@custos/event-store';
import { KeyService, openKek } from '@custos/keys';
import { Checkpoints, exportBundle, LeafFeed, leafInput, LogTree } from '@custos/log';
import { verifyBundle } from '../apps/verifier/src/verify-bundle.js';

type Report = (what: string, count: number, seconds: number, raw?: { what: string; perSecond: number }) => number;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function event(i: number, patientId: string): NewEvent {
  return {
    type: 'AccessDecided',
    schemaVersion: 2,
    data: { resourceType: 'image', resourceId: `img-${i}`, action: 'view', purpose: 'TREATMENT', patientId, decision: 'PERMIT', rule: 'clinician-treatment', reason: 'bench', emergency: false, consentVersion: 0, policyVersion: 'bench' },
    metadata: { actor: { id: `user-${i % 50}`, roles: ['clinician'] }, correlationId: `log-${i}`, patientId },
    occurredAt: new Date(),
  };
}

export async function logFigures(db: Database, store: EventStore, report: Report, results: Array<{ what: string; perSecond: number }>): Promise<void> {
  const tree = new LogTree(db);
  // 1. Integration beside raw SHA-256 over the same leaf bytes. What earlier sections appended
  // is integrated first, untimed; then TREE_EVENTS more are appended with the gateway's
  // hand-over (LeafFeed) attached, as in service, and integrated from it; then the whole tree
  // is dropped and rebuilt from the store, the path of a restart or of other gateways' events.
  const TREE_EVENTS = Number(process.env.BENCH_LOG_TREE_EVENTS ?? 50_000);
  while ((await tree.integrate(20000)) < (await store.head()).lastSeq + 1);
  const start = (await store.head()).lastSeq + 1;
  const feed = new LeafFeed(TREE_EVENTS);
  const detach = feed.attach(store);
  for (let i = 0; i < TREE_EVENTS; i += 1000) {
    await store.appendBatch(Array.from({ length: Math.min(1000, TREE_EVENTS - i) }, (_, j) => ({ streamId: `access-tree${i + j}`, events: [event(i + j, `tp${(i + j) % 1000}`)], expectedVersion: 'no-stream' as const })));
  }
  detach();
  const end = start + TREE_EVENTS;
  const leafBytes: Buffer[] = [];
  while (leafBytes.length < TREE_EVENTS) leafBytes.push(...(await store.readAll(start + leafBytes.length, 5000)).map(leafInput));
  const rawStreamed = report('raw SHA-256 over the same leaf bytes (createHash)', leafBytes.length, await timed(async () => leafBytes.forEach((b) => createHash('sha256').update(b).digest())));
  const rawOneShot = report('raw SHA-256 over the same leaf bytes (one-shot hash)', leafBytes.length, await timed(async () => leafBytes.forEach((b) => hash('sha256', b, 'buffer'))));
  const raw = { what: 'raw SHA-256', perSecond: Math.max(rawStreamed, rawOneShot) };
  const fedTree = new LogTree(db, { feed });
  const fed = report('log tree integration, handed over (leaf + nodes, stored)', TREE_EVENTS, await timed(async () => {
    while ((await fedTree.integrate(20000)) < end);
  }), raw);
  results.push({ what: 'log tree integration (handed over) / raw SHA-256', perSecond: fed / raw.perSecond });
  await db.execute('DELETE FROM custos_log_tiles');
  await db.execute('DELETE FROM custos_log_head');
  report(`log tree rebuilt from the store (all ${end.toLocaleString('en')} events)`, end, await timed(async () => {
    while ((await tree.integrate(20000)) < end);
  }), raw);

  // 2. Appends with the integrator running beside them (the hand-over attached, as in a
  // gateway), and without (neither). The tree is caught up before each round.
  const APPENDS = Number(process.env.BENCH_LOG_APPENDS ?? 10000);
  const appendRound = async (label: string, integrating: boolean, offset: number) => {
    while ((await tree.integrate(20000)) < (await store.head()).lastSeq + 1);
    const roundFeed = new LeafFeed();
    const roundTree = new LogTree(db, { feed: roundFeed });
    const detachRound = integrating ? roundFeed.attach(store) : () => undefined;
    let running = integrating;
    const integrator = (async () => {
      while (running) {
        await roundTree.integrate(20000);
        await sleep(20);
      }
    })();
    let next = 0;
    const seconds = await timed(() =>
      Promise.all(
        Array.from({ length: 64 }, async () => {
          while (next < APPENDS) {
            const i = next++;
            await store.append(`access-log${offset + i}`, [event(offset + i, `lp${i % 100}`)], { expectedVersion: 'no-stream' });
          }
        }),
      ),
    );
    running = false;
    await integrator;
    detachRound();
    return report(label, APPENDS, seconds);
  };
  const offs: number[] = [];
  const ons: number[] = [];
  // Alternating rounds, so that drift in the machine's speed falls on both sides.
  for (let r = 0; r < 3; r++) {
    offs.push(await appendRound('EventStore.append, 64 callers, integrator off', false, 2 * r * APPENDS));
    ons.push(await appendRound('EventStore.append, 64 callers, integrator on', true, (2 * r + 1) * APPENDS));
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
  const ratio = median(ons) / median(offs);
  console.log(`${'  integrator on / off (medians of 3)'.padEnd(52)}   ${ratio.toFixed(2)}`);
  results.push({ what: 'append with integrator on / off', perSecond: ratio });

  // 3. Proof latency at a large tree: bulk events up to BENCH_LOG_EVENTS, integrated.
  const target = Number(process.env.BENCH_LOG_EVENTS ?? 1_000_000);
  const EXPORT = Number(process.env.BENCH_EXPORT_EVENTS ?? 20_000);
  let n = (await store.head()).lastSeq + 1;
  const bulkStart = n;
  const loadSeconds = await timed(async () => {
    while (n < target) {
      const batch = Math.min(1000, target - n);
      // The first EXPORT of them belong to one patient: the export figure below.
      await store.appendBatch(Array.from({ length: batch }, (_, j) => ({ streamId: `access-bulk${n + j}`, events: [event(n + j, n + j - bulkStart < EXPORT ? 'exported-patient' : `bp${(n + j) % 10000}`)], expectedVersion: 'no-stream' as const })));
      n += batch;
    }
  });
  const integrateSeconds = await timed(async () => {
    while ((await tree.integrate(20000)) < n);
  });
  console.log(`${`log of ${n.toLocaleString('en')} events`.padEnd(52)}   appended in ${loadSeconds.toFixed(0)} s, integrated in ${integrateSeconds.toFixed(0)} s (${((n - bulkStart) / integrateSeconds).toFixed(0)} events/s)`);
  const times: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const t0 = process.hrtime.bigint();
    await tree.inclusion((i * 7919 * 13) % n, n);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(`${`inclusion proof at ${n.toLocaleString('en')} events`.padEnd(52)}   p50 ${times[500]!.toFixed(2)} ms, p99 ${times[990]!.toFixed(2)} ms`);
  results.push({ what: `inclusion proof p99 ms at ${n} events`, perSecond: times[990]! });
  // Beside it, the floor: one statement fetching 20 rows of the log by primary key, same database, same run.
  const floor: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const seqs = Array.from({ length: 20 }, (_, k) => ((i * 7919 + k * 104_729) * 13) % n);
    const t0 = process.hrtime.bigint();
    await db.query('SELECT global_seq, hash FROM custos_events WHERE global_seq = ANY($1::bigint[])', [seqs]);
    floor.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  floor.sort((a, b) => a - b);
  console.log(`${'raw: 20 log rows by primary key, one statement'.padEnd(52)}   p50 ${floor[500]!.toFixed(2)} ms, p99 ${floor[990]!.toFixed(2)} ms`);

  // 4. The offline verifier on an export of one patient's EXPORT events.
  const keys = new KeyService(db, await openKek({ kind: 'memory' }, () => undefined));
  const checkpoints = new Checkpoints(db, keys, 'bench/log');
  await checkpoints.sign(tree);
  let bundle: Awaited<ReturnType<typeof exportBundle>> | undefined;
  const exportSeconds = await timed(async () => {
    bundle = await exportBundle(db, tree, checkpoints, await keys.jwks(), { patientId: 'exported-patient', from: new Date(0), to: new Date(Date.now() + 86_400_000) }, new Date());
  });
  const events = bundle?.events.length ?? 0;
  report(`export of one patient (${events} events)`, events, exportSeconds);
  const jwks = await keys.jwks();
  const verdict = await verifyBundle(JSON.parse(JSON.stringify(bundle)) as unknown, { jwks });
  const verifySeconds = await timed(async () => verifyBundle(JSON.parse(JSON.stringify(bundle)) as unknown, { jwks }));
  report(`offline verifier on that export (${verdict.ok ? 'ok' : 'FAILED'})`, events, verifySeconds);
}
