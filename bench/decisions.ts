/**
 * Decisions per second over HTTP (POST /v1/access-requests), with p50/p99 latency, for the
 * embedded and the distributed mode. The gateway (and in distributed mode the relay and the
 * projector) run as their own processes, as in production; autocannon drives them.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';

const ROOT = resolve(import.meta.dirname, '../..');

export interface DecisionFigures {
  mode: string;
  decisionsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

function start(app: string, env: Record<string, string>): ChildProcess {
  const nodeArgs = app === 'gateway' && process.env.BENCH_GATEWAY_NODE_ARGS ? process.env.BENCH_GATEWAY_NODE_ARGS.split(' ') : [];
  return spawn(process.execPath, [...nodeArgs, join(ROOT, `dist/apps/${app}/src/main.js`)], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
}

async function waitHealthy(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 150));
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

export async function benchDecisions(mode: 'embedded' | 'distributed', env: Record<string, string>, seconds = 10): Promise<DecisionFigures> {
  const port = mode === 'embedded' ? 3901 : 3911;
  const procs: ChildProcess[] = [];
  try {
    const common = { ...env, PORT: String(port), AUTH_DEV_ISSUER: 'true' };
    procs.push(start('gateway', common));
    if (mode === 'distributed') {
      procs.push(start('relay', { ...env, PORT: String(port + 1) }));
      procs.push(start('projector', { ...env, PORT: String(port + 2) }));
    }
    await waitHealthy(port);
    const steward = (await post(port, '/v1/dev/tokens', { sub: 'bench-steward', roles: ['data-steward'] })).token as string;
    const clinician = (await post(port, '/v1/dev/tokens', { sub: 'bench-dr', roles: ['clinician'] })).token as string;
    for (let i = 0; i < 50; i++) {
      await post(port, '/v1/images', { imageId: `bench-img-${i}`, patientId: `bench-p${i}`, modality: 'CT', bodySite: 'chest', datasetId: 'bench', demographics: { sex: 'F', birthYear: 1970, ethnicity: 'x' } }, steward);
    }
    const requests = Array.from({ length: 50 }, (_, i) => ({
      method: 'POST' as const,
      path: '/v1/access-requests',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${clinician}` },
      body: JSON.stringify({ resourceType: 'image', resourceId: `bench-img-${i}`, action: 'view', purpose: i % 10 === 0 ? 'RESEARCH' : 'TREATMENT' }),
    }));
    // warm-up, then the measured run
    await autocannon({ url: `http://127.0.0.1:${port}`, connections: 32, duration: 2, requests });
    const result = await autocannon({ url: `http://127.0.0.1:${port}`, connections: 32, duration: seconds, requests });
    return { mode, decisionsPerSecond: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx };
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
  }
}

export function tempDataDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'custos-bench-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
