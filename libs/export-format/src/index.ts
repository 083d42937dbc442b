/**
 * The wire format of a regulator's export, `custos-export/2`, written once: `libs/log` writes
 * it, the offline verifier (`apps/verifier`) reads it. Types and constants only (pure: no
 * framework, no I/O), so the verifier can take them without reaching any service code. The
 * event type is a parameter: the exporter writes stored events, the verifier reads plain JSON.
 */
export const BUNDLE_FORMAT = 'custos-export/2';
/** The `typ` of the statement of stream heads an export carries, signed with the checkpoints key. */
export const HEADS_TYP = 'custos-export-heads+jws';

/** One link of a stream's chain: its event's leaf and inclusion proof, unless the event is in `events`. */
export interface BundleLink {
  version: number;
  globalSeq: number;
  hash: string;
  streamPrevHash: string | null;
  leaf?: string;
  inclusionProof?: string[];
}

export interface BundleCheckpoint {
  treeSize: number;
  /** The C2SP tlog-checkpoint note body. */
  body: string;
  /** The body in a compact JWS (typ tlog-checkpoint+jws, ES256). */
  jws: string;
  /** Witnesses' cosignatures of the body (typ tlog-cosignature+jws). */
  cosignatures: Array<{ witness: string; cosignature: string }>;
}

/** What Custos signs about an export: its checkpoint, its window, how many events, and each stream's head at the checkpoint. */
export interface HeadsStatement {
  format: string;
  patientId: string;
  from: string;
  to: string;
  treeSize: number;
  /** The checkpoint's root hash, hex. */
  root: string;
  total: number;
  streams: Array<{ streamId: string; version: number; globalSeq: number; hash: string }>;
}

/** A bundle whose events are of type `Event` (as stored when written; JSON when read back). */
export interface BundleOf<Event> {
  format: typeof BUNDLE_FORMAT;
  patientId: string;
  from: string;
  to: string;
  /** How many events follow (known before the first byte of a streamed export). */
  total: number;
  /** The checkpoint every proof is against. */
  checkpoint: BundleCheckpoint;
  /** The patient's events in the window (personal parts sealed), each with its leaf and inclusion proof (hex). */
  events: Array<{ event: Event; leaf: string; inclusionProof: string[] }>;
  /** Every stream the events belong to, whole up to the checkpoint, each link proven. */
  streams: Array<{ streamId: string; versionAtCheckpoint: number; links: BundleLink[] }>;
  /** The HeadsStatement as a compact JWS (HEADS_TYP): what makes a dropped tail or stream visible. */
  heads: { jws: string };
  /** With `since`: the proof that this checkpoint's tree extends the one of that size (hex). */
  consistency?: { fromSize: number; fromRoot: string; proof: string[] };
}
