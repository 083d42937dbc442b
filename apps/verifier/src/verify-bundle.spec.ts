import { createHash } from 'node:crypto';
import { inclusionProof, leafHash, rootOf } from '@custos/merkle';
import fc from 'fast-check';
import jose from 'node-jose';
import { MAX_DEPTH } from './bundle-shape.js';
import { runVerifier } from './cli.js';
import { canonical, HEADS_TYP, verifyBundle } from './verify-bundle.js';

/**
 * A small log built here (events, RFC 9162 tree, signed checkpoint, signed stream heads,
 * witness cosignatures) and exported the way `libs/log` exports, so every attack on the
 * bundle and every flag is tried without a database. The HTTP path is in
 * apps/gateway/test/log.e2e-spec.ts.
 */
type Event = { [key: string]: unknown; globalSeq: number; occurredAt: string; streamId: string; version: number; hash: string; streamPrevHash?: string; metadata: { patientId?: string } };
type Bundle = {
  format: string;
  patientId: string;
  from: string;
  to: string;
  total: number;
  checkpoint: { treeSize: number; body: string; jws: string; cosignatures: Array<{ witness: string; cosignature: string }> };
  events: Array<{ event: Event; leaf: string; inclusionProof: string[] }>;
  streams: Array<{ streamId: string; versionAtCheckpoint: number; links: Array<{ version: number; globalSeq: number; hash: string; streamPrevHash: string | null; leaf?: string; inclusionProof?: string[] }> }>;
  heads: { jws: string };
  jwks: { keys: object[] };
};

const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const newKey = () => jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
const sign = async (key: jose.JWK.Key, typ: string, payload: string, extra: Record<string, unknown> = {}) =>
  (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: key.kid, typ, ...extra } }, key).update(payload).final()) as unknown as string;

// stream, patient, day of January 2026; decisions alternate. access-p1 version 1 is before the window.
const PLAN: Array<[string, string, number]> = [
  ['access-p1', 'p1', 1],
  ['access-p2', 'p2', 2],
  ['consent-p1', 'p1', 3],
  ['access-p1', 'p1', 4],
  ['access-p1', 'p1', 5],
  ['access-p2', 'p2', 6],
  ['access-p1', 'p1', 7],
  ['consent-p1', 'p1', 8],
  ['access-p1', 'p1', 9],
];

function buildLog(plan = PLAN): Event[] {
  const heads = new Map<string, { version: number; hash: string }>();
  let prev = '0'.repeat(64);
  return plan.map(([streamId, patientId, day], globalSeq) => {
    const head = heads.get(streamId) ?? { version: 0, hash: '0'.repeat(64) };
    const unhashed = {
      eventId: `e${globalSeq}`,
      streamId,
      version: head.version + 1,
      globalSeq,
      type: streamId.startsWith('access') ? 'AccessDecided' : 'ConsentGranted',
      schemaVersion: 1,
      data: { decision: globalSeq % 2 ? 'DENY' : 'PERMIT', nested: { list: [1, 'two', null] } },
      metadata: { actor: { id: 'dr-1', roles: ['clinician'] }, correlationId: `c${globalSeq}`, patientId },
      occurredAt: new Date(Date.UTC(2026, 0, day)).toISOString(),
      prevHash: prev,
      streamPrevHash: head.hash,
    };
    const hash = sha(canonical(unhashed));
    heads.set(streamId, { version: unhashed.version, hash });
    prev = hash;
    return { ...unhashed, hash };
  });
}

interface Fixture {
  bundle: Bundle;
  jwks: object;
  logKey: jose.JWK.Key;
  witness: object;
  witnessKey: jose.JWK.Key;
  log: Event[];
  proof(globalSeq: number): string[];
}

