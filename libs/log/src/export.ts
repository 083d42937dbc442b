import { type Database, readLog, type StoredEvent } from '@custos/event-store';
import { ConflictError, NotFoundError } from '@custos/errors';
import type { Checkpoints } from './checkpoints.js';
import { leafInput, type LogTree } from './tree.js';

export const EXPORT_FORMAT = 'custos-export/1';

export interface ExportBundle {
  format: typeof EXPORT_FORMAT;
  patientId: string;
  from: string;
  to: string;
  generatedAt: string;
  /** The checkpoint every proof is against. */
  checkpoint: { treeSize: number; body: string; jws: string; cosignatures: Array<{ witness: string; cosignature: string }> };
  /** The patient's events in the window (as stored: personal parts stay sealed), each with its leaf and inclusion proof (hex). */
  events: Array<{ event: StoredEvent; leaf: string; inclusionProof: string[] }>;
  /** Every stream the events belong to, whole up to the checkpoint: (version, global sequence, hash, stream link) per event. */
  streams: Array<{ streamId: string; versionAtCheckpoint: number; links: Array<{ version: number; globalSeq: number; hash: string; streamPrevHash: string | null }> }>;
  /** With `since`: the proof that this checkpoint's tree extends the one of that size (hex). */
  consistency?: { fromSize: number; fromRoot: string; proof: string[] };
  jwks: { keys: object[] };
  encoding: string;
}

const MAX_EVENTS = 100_000;

/**
 * A patient-scoped export for a regulator, against the latest checkpoint: everything the
 * offline verifier needs, and nothing it must trust Custos for but the JWKS.
 */
export async function exportBundle(
  db: Database,
  tree: LogTree,
  checkpoints: Checkpoints,
  jwks: { keys: object[] },
  request: { patientId: string; from: Date; to: Date; since?: number },
  now: Date,
): Promise<ExportBundle> {
  const checkpoint = await checkpoints.latest();
  if (!checkpoint) throw new ConflictError('no checkpoint yet: try again in a moment', undefined, 'no-checkpoint');
  const size = checkpoint.treeSize;
  const rows = await db.query<{ global_seq: string | number }>(
    "SELECT global_seq FROM custos_events WHERE metadata->>'patientId' = $1 AND occurred_at >= $2 AND occurred_at < $3 AND global_seq < $4 ORDER BY global_seq LIMIT $5",
    [request.patientId, request.from, request.to, size, MAX_EVENTS + 1],
  );
  if (rows.length > MAX_EVENTS) throw new ConflictError(`more than ${MAX_EVENTS} events in the window: export a shorter one`, undefined, 'export-too-large');
  const events: ExportBundle['events'] = [];
  for (const r of rows) {
    const [event] = await readLog(db, Number(r.global_seq), Number(r.global_seq), 1);
    if (!event) continue;
    events.push({ event, leaf: leafInput(event).toString('utf8'), inclusionProof: (await tree.inclusion(event.globalSeq, size)).map((h) => h.toString('hex')) });
  }
  const streamIds = [...new Set(events.map((e) => e.event.streamId))].sort();
  const streams: ExportBundle['streams'] = [];
  for (const streamId of streamIds) {
    const links = await db.query<{ version: number; global_seq: string | number; hash: string; stream_prev_hash: string | null }>(
      'SELECT version, global_seq, hash, stream_prev_hash FROM custos_events WHERE stream_id = $1 AND global_seq < $2 ORDER BY version',
      [streamId, size],
    );
    streams.push({ streamId, versionAtCheckpoint: links.length ? Number(links[links.length - 1]?.version) : 0, links: links.map((l) => ({ version: Number(l.version), globalSeq: Number(l.global_seq), hash: l.hash, streamPrevHash: l.stream_prev_hash })) });
  }
  let consistency: ExportBundle['consistency'];
  if (request.since !== undefined) {
    if (request.since < 1 || request.since > size) throw new NotFoundError(`since must be a tree size from 1 to ${size}`, { since: request.since }, 'bad-since');
    consistency = { fromSize: request.since, fromRoot: (await tree.root(request.since)).toString('hex'), proof: (await tree.consistency(request.since, size)).map((h) => h.toString('hex')) };
  }
  return {
    format: EXPORT_FORMAT,
    patientId: request.patientId,
    from: request.from.toISOString(),
    to: request.to.toISOString(),
    generatedAt: now.toISOString(),
    checkpoint: {
      treeSize: size,
      body: checkpoint.body,
      jws: checkpoint.jws,
      cosignatures: await db.query<{ witness: string; cosignature: string }>('SELECT witness, cosignature FROM custos_log_cosignatures WHERE tree_size = $1 ORDER BY witness_url', [size]),
    },
    events,
    streams,
    ...(consistency ? { consistency } : {}),
    jwks,
    encoding: 'hashes hex; leaf = the stored event as canonical JSON (RFC 8785 key order); RFC 9162 section 2.1 tree; checkpoint = C2SP tlog-checkpoint note body in a compact JWS (ES256)',
  };
}
