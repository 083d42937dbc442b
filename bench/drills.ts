/**
 * `npm run drills [name…]`: fault drills against the distributed stack, each under a steady
 * load of access requests. One process per component (gateway, relay, projector), a private
 * Kafka broker (scripts/kafka.sh on port 9292: neither the shared broker nor the tests' 9192
 * is touched), the local PostgreSQL with a fresh database per drill. Each drill injects one
 * fault, lets the stack recover, and checks afterwards:
 *
 *   - every decision answered 200 or 403 is in the log exactly once (missing = 0);
 *   - nothing is recorded twice (the trail has each event once, and one row per decision);
 *   - the read models equal a from-scratch replay of the log;
 *   - `custos verify` passes: the hash chain, and every decision re-derived (--decisions).
 *
 * One line per drill (requests, answered, refused, recorded, missing, duplicated, catch-up
 * seconds); exit 1 on any violation. DRILL_SHORT=1 runs shorter faults (CI runs two drills so);
 * DRILL_DEBUG=1 prints each fault and each request left without an answer, with its time.
 */
import { randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ALL_MIGRATIONS, allProjections, verifyDecisions } from '@custos/contexts';
import { Database, EventStore, verifyChain } from '@custos/event-store';
import { projectedPosition } from '@custos/projections';
import { createProjectionRunner } from '@custos/runtime';
import pg from 'pg';

const ROOT = resolve(import.meta.dirname, '../..');
const SHORT = process.env.DRILL_SHORT === '1';
const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const BROKER_PORT = Number(process.env.DRILL_KAFKA_PORT ?? 9292);
const BROKERS = `127.0.0.1:${BROKER_PORT}`;
const PORTS = { gateway: 3970, relay: 3971, projector: 3972 } as const;
type Component = keyof typeof PORTS;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Asynchronous on purpose: the load generator runs in this process, and a synchronous wait
// for Kafka to start would stall it and count its requests as unanswered.
async function kafka(command: 'start' | 'stop' | 'kill' | 'reset'): Promise<void> {
  await run('bash', [join(ROOT, 'scripts/kafka.sh'), command], { ...process.env, KAFKA_PORT: String(BROKER_PORT), KAFKA_HEAP: '-Xms128m -Xmx512m' });
}

async function postgres(command: 'stop' | 'start'): Promise<void> {
  const version = readdirSync('/etc/postgresql')[0] as string;
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', command, ...(command === 'stop' ? ['-m', 'fast'] : [])], process.env);
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  if (process.env.DRILL_DEBUG) console.error(new Date().toISOString(), command, args.join(' '));
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolveRun() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

async function adminQuery(sql: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const c = new pg.Client({ connectionString: ADMIN_URL });
    try {
      await c.connect();
      await c.query(sql);
      return;
    } catch (e) {
      if (attempt > 30) throw e;
      await sleep(500);
    } finally {
      await c.end().catch(() => undefined);
    }
  }
}

class Stack {
  readonly procs = new Map<Component, ChildProcess>();
  constructor(private readonly env: Record<string, string>) {}

  start(c: Component): void {
    const child = spawn(process.execPath, [join(ROOT, `dist/apps/${c}/src/main.js`)], { env: { ...process.env, LOG_LEVEL: 'error', ...this.env, PORT: String(PORTS[c]) }, stdio: ['ignore', 'ignore', 'inherit'] });
    this.procs.set(c, child);
  }

  signal(c: Component, signal: NodeJS.Signals): void {
    if (process.env.DRILL_DEBUG) console.error(new Date().toISOString(), signal, c);
    this.procs.get(c)?.kill(signal);
  }

  async stop(c: Component): Promise<void> {
    const child = this.procs.get(c);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  async healthy(c: Component, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        if ((await fetch(`http://127.0.0.1:${PORTS[c]}/health/live`, { signal: AbortSignal.timeout(1000) })).ok) return;
      } catch {
        /* not up yet */
      }
      await sleep(100);
    }
    throw new Error(`${c} did not come up`);
  }

  async stopAll(): Promise<void> {
    for (const c of ['gateway', 'relay', 'projector'] as const) await this.stop(c);
  }
}

interface Answer {
  status: number;
  eventId?: string;
  decision?: string;
}

