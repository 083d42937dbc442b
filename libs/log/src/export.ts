import { type Database, patientEventIndex, readEventsAt, readStreamChain, type StoredEvent } from '@custos/event-store';
import { ConflictError, NotFoundError } from '@custos/errors';
import { BUNDLE_FORMAT, type BundleLink, type BundleOf, HEADS_TYP, type HeadsStatement } from '@custos/export-format';
import type { Checkpoints } from './checkpoints.js';
import { leafInput, type LogTree } from './tree.js';

/** The format this writes; its types are in `@custos/export-format`, which the offline verifier reads with. */
export const EXPORT_FORMAT = BUNDLE_FORMAT;
export { HEADS_TYP };

/** A bundle as written: the events as stored, the JWKS, when and how it was encoded. */
export interface ExportBundle extends BundleOf<StoredEvent> {
  generatedAt: string;
  jwks: { keys: object[] };
  encoding: string;
}

export type ExportLink = BundleLink;

const MAX_EVENTS = 100_000;
const EXPORT_PAGE = 500;

/** What an export will hold, decided up front (so its size is known before the first byte). */
export interface PreparedExport {
  readonly total: number;
  readonly treeSize: number;
  /** The bundle as JSON text, a piece at a time (events and streams one by one). */
  chunks(): AsyncGenerator<string>;
}

/**
 * A patient-scoped export for a regulator, against the latest checkpoint: everything the
 * offline verifier needs, and nothing it must trust Custos for but the JWKS. Streamed: the
 * events and their proofs are read and written one at a time, so memory stays flat whatever
 * the size; the total is known before the first byte (a progress indication for the client).
 */