/** Exports patient p1 from 2026-01-02 on, against a checkpoint of the whole log, like libs/log/src/export.ts. */
async function exported(options: { logKey?: jose.JWK.Key; log?: Event[]; cosign?: boolean } = {}): Promise<Fixture> {
  const logKey = options.logKey ?? (await newKey());
  const witnessKey = await newKey();
  const log = options.log ?? buildLog();
  const leaves = log.map((e) => Buffer.from(canonical(e as never), 'utf8'));
  const hashes = leaves.map((l) => leafHash(l));
  const size = log.length;
  const root = rootOf(hashes);
  const body = `test.local/log\n${size}\n${root.toString('base64')}\n`;
  const proof = (i: number) => inclusionProof(i, hashes).map((h) => h.toString('hex'));
  const from = '2026-01-02T00:00:00.000Z';
  const to = '2100-01-01T00:00:00.000Z';
  const window = log.filter((e) => e.metadata.patientId === 'p1' && e.occurredAt >= from);
  const inEvents = new Set(window.map((e) => e.globalSeq));
  const streamIds = [...new Set(window.map((e) => e.streamId))].sort();
  const streams = streamIds.map((streamId) => {
    const chain = log.filter((e) => e.streamId === streamId);
    return {
      streamId,
      versionAtCheckpoint: chain.length,
      links: chain.map((e) => ({
        version: e.version,
        globalSeq: e.globalSeq,
        hash: e.hash,
        streamPrevHash: e.streamPrevHash ?? null,
        ...(inEvents.has(e.globalSeq) ? {} : { leaf: leaves[e.globalSeq]!.toString('utf8'), inclusionProof: proof(e.globalSeq) }),
      })),
    };
  });
  const statement = {
    format: 'custos-export/2',
    patientId: 'p1',
    from,
    to,
    treeSize: size,
    root: root.toString('hex'),
    total: window.length,
    streams: streams.map((s) => ({ streamId: s.streamId, version: s.links.at(-1)!.version, globalSeq: s.links.at(-1)!.globalSeq, hash: s.links.at(-1)!.hash })),
  };
  const jwks = { keys: [logKey.toJSON(false)] };
  const bundle: Bundle = {
    format: 'custos-export/2',
    patientId: 'p1',
    from,
    to,
    total: window.length,
    checkpoint: {
      treeSize: size,
      body,
      jws: await sign(logKey, 'tlog-checkpoint+jws', body),
      cosignatures: options.cosign === false ? [] : [{ witness: 'w1', cosignature: await sign(witnessKey, 'tlog-cosignature+jws', body, { witness: 'w1' }) }],
    },
    events: window.map((e) => ({ event: e, leaf: leaves[e.globalSeq]!.toString('utf8'), inclusionProof: proof(e.globalSeq) })),
    streams,
    heads: { jws: await sign(logKey, HEADS_TYP, JSON.stringify(statement)) },
    jwks: jwks as { keys: object[] },
  };
  return { bundle, jwks, logKey, witness: { keys: [witnessKey.toJSON(false)] }, witnessKey, log, proof };
}

