/**
 * The verifiable log's figures for `npm run bench`: tree integration beside raw SHA-256 over
 * the same leaf bytes; append throughput with the integrator running and not; inclusion-proof
 * latency at BENCH_LOG_EVENTS (default 10^6) events; the offline verifier on an export of
 * BENCH_EXPORT_EVENTS (default 20,000) events.
 */
import { createHash } from 'node:crypto';
import { type Database, type EventStore, type NewEvent } from '@custos/event-store';
import { KeyService, openKek } from '@custos/keys';
import { Checkpoints, exportBundle, leafInput, LogTree } from '@custos/log';
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
  // 1. Integration of every event so far, beside raw SHA-256 over the same bytes.
  const head = (await store.head()).lastSeq + 1;
  const leafBytes = (await store.readAll(0, head)).map(leafInput);
  const raw = report('raw SHA-256 over the same leaf bytes', leafBytes.length, await timed(async () => leafBytes.forEach((b) => createHash('sha256').update(b).digest())));
  report('log tree integration (leaf + nodes, stored)', leafBytes.length, await timed(async () => {
    while ((await tree.integrate(5000)) < head);
  }), { what: 'raw SHA-256', perSecond: raw });

  // 2. Appends with the integrator running beside them, and without.
  const APPENDS = Number(process.env.BENCH_LOG_APPENDS ?? 10000);
  const appendRound = async (label: string, integrating: boolean, offset: number) => {
    let running = integrating;
    const integrator = (async () => {
      while (running) {
        await tree.integrate(5000);
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
    return report(label, APPENDS, seconds);
  };
  const off = await appendRound('EventStore.append, 64 callers, integrator off', false, 0);
  const on = await appendRound('EventStore.append, 64 callers, integrator on', true, APPENDS);
  console.log(`${'  integrator on / off'.padEnd(52)}   ${(on / off).toFixed(2)}`);
  results.push({ what: 'append with integrator on / off', perSecond: on / off });

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
    while ((await tree.integrate(10000)) < n);
  });
  console.log(`${`log of ${n.toLocaleString('en')} events`.padEnd(52)}   appended in ${loadSeconds.toFixed(0)} s, integrated in ${integrateSeconds.toFixed(0)} s (${((n - head) / integrateSeconds).toFixed(0)} events/s)`);
  const times: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const t0 = process.hrtime.bigint();
    await tree.inclusion((i * 7919 * 13) % n, n);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(`${`inclusion proof at ${n.toLocaleString('en')} events`.padEnd(52)}   p50 ${times[500]!.toFixed(2)} ms, p99 ${times[990]!.toFixed(2)} ms`);
  results.push({ what: `inclusion proof p99 ms at ${n} events`, perSecond: times[990]! });

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
  const verdict = await verifyBundle(JSON.parse(JSON.stringify(bundle)) as unknown);
  const verifySeconds = await timed(async () => verifyBundle(JSON.parse(JSON.stringify(bundle)) as unknown));
  report(`offline verifier on that export (${verdict.ok ? 'ok' : 'FAILED'})`, events, verifySeconds);
}
