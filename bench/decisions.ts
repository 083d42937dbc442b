/**
 * Decisions per second over HTTP, Custos beside the raw baseline (bench/baseline-server.ts),
 * driven by the same load generator (autocannon), settings and body, at several concurrency
 * levels. Every server runs as its own process(es), as in production; CPU is read from /proc
 * for the server and for every PostgreSQL process, before and after each measured run.
 *
 *   baseline            node:http + group commit to PostgreSQL + Kafka publish after commit
 *   baseline-no-kafka   the same without Kafka
 *   baseline-pglite     the same on PGlite, in process (what embedded mode compares with)
 *   embedded            the Custos gateway on PGlite (its sentinel inside, as always)
 *   distributed         gateway + relay + projector + sentinel + Kafka + PostgreSQL
 *   gateway-only        the distributed gateway with relay, projector and sentinel stopped
 *
 * Custos's load comes from 51 clinicians: half the requests from one busy actor (a
 * pipeline's service account), half spread over 50 others, so the sentinel's windows see
 * both. During the highest level, snoopers each read 30 patients and the time from the
 * answer to the 30th read to the incident showing in `GET /v1/incidents?actor=` is measured
 * (event to detection, while the gateway takes its full load).
 */
import { randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';

const ROOT = resolve(import.meta.dirname, '../..');
/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** One key-encryption key per bench run (the gateway's data keys are wrapped under it). */
const BENCH_KEK = randomBytes(32).toString('base64url');

/**
 * `embedded-sealed`: embedded mode where every decision carries a personal field (a
 * break-the-glass reason, sealed under the patient's data key on append): the cost of
 * encryption at its worst, beside `embedded`, where decisions have none (the usual case).
 */
export type ServerKind = 'baseline' | 'baseline-no-kafka' | 'baseline-pglite' | 'embedded' | 'embedded-sealed' | 'distributed' | 'gateway-only';

export interface DecisionRun {
  readonly server: ServerKind;
  readonly connections: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** CPU of the process that answers (the gateway, or the baseline) per decision answered. */
  readonly serverCpuMsPerDecision: number;
  /** CPU of every Custos process (gateway, relay, projector) per decision; = server for the others. */
  readonly allProcessesCpuMsPerDecision: number;
  /** CPU of every PostgreSQL process per decision (0 on PGlite, which runs inside the server). */
  readonly pgCpuMsPerDecision: number;
  readonly errors: number;
  /** Answers other than 200 and 403 (both are decisions). */
  readonly unexpected: number;
  /** Event to detection during this run (the highest level only): answer to the case's last read → incident listed. */
  readonly detection?: { readonly cases: number; readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number };
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime
  } catch {
    return 0;
  }
}

/** CPU ticks of every PostgreSQL process (server, backends, background workers). */
function postgresTicks(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') total += cpuTicks(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return total;
}

function start(script: string, env: Record<string, string>): ChildProcess {
  const nodeArgs = script.includes('gateway') && process.env.BENCH_GATEWAY_NODE_ARGS ? process.env.BENCH_GATEWAY_NODE_ARGS.split(' ') : [];
  return spawn(process.execPath, [...nodeArgs, join(ROOT, script)], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
}

async function waitHealthy(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`process on :${port} did not become healthy`);
}

async function post(port: number, path: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

export interface ServerEnv {
  /** A fresh PostgreSQL database URL for this server. */
  readonly databaseUrl: string;
  readonly brokers: string;
  readonly topicPrefix: string;
  readonly dataDir: string;
}

const IMAGES = 50;
const body = (i: number, sealed: boolean) =>
  JSON.stringify(
    sealed
      ? { resourceType: 'image', resourceId: `bench-img-${i}`, action: 'view', purpose: 'TREATMENT', emergency: { reason: 'bench: patient unconscious, imaging needed now' } }
      : { resourceType: 'image', resourceId: `bench-img-${i}`, action: 'view', purpose: i % 10 === 0 ? 'RESEARCH' : 'TREATMENT' },
  );

/** Starts one server kind, runs the load at each concurrency level, stops it. */
export async function benchServer(server: ServerKind, env: ServerEnv, levels: readonly number[], seconds: number): Promise<DecisionRun[]> {
  const port = 3960;
  const procs: ChildProcess[] = [];
  const runs: DecisionRun[] = [];
  try {
    let token: string;
    const tokens: string[] = [];
    let officer: string | undefined;
    if (server.startsWith('baseline')) {
      token = 'bench-clinician-token';
      const db = server === 'baseline-pglite' ? `pglite:${env.dataDir}` : env.databaseUrl;
      procs.push(start('dist/bench/baseline-server.js', { PORT: String(port), BASELINE_DB: db, BASELINE_TOKENS: JSON.stringify({ [token]: ['clinician'] }), ...(server === 'baseline' ? { KAFKA_BROKERS: env.brokers, BASELINE_TOPIC: `${env.topicPrefix}baseline` } : {}) }));
      await waitHealthy(port);
    } else {
      const custos: Record<string, string> = server.startsWith('embedded') ? { DATA_DIR: env.dataDir } : { DATABASE_URL: env.databaseUrl, KEK: BENCH_KEK, KAFKA_BROKERS: env.brokers, KAFKA_TOPIC_PREFIX: env.topicPrefix, PROJECTOR_GROUP_ID: `${env.topicPrefix}projector` };
      procs.push(start('dist/apps/gateway/src/main.js', { ...custos, PORT: String(port), AUTH_DEV_ISSUER: 'true' }));
      if (server === 'distributed') {
        procs.push(start('dist/apps/relay/src/main.js', { ...custos, PORT: String(port + 1) }));
        procs.push(start('dist/apps/projector/src/main.js', { ...custos, PORT: String(port + 2) }));
        procs.push(start('dist/apps/sentinel/src/main.js', { ...custos, PORT: String(port + 3), SENTINEL_GROUP_ID: `${env.topicPrefix}sentinel` }));
      }
      await waitHealthy(port);
      const steward = (await post(port, '/v1/dev/tokens', { sub: 'bench-steward', roles: ['data-steward'] })).token as string;
      token = (await post(port, '/v1/dev/tokens', { sub: 'bench-dr', roles: ['clinician'] })).token as string;
      for (let k = 0; k < ACTORS; k++) tokens.push((await post(port, '/v1/dev/tokens', { sub: `bench-dr-${k}`, roles: ['clinician'] })).token as string);
      officer = (await post(port, '/v1/dev/tokens', { sub: 'bench-officer', roles: ['security-officer'] })).token as string;
      for (let i = 0; i < IMAGES; i++) {
        await post(port, '/v1/images', { imageId: `bench-img-${i}`, patientId: `bench-p${i}`, modality: 'CT', bodySite: 'chest', datasetId: 'bench', demographics: { sex: 'F', birthYear: 1970, ethnicity: 'x' } }, steward);
        if (server === 'embedded-sealed') {
          // TREATMENT denied by the patient: every decision is a break-the-glass with its reason sealed.
          const patient = (await post(port, '/v1/dev/tokens', { sub: `bench-pat-${i}`, roles: ['patient'], patient_id: `bench-p${i}` })).token as string;
          await fetch(`http://127.0.0.1:${port}/v1/patients/bench-p${i}/consents/TREATMENT`, { method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${patient}` }, body: JSON.stringify({ status: 'denied' }) });
        }
      }
    }
    // Custos: every other request by the busy actor (bench-dr), the rest by the 50 others in turn.
    const requests = Array.from({ length: tokens.length > 0 ? 2 * ACTORS : IMAGES }, (_, j) => ({
      method: 'POST' as const,
      path: server.startsWith('baseline') ? '/decisions' : '/v1/access-requests',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${j % 2 === 1 && tokens.length > 0 ? tokens[(j >> 1) % tokens.length] : token}` },
      body: body(tokens.length > 0 ? (j * 7) % IMAGES : j, server === 'embedded-sealed'),
    }));
    for (const connections of levels) {
      await autocannon({ url: `http://127.0.0.1:${port}`, connections, duration: 1, requests }); // warm-up
      const serverBefore = cpuTicks(procs[0]!.pid!);
      const allBefore = procs.reduce((s, p) => s + cpuTicks(p.pid!), 0);
      const pgBefore = postgresTicks();
      const probe = officer && connections === Math.max(...levels) ? snoopers(port, officer, connections, seconds) : undefined;
      const result = await autocannon({ url: `http://127.0.0.1:${port}`, connections, duration: seconds, requests });
      const answered = result['2xx'] + result.non2xx;
      const decisions = Math.max(1, answered - countUnexpected(result));
      const ms = (ticks: number) => (ticks * 1000) / TICKS_PER_SECOND / decisions;
      runs.push({
        server,
        connections,
        perSecond: decisions / seconds,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        p999Ms: (result.latency as unknown as Record<string, number>).p99_9 ?? result.latency.p99,
        serverCpuMsPerDecision: ms(cpuTicks(procs[0]!.pid!) - serverBefore),
        allProcessesCpuMsPerDecision: ms(procs.reduce((s, p) => s + cpuTicks(p.pid!), 0) - allBefore),
        pgCpuMsPerDecision: ms(postgresTicks() - pgBefore),
        errors: result.errors,
        unexpected: countUnexpected(result),
        ...(probe ? { detection: await probe.stop() } : {}),
      });
    }
    return runs;
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
  }
}

const ACTORS = 50;

/**
 * Snoopers while the load runs: each a new clinician reading 30 patients (30 of the bench's
 * images) one after another; from the answer to the 30th read, the security officer's
 * incident list is polled every 10 ms until the snooper's incident shows.
 */
function snoopers(port: number, officer: string, level: number, seconds: number): { stop: () => Promise<{ cases: number; p50Ms: number; p99Ms: number; maxMs: number }> } {
  const latencies: number[] = [];
  const until = Date.now() + seconds * 1000;
  const call = (path: string, token: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${port}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  const run = (async () => {
    await new Promise((r) => setTimeout(r, 500)); // into the measured run
    for (let k = 0; Date.now() < until; k++) {
      const sub = `bench-snoop-${level}-${k}-${Date.now().toString(36)}`;
      const token = (await post(port, '/v1/dev/tokens', { sub, roles: ['clinician'] })).token as string;
      for (let i = 0; i < 30; i++) await (await call('/v1/access-requests', token, { method: 'POST', body: body(i, false).replace('RESEARCH', 'TREATMENT') })).arrayBuffer();
      const t0 = performance.now();
      for (;;) {
        const page = (await (await call(`/v1/incidents?actor=${encodeURIComponent(sub)}`, officer)).json()) as { items?: unknown[] };
        if ((page.items ?? []).length > 0) break;
        if (performance.now() - t0 > 60_000) throw new Error(`no incident for ${sub} within 60 s`);
        await new Promise((r) => setTimeout(r, 10));
      }
      latencies.push(performance.now() - t0);
    }
  })();
  return {
    stop: async () => {
      await run;
      latencies.sort((a, b) => a - b);
      const q = (f: number) => latencies[Math.min(latencies.length - 1, Math.floor(f * latencies.length))] ?? Number.NaN;
      return { cases: latencies.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: latencies.at(-1) ?? Number.NaN };
    },
  };
}

/** 4xx other than 403 and every 5xx: answers that are not decisions. */
function countUnexpected(result: autocannon.Result): number {
  return result['4xx'] - ((result.statusCodeStats as Record<string, { count: number }> | undefined)?.['403']?.count ?? 0) + result['5xx'];
}

export function tempDataDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'custos-bench-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Throughput (x) against p99 (y, log scale) per server, one point per concurrency level. */
export function plotSvg(runs: readonly DecisionRun[], title: string): string {
  const W = 760;
  const H = 460;
  const m = { l: 70, r: 190, t: 40, b: 50 };
  const maxX = Math.max(...runs.map((r) => r.perSecond)) * 1.08;
  const ys = runs.map((r) => Math.max(r.p99Ms, 0.5));
  const minY = Math.min(...ys) / 1.5;
  const maxY = Math.max(...ys) * 1.5;
  const x = (v: number) => m.l + (v / maxX) * (W - m.l - m.r);
  const y = (v: number) => H - m.b - ((Math.log10(Math.max(v, 0.5)) - Math.log10(minY)) / (Math.log10(maxY) - Math.log10(minY))) * (H - m.t - m.b);
  const colors: Record<string, string> = { baseline: '#1b9e77', 'baseline-no-kafka': '#66a61e', 'baseline-pglite': '#a6761d', embedded: '#d95f02', distributed: '#7570b3', 'gateway-only': '#e7298a' };
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/><text x="${m.l}" y="24" font-size="14">${escape(title)}</text>`);
  parts.push(`<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/><line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`);
  for (let i = 0; i <= 5; i++) {
    const v = (maxX / 5) * i;
    parts.push(`<text x="${x(v)}" y="${H - m.b + 16}" text-anchor="middle">${v.toFixed(0)}</text>`);
  }
  for (let e = Math.floor(Math.log10(minY)); e <= Math.ceil(Math.log10(maxY)); e++) {
    const v = 10 ** e;
    if (v < minY || v > maxY) continue;
    parts.push(`<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${v} ms</text><line x1="${m.l}" y1="${y(v)}" x2="${W - m.r}" y2="${y(v)}" stroke="#ddd"/>`);
  }
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">decisions/s</text><text x="16" y="${(m.t + H - m.b) / 2}" transform="rotate(-90 16 ${(m.t + H - m.b) / 2})" text-anchor="middle">p99 latency (log)</text>`);
  const servers = [...new Set(runs.map((r) => r.server))];
  servers.forEach((s, i) => {
    const pts = runs.filter((r) => r.server === s).sort((a, b) => a.connections - b.connections);
    const color = colors[s] ?? 'black';
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${x(p.perSecond).toFixed(1)},${y(p.p99Ms).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) parts.push(`<circle cx="${x(p.perSecond).toFixed(1)}" cy="${y(p.p99Ms).toFixed(1)}" r="3.5" fill="${color}"><title>${s}, ${p.connections} connections: ${p.perSecond.toFixed(0)}/s, p99 ${p.p99Ms} ms</title></circle><text x="${(x(p.perSecond) + 5).toFixed(1)}" y="${(y(p.p99Ms) - 5).toFixed(1)}" font-size="9" fill="${color}">${p.connections}</text>`);
    parts.push(`<rect x="${W - m.r + 15}" y="${m.t + i * 20}" width="12" height="12" fill="${color}"/><text x="${W - m.r + 32}" y="${m.t + i * 20 + 10}">${s}</text>`);
  });
  parts.push(`<text x="${W - m.r + 15}" y="${m.t + servers.length * 20 + 16}" font-size="10">labels: connections</text></svg>`);
  return parts.join('\n');
}

function escape(text: string): string {
  return text.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c] as string);
}