describe('the offline verifier: stream completeness (defect 2)', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await exported();
  });

  it('passes an honest export, every stream link proven, including links of events outside the window', async () => {
    const report = await verifyBundle(f.bundle, { jwks: f.jwks });
    expect(report).toEqual({ ok: true, treeSize: 9, events: 6, streams: 2, links: 7 });
    expect(f.bundle.streams[0]!.links[0]!.leaf).toBeDefined(); // access-p1 version 1 is before the window: proven by its own leaf
  });

  it('refuses a withheld PERMIT: dropped from events, its link given a made-up hash, the next link unchained', async () => {
    const b = structuredClone(f.bundle);
    const i = b.events.findIndex((e) => e.event.streamId === 'access-p1' && e.event.version === 3);
    expect((b.events[i]!.event.data as { decision: string }).decision).toBe('PERMIT');
    b.events.splice(i, 1);
    b.total -= 1;
    const links = b.streams.find((s) => s.streamId === 'access-p1')!.links;
    links[2]!.hash = 'ab'.repeat(32);
    links[3]!.streamPrevHash = null;
    const report = await verifyBundle(b, { jwks: f.jwks });
    expect(report.ok).toBe(false);
    expect(report.failure).toMatch(/^stream access-p1: version 3 \(global sequence 4\): not proven/);
  });

  it('refuses a link whose fields disagree with its proven event', async () => {
    const b = structuredClone(f.bundle);
    b.streams.find((s) => s.streamId === 'access-p1')!.links[4]!.streamPrevHash = null; // the event itself is chained
    expect((await verifyBundle(b, { jwks: f.jwks })).failure).toMatch(/^stream access-p1: version 5 \(global sequence 8\): the link's streamPrevHash is not its event's/);
    const c = structuredClone(f.bundle);
    c.streams.find((s) => s.streamId === 'access-p1')!.links[0]!.hash = 'cd'.repeat(32); // a link carrying its own leaf
    expect((await verifyBundle(c, { jwks: f.jwks })).failure).toMatch(/^stream access-p1: version 1 .*hash is not its event's hash/);
  });

  it('refuses a dropped tail: the stream cut short and its version at the checkpoint lowered', async () => {
    const b = structuredClone(f.bundle);
    const s = b.streams.find((x) => x.streamId === 'access-p1')!;
    const dropped = s.links.splice(3).map((l) => l.globalSeq);
    s.versionAtCheckpoint = 3;
    b.events = b.events.filter((e) => !dropped.includes(e.event.globalSeq));
    b.total = b.events.length;
    const report = await verifyBundle(b, { jwks: f.jwks });
    expect(report.failure).toMatch(/^stream access-p1: the bundle shows it up to version 3, but Custos signed its head at the checkpoint as version 5/);
  });

  it('refuses a dropped stream, a window event moved out of events, a changed window, and statement tampering', async () => {
    const noConsent = structuredClone(f.bundle);
    noConsent.streams = noConsent.streams.filter((s) => s.streamId !== 'consent-p1');
    noConsent.events = noConsent.events.filter((e) => e.event.streamId !== 'consent-p1');
    expect((await verifyBundle(noConsent, { jwks: f.jwks })).failure).toMatch(/stream consent-p1 is signed for this export but missing/);

    const moved = structuredClone(f.bundle);
    const at = moved.events.findIndex((e) => e.event.globalSeq === 7);
    const [entry] = moved.events.splice(at, 1);
    const link = moved.streams.find((s) => s.streamId === 'consent-p1')!.links[1]!;
    Object.assign(link, { leaf: entry!.leaf, inclusionProof: entry!.inclusionProof });
    expect((await verifyBundle(moved, { jwks: f.jwks })).failure).toMatch(/^stream consent-p1: version 2 \(global sequence 7\): an event of patient p1 in the window, left out of \$\.events/);

    const narrower = structuredClone(f.bundle);
    narrower.from = '2026-01-05T00:00:00.000Z';
    expect((await verifyBundle(narrower, { jwks: f.jwks })).failure).toMatch(/not the one Custos signed/);

    const forgedHeads = structuredClone(f.bundle);
    forgedHeads.heads.jws = await sign(await newKey(), HEADS_TYP, '{}');
    expect((await verifyBundle(forgedHeads, { jwks: f.jwks })).failure).toMatch(/^\$\.heads\.jws: the signed stream heads do not verify/);
  });

  it('refuses an event of another patient slipped into events', async () => {
    const b = structuredClone(f.bundle);
    const other = f.log[1]!;
    b.events.push({ event: other, leaf: canonical(other as never), inclusionProof: f.proof(1) });
    b.total += 1;
    expect((await verifyBundle(b, { jwks: f.jwks })).failure).toBe('$.events[6] (global sequence 1): not an event of patient p1');
  });
});

