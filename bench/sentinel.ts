/**
 * The sentinel's figures for `npm run bench`: rules evaluated over a generated month of a
 * hospital, in memory and from the store (beside raw reads of the same events), and the
 * latency from the commit of the event that completes a case to the commit of its detection.
 */
import { type Database, type EventStore, type NewEvent } from '@custos/event-store';
import { generateMonth, SentinelCore, SentinelRunner } from '@custos/sentinel';
import pino from 'pino';

type Report = (what: string, count: number, seconds: number, raw?: { what: string; perSecond: number }) => number;

async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function sentinelFigures(db: Database, store: EventStore, report: Report, results: Array<{ what: string; perSecond: number }>, rawConsume?: number): Promise<void> {
  const { events } = generateMonth(20261127);
  // 1. The rules alone, in memory.
  const core = new SentinelCore();
  report(`sentinel rules over a generated month, in memory (${events.length.toLocaleString('en')} events)`, events.length, await timed(async () => events.forEach((e) => core.evaluate(e))));

  // 2. From the store: the month appended, then evaluated by a fresh runner (recording its 7 cases), beside raw reads.
  await db.execute('DELETE FROM custos_sentinel_position');
  const first = (await store.head()).lastSeq + 1;
  for (let i = 0; i < events.length; i += 1000) {
    await store.appendBatch(
      events.slice(i, i + 1000).map((e) => ({ streamId: e.streamId, events: [{ type: e.type, schemaVersion: e.schemaVersion, data: e.data, metadata: e.metadata, occurredAt: new Date(e.occurredAt) } as NewEvent], expectedVersion: 'any' as const })),
    );
  }
  const total = (await store.head()).lastSeq + 1;
  const rawRead = report('raw read of the same events from the store (1000/page)', total, await timed(async () => {
    for (let at = 0; at < total; ) at = ((await store.readAll(at, 1000)).at(-1)?.globalSeq ?? total) + 1;
  }));
  const runner = new SentinelRunner(db, store, pino({ level: 'silent' }));
  const seconds = await timed(() => runner.catchUp());
  const perSecond = report(`sentinel from the store (${runner.counts.recorded} cases recorded; ${first} earlier events too)`, total, seconds, { what: 'raw store read', perSecond: rawRead });
  if (rawConsume) console.log(`${'  beside raw kafkajs consume'.padEnd(52)}   ratio ${(perSecond / rawConsume).toFixed(2)}`);
  results.push({ what: 'sentinel events/s from the store', perSecond });

  // 3. Event to detection: 100 snoopers, each completing a case with their 30th patient; the
  // runner woken by commits as in the embedded gateway.
  const SNOOPERS = Number(process.env.BENCH_SENTINEL_CASES ?? 100);
  let running: Promise<unknown> | undefined;
  let again = false;
  const wake = () => {
    if (running) {
      again = true;
      return;
    }
    running = runner.catchUp().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        wake();
      }
    });
  };
  const detach = store.onCommitted(wake);
  const latencies: number[] = [];
  for (let k = 0; k < SNOOPERS; k++) {
    const before = runner.counts.recorded;
    let t0 = 0n;
    for (let i = 0; i < 30; i++) {
      const now = new Date();
      await store.append(`access-bench-snoop-${k}-${i}`, [{ type: 'AccessDecided', schemaVersion: 2, data: { resourceType: 'image', resourceId: `img-${i}`, action: 'view', purpose: 'TREATMENT', patientId: `bs-${k}-${i}`, decision: 'PERMIT', rule: 'r', reason: 'x', emergency: false, consentVersion: 0, policyVersion: 'v' }, metadata: { actor: { id: `bench-snoop-${k}`, roles: ['clinician'] }, correlationId: 'b', patientId: `bs-${k}-${i}` }, occurredAt: now }], { expectedVersion: 'any' });
      t0 = process.hrtime.bigint();
    }
    while (runner.counts.recorded === before) await new Promise((r) => setImmediate(r));
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  detach();
  await running;
  latencies.sort((a, b) => a - b);
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number;
  console.log(`${`event to detection (${SNOOPERS} cases, commit to commit)`.padEnd(52)}   p50 ${p(0.5).toFixed(1)} ms, p95 ${p(0.95).toFixed(1)} ms`);
  results.push({ what: 'event to detection p95 ms', perSecond: p(0.95) });
}