export async function prepareExport(
  db: Database,
  tree: LogTree,
  checkpoints: Checkpoints,
  jwks: { keys: object[] },
  request: { patientId: string; from: Date; to: Date; since?: number },
  now: Date,
  /** The checkpoint's cosignatures: only those that verify (`WitnessClient.cosignatures`). */
  cosignaturesOf: (treeSize: number) => Promise<Array<{ witness: string; cosignature: string }>>,
): Promise<PreparedExport> {
  const checkpoint = await checkpoints.latest();
  if (!checkpoint) throw new ConflictError('no checkpoint yet: try again in a moment', undefined, 'no-checkpoint');
  const size = checkpoint.treeSize;
  const rows = await patientEventIndex(db, request.patientId, request.from, request.to, size, MAX_EVENTS + 1);
  if (rows.length > MAX_EVENTS) throw new ConflictError(`more than ${MAX_EVENTS} events in the window: export a shorter one`, undefined, 'export-too-large');
  if (request.since !== undefined && (request.since < 1 || request.since > size)) throw new NotFoundError(`since must be a tree size from 1 to ${size}`, { since: request.since }, 'bad-since');
  const cosignatures = await cosignaturesOf(size);
  const streamIds = [...new Set(rows.map((r) => r.streamId))].sort();
  // The chains up front (a few numbers per link): their heads are signed before the first
  // byte, and links count against the same bound as events. Events past the checkpoint are left out.
  const chains = new Map<string, Awaited<ReturnType<typeof readStreamChain>>>();
  let linkCount = 0;
  for (const streamId of streamIds) {
    const links = (await readStreamChain(db, streamId)).filter((l) => l.globalSeq < size);
    linkCount += links.length;
    if (linkCount > MAX_EVENTS) throw new ConflictError(`the streams of this window hold more than ${MAX_EVENTS} events: export a shorter window`, undefined, 'export-too-large');
    chains.set(streamId, links);
  }
  const from = request.from.toISOString();
  const to = request.to.toISOString();
  const statement: HeadsStatement = {
    format: EXPORT_FORMAT,
    patientId: request.patientId,
    from,
    to,
    treeSize: size,
    root: Buffer.from(checkpoint.rootHash, 'base64').toString('hex'),
    total: rows.length,
    streams: streamIds.map((streamId) => {
      const head = chains.get(streamId)!.at(-1)!;
      return { streamId, version: head.version, globalSeq: head.globalSeq, hash: head.hash };
    }),
  };
  const headsJws = await checkpoints.signStatement(JSON.stringify(statement), HEADS_TYP);
  const inEvents = new Set(rows.map((r) => r.globalSeq));
  return {
    total: rows.length,
    treeSize: size,
    async *chunks() {
      const head = { format: EXPORT_FORMAT, patientId: request.patientId, from, to, generatedAt: now.toISOString(), total: rows.length };
      yield `${JSON.stringify(head).slice(0, -1)},"checkpoint":${JSON.stringify({ treeSize: size, body: checkpoint.body, jws: checkpoint.jws, cosignatures })},"events":[`;
      // A page of events per read; one inclusion proof (O(log n) nodes) per event.
      for (let page = 0; page < rows.length; page += EXPORT_PAGE) {
        const events = await readEventsAt(db, rows.slice(page, page + EXPORT_PAGE).map((r) => r.globalSeq));
        for (const [j, event] of events.entries()) {
          const entry = { event, leaf: leafInput(event).toString('utf8'), inclusionProof: (await tree.inclusion(event.globalSeq, size)).map((h) => h.toString('hex')) };
          yield `${page + j ? ',' : ''}${JSON.stringify(entry)}`;
        }
      }
      yield '],"streams":[';
      for (const [i, streamId] of streamIds.entries()) {
        const chain = chains.get(streamId)!;
        yield `${i ? ',' : ''}{"streamId":${JSON.stringify(streamId)},"versionAtCheckpoint":${chain.at(-1)?.version ?? 0},"links":[`;
        // Each link proven: the events not already in `events` with their leaf and inclusion proof, a page per read.
        for (let page = 0; page < chain.length; page += EXPORT_PAGE) {
          const slice = chain.slice(page, page + EXPORT_PAGE);
          const events = new Map((await readEventsAt(db, slice.filter((l) => !inEvents.has(l.globalSeq)).map((l) => l.globalSeq))).map((e) => [e.globalSeq, e]));
          for (const [j, l] of slice.entries()) {
            const event = events.get(l.globalSeq);
            const link: ExportLink = event ? { ...l, leaf: leafInput(event).toString('utf8'), inclusionProof: (await tree.inclusion(l.globalSeq, size)).map((h) => h.toString('hex')) } : l;
            yield `${page + j ? ',' : ''}${JSON.stringify(link)}`;
          }
        }
        yield ']}';
      }
      yield `],"heads":${JSON.stringify({ jws: headsJws })}`;
      if (request.since !== undefined) {
        const consistency = { fromSize: request.since, fromRoot: (await tree.root(request.since)).toString('hex'), proof: (await tree.consistency(request.since, size)).map((h) => h.toString('hex')) };
        yield `,"consistency":${JSON.stringify(consistency)}`;
      }
      yield `,"jwks":${JSON.stringify(jwks)},"encoding":${JSON.stringify(ENCODING)}}`;
    },
  };
}

const ENCODING = 'hashes hex; leaf = the stored event as canonical JSON (RFC 8785 key order); RFC 9162 section 2.1 tree; checkpoint = C2SP tlog-checkpoint note body in a compact JWS (ES256)';

/** The whole bundle in memory (tests, the bench): the streamed text, parsed; without witnesses configured, no cosignatures. */
export async function exportBundle(
  db: Database,
  tree: LogTree,
  checkpoints: Checkpoints,
  jwks: { keys: object[] },
  request: { patientId: string; from: Date; to: Date; since?: number },
  now: Date,
  cosignaturesOf: (treeSize: number) => Promise<Array<{ witness: string; cosignature: string }>> = () => Promise.resolve([]),
): Promise<ExportBundle> {
  const prepared = await prepareExport(db, tree, checkpoints, jwks, request, now, cosignaturesOf);
  let text = '';
  for await (const chunk of prepared.chunks()) text += chunk;
  return JSON.parse(text) as ExportBundle;
}
