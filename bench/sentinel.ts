/**
 * The sentinel's figures for `npm run bench`: rules evaluated over a generated month of a
 * hospital, in memory and from the store (beside raw reads of the same events); the same for
 * a log where one actor makes BENCH_SENTINEL_BUSY (10^6) accesses in a day (the cost per
 * event must not grow with an actor's volume); and the latency from the commit of the event
 * that completes a case to the commit of its detection, idle and while the store takes a full
 * load of decisions from many actors and one busy one.
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

  // 3. One busy actor: a day of accesses by one service account, from the store, beside the raw read.
  await busyActor(db, store, report, results);

  // 4. Event to detection: snoopers each completing a case with their 30th patient, the runner
  // woken by commits as in the embedded gateway; first on an idle store, then under load.
  const runner2 = new SentinelRunner(db, store, pino({ level: 'silent' }));
  await runner2.catchUp();
  await eventToDetection(store, runner2, results, 'idle', Number(process.env.BENCH_SENTINEL_CASES ?? 100));
  await eventToDetection(store, runner2, results, 'under load', Number(process.env.BENCH_SENTINEL_CASES ?? 100), Number(process.env.BENCH_SENTINEL_LOAD ?? 64));
}

const access = (actor: string, patient: string, at: Date): NewEvent => ({
  type: 'AccessDecided',
  schemaVersion: 2,
  data: { resourceType: 'image', resourceId: `img-${patient}`, action: 'view', purpose: 'TREATMENT', patientId: patient, decision: 'PERMIT', rule: 'r', reason: 'x', emergency: false, consentVersion: 0, policyVersion: 'v' },
  metadata: { actor: { id: actor, roles: ['clinician'] }, correlationId: 'b', patientId: patient },
  occurredAt: at,
});

/**
 * BENCH_SENTINEL_BUSY accesses (10^6 by default) by one actor spread over one day, to 20,000
 * patients (an AI pipeline's service account); a fresh sentinel evaluates the whole log from
 * the store, beside the raw read of the same log.
 */
async function busyActor(db: Database, store: EventStore, report: Report, results: Array<{ what: string; perSecond: number }>): Promise<void> {
  const N = Number(process.env.BENCH_SENTINEL_BUSY ?? 1_000_000);
  if (N <= 0) return;
  const start = Date.now() - 3 * 86_400_000;
  const step = 86_400_000 / N;
  const appendSeconds = await timed(async () => {
    for (let i = 0; i < N; i += 1000) {
      const n = Math.min(1000, N - i);
      await store.appendBatch(
        Array.from({ length: n }, (_, j) => {
          const k = i + j;
          const patient = `busy-p${(k * 7919) % 20_000}`;
          return { streamId: `access-${patient}`, events: [access('bench-pipeline', patient, new Date(start + Math.floor(k * step)))], expectedVersion: 'any' as const };
        }),
      );
    }
  });
  console.log(`${`  (${N.toLocaleString('en')} accesses by one actor appended in ${appendSeconds.toFixed(0)} s)`.padEnd(52)}`);
  const total = (await store.head()).lastSeq + 1;
  const rawRead = report(`raw read of a log with one actor's ${N.toLocaleString('en')}/day (1000/page)`, total, await timed(async () => {
    for (let at = 0; at < total; ) at = ((await store.readAll(at, 1000)).at(-1)?.globalSeq ?? total) + 1;
  }));
  await db.execute('DELETE FROM custos_sentinel_position');
  const runner = new SentinelRunner(db, store, pino({ level: 'silent' }));
  const seconds = await timed(() => runner.catchUp());
  const perSecond = report(`sentinel from the store, same log (${total.toLocaleString('en')} events)`, total, seconds, { what: 'raw store read', perSecond: rawRead });
  results.push({ what: `sentinel events/s from the store, one actor ${N}/day`, perSecond });
}

/**
 * Commit of the event completing a case to the commit of its detection. Under load, `load`
 * concurrent writers append decisions as fast as the store takes them (what the gateway does
 * at full load), half by one busy actor and half by 50 others, while the snoopers work.
 */
async function eventToDetection(store: EventStore, runner: SentinelRunner, results: Array<{ what: string; perSecond: number }>, label: string, cases: number, load = 0): Promise<void> {
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
  let stop = false;
  let appended = 0;
  const t0Load = process.hrtime.bigint();
  const writers = Array.from({ length: load }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      const actor = i % 2 === 0 ? 'bench-load-busy' : `bench-load-${(w + i) % 50}`;
      const patient = `load-p${(w * 1000 + i) % 5000}`;
      await store.append(`access-${patient}`, [access(actor, patient, new Date())], { expectedVersion: 'any' });
      appended++;
    }
  });
  const tag = label.replace(/\s+/g, '-');
  const latencies: number[] = [];
  // Detections the load raises (its busy actor's) come too: each snooper waits for its own.
  const waiting = new Map<string, () => void>();
  const stopListening = runner.onRecorded((d) => waiting.get(d.subject.id)?.());
  for (let k = 0; k < cases; k++) {
    const actor = `bench-snoop-${tag}-${k}`;
    const recorded = new Promise<void>((resolve) => waiting.set(actor, resolve));
    let t0 = 0n;
    for (let i = 0; i < 30; i++) {
      await store.append(`access-bench-snoop-${tag}-${k}-${i}`, [access(actor, `bs-${tag}-${k}-${i}`, new Date())], { expectedVersion: 'any' });
      t0 = process.hrtime.bigint();
    }
    await recorded;
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    waiting.delete(actor);
  }
  stopListening();
  stop = true;
  await Promise.all(writers);
  const loadSeconds = Number(process.hrtime.bigint() - t0Load) / 1e9;
  detach();
  await running;
  latencies.sort((a, b) => a - b);
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number;
  const during = load > 0 ? `, ${(appended / loadSeconds).toFixed(0)} decisions/s appended by ${load} writers meanwhile` : '';
  console.log(`${`event to detection, ${label} (${cases} cases, commit to commit)`.padEnd(52)}   p50 ${p(0.5).toFixed(1)} ms, p95 ${p(0.95).toFixed(1)} ms, p99 ${p(0.99).toFixed(1)} ms${during}`);
  results.push({ what: `event to detection p99 ms, ${label}`, perSecond: p(0.99) });
  if (load > 0) results.push({ what: 'decisions/s appended during event to detection', perSecond: appended / loadSeconds });
}