/** Steady load: `workers` loops of POST /v1/access-requests, every answer kept. */
class Load {
  readonly answers: Answer[] = [];
  private running = true;
  private token = '';
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly images: number) {}

  private async freshToken(): Promise<void> {
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${PORTS.gateway}/v1/dev/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub: 'drill-dr', roles: ['clinician'] }), signal: AbortSignal.timeout(2000) });
        if (res.ok) {
          this.token = ((await res.json()) as { token: string }).token;
          return;
        }
      } catch {
        /* gateway down: try again */
      }
      if (!this.running) return;
      await sleep(200);
    }
  }

  async start(workers: number): Promise<void> {
    await this.freshToken();
    for (let w = 0; w < workers; w++) this.loops.push(this.loop(w));
  }

  private async loop(w: number): Promise<void> {
    for (let i = w; this.running; i += 7) {
      const body = JSON.stringify({ resourceType: 'image', resourceId: `drill-img-${i % this.images}`, action: 'view', purpose: i % 5 === 0 ? 'RESEARCH' : 'TREATMENT' });
      try {
        const res = await fetch(`http://127.0.0.1:${PORTS.gateway}/v1/access-requests`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` }, body, signal: AbortSignal.timeout(10_000) });
        const json = (await res.json().catch(() => ({}))) as { eventId?: string; decision?: string };
        if (res.status === 401) {
          await this.freshToken(); // a restarted gateway's dev issuer has a new key
          continue;
        }
        this.answers.push({ status: res.status, ...(json.eventId ? { eventId: json.eventId } : {}), ...(json.decision ? { decision: json.decision } : {}) });
        if (res.status >= 500) await sleep(50);
      } catch (e) {
        if (process.env.DRILL_DEBUG) console.error(new Date().toISOString(), 'no answer:', (e as Error).message, (e as { cause?: { code?: string } }).cause?.code);
        this.answers.push({ status: 0 });
        await sleep(100);
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

interface DrillReport {
  drill: string;
  requests: number;
  answered: number;
  refused: number;
  recorded: number;
  missing: number;
  duplicated: number;
  catchUpSeconds: number;
  replayEqual: boolean;
  chainOk: boolean;
  decisionsOk: boolean;
  ok: boolean;
  /** Answers by HTTP status (0: no answer, connection refused or timed out). */
  statuses: string;
}

type Fault = (stack: Stack) => Promise<void>;

const s = (long: number, short: number) => (SHORT ? short : long) * 1000;

const DRILLS: Record<string, Fault> = {
  /** The broker SIGKILLed for 20 s and restarted, twice. */
  'kafka-kill': async () => {
    for (let round = 0; round < (SHORT ? 1 : 2); round++) {
      await kafka('kill');
      await sleep(s(20, 5));
      await kafka('start');
      await sleep(s(5, 2));
    }
  },
  /** The gateway SIGKILLed mid-load and restarted. */
  'gateway-kill': async (stack) => {
    stack.signal('gateway', 'SIGKILL');
    await sleep(1000);
    stack.start('gateway');
    await stack.healthy('gateway');
  },
  /** The projector SIGKILLed twice during catch-up (it was stopped while the load ran). */
  'projector-kill': async (stack) => {
    await stack.stop('projector');
    await sleep(s(10, 4));
    for (let round = 0; round < 2; round++) {
      stack.start('projector');
      await stack.healthy('projector');
      await sleep(1500);
      stack.signal('projector', 'SIGKILL');
      await sleep(500);
    }
    stack.start('projector');
  },
  /** PostgreSQL stopped for 10 s: answers are 503, never a PERMIT without its record. */
  'postgres-stop': async () => {
    await postgres('stop');
    await sleep(s(10, 4));
    await postgres('start');
  },
  /** The projector paused (SIGSTOP) for 30 s while the load goes on, then resumed. */
  'projector-pause': async (stack) => {
    stack.signal('projector', 'SIGSTOP');
    await sleep(s(30, 6));
    stack.signal('projector', 'SIGCONT');
  },
};

async function snapshot(db: Database): Promise<string> {
  const out: Record<string, unknown[]> = {};
  for (const table of allProjections().flatMap((p) => p.tables)) out[table] = await db.query(`SELECT * FROM ${table} ORDER BY 1, 2`);
  return JSON.stringify(out);
}

async function runDrill(name: string, fault: Fault): Promise<DrillReport> {
  const database = `custos_drill_${name.replace(/-/g, '_')}_${Date.now().toString(36)}`;
  await adminQuery(`CREATE DATABASE ${database}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  const prefix = `drill${Date.now().toString(36)}.`;
  const stack = new Stack({ DATABASE_URL: url.toString(), KEK: randomBytes(32).toString('base64url'), KAFKA_BROKERS: BROKERS, KAFKA_TOPIC_PREFIX: prefix, PROJECTOR_GROUP_ID: `${prefix}projector`, AUTH_DEV_ISSUER: 'true', RELAY_POLL_MS: '20' });
  const images = 40;
  const load = new Load(images);
  let db: Database | undefined;
  try {
    for (const c of ['gateway', 'relay', 'projector'] as const) stack.start(c);
    for (const c of ['gateway', 'relay', 'projector'] as const) await stack.healthy(c);
    const steward = (await (await fetch(`http://127.0.0.1:${PORTS.gateway}/v1/dev/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub: 'drill-steward', roles: ['data-steward'] }) })).json()) as { token: string };
    for (let i = 0; i < images; i++) {
      await fetch(`http://127.0.0.1:${PORTS.gateway}/v1/images`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${steward.token}` },
        body: JSON.stringify({ imageId: `drill-img-${i}`, patientId: `drill-p${i % 20}`, modality: 'CT', bodySite: 'chest', datasetId: 'drill', demographics: { sex: 'F', birthYear: 1970, ethnicity: 'x' } }),
      });
    }
    await load.start(16);
    await sleep(s(3, 2));
    await fault(stack);
    await sleep(s(5, 3));
    await load.stop();

    // Recovery: everything back, then the projector must reach the head of the log.
    for (const c of ['gateway', 'relay', 'projector'] as const) {
      const child = stack.procs.get(c);
      if (!child || child.exitCode !== null || child.signalCode !== null) stack.start(c);
      await stack.healthy(c);
    }
    db = await Database.open({ kind: 'postgres', url: url.toString(), poolSize: 2 }, ALL_MIGRATIONS);
    const store = new EventStore(db);
    const stopped = Date.now();
    const { lastSeq } = await store.head();
    while ((await projectedPosition(db)) < lastSeq) {
      if (Date.now() - stopped > 180_000) throw new Error(`the projector did not catch up with ${lastSeq} in 180 s`);
      await sleep(100);
    }
    const catchUpSeconds = (Date.now() - stopped) / 1000;
    await stack.stopAll();

    const answered = load.answers.filter((a) => (a.status === 200 || a.status === 403) && a.eventId);
    const ids = answered.map((a) => a.eventId as string);
    const [found] = await db.query<{ n: string; distinct_n: string }>(`SELECT count(*) AS n, count(DISTINCT event_id) AS distinct_n FROM custos_events WHERE event_id = ANY($1::uuid[])`, [ids]);
    const recorded = Number(found?.distinct_n ?? 0);
    const [trail] = await db.query<{ rows: string; events: string; decided: string }>(
      `SELECT (SELECT count(*) FROM custos_rm_access_trail) AS rows, (SELECT count(DISTINCT event_id) FROM custos_rm_access_trail) AS events,
              (SELECT count(*) FROM custos_events WHERE type IN ('AccessDecided', 'RouteAccessDenied', 'AuditDataRead')) AS decided`,
    );
    const duplicated = Number(trail?.rows) - Number(trail?.events) + Math.abs(Number(trail?.rows) - Number(trail?.decided)) + (Number(found?.n) - recorded) + (ids.length - new Set(ids).size);
    const live = await snapshot(db);
    await createProjectionRunner(db, allProjections()).replay(store);
    const replayEqual = (await snapshot(db)) === live;
    const chainOk = (await verifyChain(db)).ok;
    const decisionsOk = (await verifyDecisions(db)).ok;
    const missing = answered.length - recorded;
    const refused = load.answers.length - answered.length;
    const byStatus = new Map<number, number>();
    for (const a of load.answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
    const statuses = [...byStatus].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k}:${v}`).join(' ');
    return { statuses, drill: name, requests: load.answers.length, answered: answered.length, refused, recorded, missing, duplicated, catchUpSeconds, replayEqual, chainOk, decisionsOk, ok: missing === 0 && duplicated === 0 && replayEqual && chainOk && decisionsOk && answered.length > 0 };
  } finally {
    await load.stop();
    await stack.stopAll();
    await db?.close();
    await kafka('start'); // a drill may have left it down
    await adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(DRILLS);
  for (const n of names) if (!DRILLS[n]) throw new Error(`unknown drill ${n} (known: ${Object.keys(DRILLS).join(', ')})`);
  await kafka('start');
  let failed = 0;
  for (const name of names) {
    const r = await runDrill(name, DRILLS[name] as Fault);
    console.log(
      `${r.ok ? 'ok  ' : 'FAIL'} [${r.statuses}] ${r.drill.padEnd(16)} requests ${r.requests}, answered ${r.answered}, refused ${r.refused}, recorded ${r.recorded}, missing ${r.missing}, duplicated ${r.duplicated}, ` +
        `catch-up ${r.catchUpSeconds.toFixed(1)} s, replay ${r.replayEqual ? 'equal' : 'DIFFERS'}, chain ${r.chainOk ? 'ok' : 'BROKEN'}, decisions ${r.decisionsOk ? 'ok' : 'DEVIATE'}`,
    );
    if (!r.ok) failed += 1;
  }
  await kafka('stop');
  process.exit(failed ? 1 : 0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