describe('the offline verifier: keys and witnesses (defect 3)', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await exported();
  });

  it('refuses to verify with no keys, and never takes the bundle\'s own keys unless told to', async () => {
    expect(await verifyBundle(f.bundle)).toMatchObject({ ok: false, failure: expect.stringMatching(/^no keys to verify with/) });
    // A fully forged bundle: another key signed everything, and the bundle carries that key.
    const forged = await exported({ logKey: await newKey() });
    expect((await verifyBundle(forged.bundle, { jwks: f.jwks })).failure).toMatch(/^\$\.checkpoint\.jws: its signature does not verify with these keys/);
    expect(await verifyBundle(forged.bundle, { trustBundleKeys: true })).toMatchObject({ ok: true, keysFromBundle: true });
    const out = capture();
    expect(await runVerifier([await file(forged.bundle), '--trust-bundle-keys'], out)).toBe(0);
    expect(out.err).toMatch(/^WARNING: --trust-bundle-keys/);
    expect(out.err).toMatch(/a forged bundle passes this way/);
  });

  it('with witnesses given, an unwitnessed checkpoint fails; --min-cosignatures lowers the bar; a cosignature of another body does not count', async () => {
    expect(await verifyBundle(f.bundle, { jwks: f.jwks, witnesses: [f.witness] })).toMatchObject({ ok: true, witnessed: 1 });
    const stranger = { keys: [(await newKey()).toJSON(false)] };
    expect((await verifyBundle(f.bundle, { jwks: f.jwks, witnesses: [f.witness, stranger] })).failure).toMatch(/^the checkpoint \(9\) is not witnessed: 1 of the 2 required cosignatures verify \(none from witness 2\)/);
    expect(await verifyBundle(f.bundle, { jwks: f.jwks, witnesses: [f.witness, stranger], minCosignatures: 1 })).toMatchObject({ ok: true, witnessed: 1 });
    const refused = await exported({ cosign: false, logKey: f.logKey });
    expect((await verifyBundle(refused.bundle, { jwks: f.jwks, witnesses: [refused.witness] })).failure).toMatch(/not witnessed: 0 of the 1/);
    // A cosignature the witness made over another checkpoint, copied in.
    const copied = structuredClone(refused.bundle);
    copied.checkpoint.cosignatures = [{ witness: 'w1', cosignature: await sign(refused.witnessKey, 'tlog-cosignature+jws', 'test.local/log\n3\nAAAA\n') }];
    expect((await verifyBundle(copied, { jwks: f.jwks, witnesses: [refused.witness] })).ok).toBe(false);
    // One JWK (not a set) is a witness key too.
    expect(await verifyBundle(f.bundle, { jwks: f.jwks, witnesses: [f.witnessKey.toJSON(false)] })).toMatchObject({ ok: true, witnessed: 1 });
  });

  it('the command line: --jwks, --witness (file or inline), --min-cosignatures, and exit codes', async () => {
    const bundle = await file(f.bundle);
    const jwks = await file(f.jwks);
    let out = capture();
    expect(await runVerifier([bundle, '--jwks', jwks, '--witness', JSON.stringify(f.witness), '--witness', await file({ keys: [(await newKey()).toJSON(false)] }), '--min-cosignatures', '1'], out)).toBe(0);
    expect(JSON.parse(out.out)).toMatchObject({ ok: true, witnessed: 1 });
    out = capture();
    expect(await runVerifier([bundle, '--jwks', jwks, '--witness', await file({ keys: [(await newKey()).toJSON(false)] })], out)).toBe(2);
    expect(out.err).toMatch(/^FAILED: the checkpoint \(9\) is not witnessed/);
    out = capture();
    expect(await runVerifier([bundle], out)).toBe(2);
    expect(out.err).toBe("FAILED: no keys to verify with: give the log's public keys you kept (--jwks FILE or --jwks-url URL)\n");
    out = capture();
    expect(await runVerifier([bundle, '--jwks', jwks, '--min-cosignatures', '2', '--witness', jwks], out)).toBe(1);
    expect(out.err).toMatch(/--min-cosignatures must be from 1 to the number of --witness keys given \(1\)/);
    out = capture();
    expect(await runVerifier([bundle, '--jwks', jwks, '--trust-bundle-keys'], out)).toBe(1);
    out = capture();
    expect(await runVerifier(['/nonexistent/bundle.json', '--jwks', jwks], out)).toBe(1);
  });

  it('--jwks-url and --witness URL read the keys over HTTP', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => res.end(JSON.stringify(req.url === '/witness/.well-known/jwks.json' ? f.witness : f.jwks)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as { port: number };
      const out = capture();
      expect(await runVerifier([await file(f.bundle), '--jwks-url', `http://127.0.0.1:${port}/.well-known/jwks.json`, '--witness', `http://127.0.0.1:${port}/witness/.well-known/jwks.json`], out)).toBe(0);
      expect(JSON.parse(out.out)).toMatchObject({ ok: true, witnessed: 1 });
    } finally {
      server.close();
    }
  });
});

describe('the offline verifier: malformed bundles (defect 3)', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await exported();
  });

  const deep = (n: number): unknown => {
    let v: unknown = 0;
    for (let i = 0; i < n; i++) v = [v];
    return v;
  };
  const cases: Array<[string, (b: Bundle & Record<string, unknown>) => unknown, RegExp]> = [
    ['events null', (b) => ((b as Record<string, unknown>).events = null), /^\$\.events: must be an array, not null/],
    ['an event entry a string', (b) => ((b.events as unknown[])[2] = 'x'), /^\$\.events\[2\]: must be an object/],
    ['missing event', (b) => delete (b.events[0] as Partial<Bundle['events'][0]>).event, /^\$\.events\[0\]\.event: is missing$/],
    ['globalSeq a string', (b) => ((b.events[1]!.event as Record<string, unknown>).globalSeq = '3'), /^\$\.events\[1\]\.event\.globalSeq: must be a whole number/],
    ['globalSeq huge', (b) => (b.events[1]!.event.globalSeq = 1e300), /^\$\.events\[1\]\.event\.globalSeq: must be a whole number from 0 to 9007199254740991, not 1e\+300/],
    ['treeSize past 2^53', (b) => (b.checkpoint.treeSize = 2 ** 53 + 2), /^\$\.checkpoint\.treeSize: must be a whole number/],
    ['treeSize negative', (b) => (b.checkpoint.treeSize = -1), /^\$\.checkpoint\.treeSize/],
    ['links an object', (b) => ((b.streams[0] as Record<string, unknown>).links = {}), /^\$\.streams\[0\]\.links: must be an array, not an object/],
    ['proof of numbers', (b) => ((b.events[0]!.inclusionProof as unknown[]) = [1, 2]), /^\$\.events\[0\]\.inclusionProof\[0\]: must be a SHA-256 hash/],
    ['a proof longer than any tree', (b) => (b.events[0]!.inclusionProof = Array(65).fill('00'.repeat(32))), /^\$\.events\[0\]\.inclusionProof: has 65 entries/],
    ['deep nesting in event data', (b) => ((b.events[0]!.event as Record<string, unknown>).data = deep(1000)), /^\$\.events\[0\]\.event\.data(\[0\])+: is nested deeper than 64 levels/],
    ['deep nesting in a link leaf', (b) => (b.streams[0]!.links[0]!.leaf = '['.repeat(50_000) + ']'.repeat(50_000)), /^\$\.streams\[0\]\.links\[0\]\.leaf(\[0\])*: (is nested deeper|must be an object)/],
    ['a leaf that is not JSON', (b) => (b.streams[0]!.links[0]!.leaf = '{'), /^\$\.streams\[0\]\.links\[0\]\.leaf: not JSON/],
    ['a link with a leaf and no proof', (b) => delete b.streams[0]!.links[0]!.inclusionProof, /^\$\.streams\[0\]\.links\[0\]: must carry both a leaf and an inclusion proof/],
    ['heads missing', (b) => delete (b as Partial<Bundle>).heads, /^\$\.heads: is missing$/],
    ['cosignatures null', (b) => ((b.checkpoint as Record<string, unknown>).cosignatures = null), /^\$\.checkpoint\.cosignatures: must be an array/],
    ['metadata an array', (b) => ((b.events[0]!.event as Record<string, unknown>).metadata = []), /^\$\.events\[0\]\.event\.metadata: must be an object, not an array/],
    ['format 1', (b) => (b.format = 'custos-export/1'), /^\$\.format: is "custos-export\/1": this verifier reads custos-export\/2 bundles only \(custos-export\/1 cannot prove a stream complete/],
    ['format unknown', (b) => (b.format = 'custos-export/9'), /^\$\.format: is "custos-export\/9": this verifier reads custos-export\/2 bundles only$/],
    ['the bundle an array', (b) => ({ replace: [b] }), /^\$: must be an object, not an array/],
    ['the bundle a number', () => ({ replace: Number.POSITIVE_INFINITY }), /^\$: must be an object, not Infinity/],
  ];

  it.each(cases)('%s → one FAILED line naming the path, exit 2', async (_name, edit, expected) => {
    const b = structuredClone(f.bundle) as Bundle & Record<string, unknown>;
    const r = edit(b);
    const input = r && typeof r === 'object' && 'replace' in r ? r.replace : b;
    const report = await verifyBundle(input, { jwks: f.jwks });
    expect(report.ok).toBe(false);
    expect(report.failure).toMatch(expected);
    const out = capture();
    // Through a file, as a regulator runs it (very deep nesting goes through JSON.parse too).
    expect(await runVerifier([await file(input), '--jwks', await file(f.jwks)], out)).toBe(2);
    expect(out.err.split('\n')).toEqual([expect.stringMatching(/^FAILED: \$/), '']);
  });

  it('not JSON at all → FAILED at $', async () => {
    const out = capture();
    expect(await runVerifier([await text('{"format": "custos-export/2", '), '--jwks', await file(f.jwks)], out)).toBe(2);
    expect(out.err).toMatch(/^FAILED: \$: the bundle is not JSON/);
  });

  it('generated junk, anywhere, never throws: a verdict with a path, never ok', async () => {
    expect(MAX_DEPTH).toBe(64);
    await fc.assert(
      fc.asyncProperty(fc.anything({ maxDepth: 4 }), async (junk) => {
        const report = await verifyBundle(junk, { jwks: f.jwks });
        expect(report.ok).toBe(false);
        expect(report.failure).toMatch(/^\$/);
      }),
      { numRuns: 300 },
    );
  });

  it('the export with one value replaced by junk at a random path: a verdict every time, never a throw, ok only if nothing changed', async () => {
    const paths: Array<Array<string | number>> = [];
    const walk = (v: unknown, path: Array<string | number>) => {
      paths.push(path);
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
    };
    walk(f.bundle, []);
    const junk = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(null, [], {}, '', -1, 2 ** 53, 1e308, '0'.repeat(64), '\ud800'), fc.constant(undefined));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: paths.length - 1 }), junk, async (at, value) => {
        const b = structuredClone(f.bundle) as unknown as Record<string | number, unknown>;
        const path = paths[at]!;
        let parent = b;
        for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
        const key = path.at(-1)!;
        if (value === undefined) delete parent[key];
        else parent[key] = value;
        const text = JSON.stringify(b);
        const report = await verifyBundle(JSON.parse(text), { jwks: f.jwks });
        // Only what no check reads may change and pass: the bundle's own keys (not used with --jwks) and cosignatures (no witness given).
        const unread = path[0] === 'jwks' || path[1] === 'cosignatures';
        if (!report.ok) expect(report.failure).toEqual(expect.any(String));
        else if (!unread) expect(text === JSON.stringify(f.bundle) ? 'unchanged' : `passed with ${path.join('.')} changed`).toBe('unchanged');
      }),
      { numRuns: 1000 },
    );
  });
});

// --- helpers: files for the command line, captured output ---
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const dir = mkdtempSync(join(tmpdir(), 'custos-verifier-'));
let files = 0;
async function text(content: string): Promise<string> {
  const path = join(dir, `f${files++}.json`);
  writeFileSync(path, content);
  return path;
}
function file(value: unknown): Promise<string> {
  return text(JSON.stringify(value));
}
function capture(): { out: string; err: string; stdout(t: string): void; stderr(t: string): void } {
  const o = { out: '', err: '', stdout: (t: string) => void (o.out += t), stderr: (t: string) => void (o.err += t) };
  return o;
}
