import { createHash } from 'node:crypto';
import { canonicalJson, type Json } from './canonical-json.js';
import type { StoredEvent } from './envelope.js';

/** prevHash of the first event (global sequence 0). */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * hash = SHA-256 over the canonical JSON of the stored event, prevHash included and the hash
 * itself excluded. Taken over what is stored (ciphertext included), so crypto-shredding a
 * patient's key never breaks the chain.
 */
export function hashEvent(event: Omit<StoredEvent, 'hash'>): string {
  return hashCanonical(event, canonicalJson(event.data as Json), canonicalJson(event.metadata as unknown as Json));
}

/**
 * The same hash, given the canonical JSON of data and metadata already made (the store makes
 * them before it takes the chain-head lock). Keys in RFC 8785 order: data, eventId, globalSeq,
 * metadata, occurredAt, prevHash, schemaVersion, streamId, streamPrevHash (when present: events
 * from before stream chains hash as they always did), type, version.
 */
export function hashCanonical(event: Omit<StoredEvent, 'hash' | 'data' | 'metadata'>, canonicalData: string, canonicalMetadata: string): string {
  const text =
    `{"data":${canonicalData},"eventId":${JSON.stringify(event.eventId)},"globalSeq":${event.globalSeq},` +
    `"metadata":${canonicalMetadata},"occurredAt":${JSON.stringify(event.occurredAt)},"prevHash":${JSON.stringify(event.prevHash)},` +
    `"schemaVersion":${event.schemaVersion},"streamId":${JSON.stringify(event.streamId)},` +
    (event.streamPrevHash !== undefined ? `"streamPrevHash":${JSON.stringify(event.streamPrevHash)},` : '') +
    `"type":${JSON.stringify(event.type)},"version":${event.version}}`;
  return createHash('sha256').update(text).digest('hex');
}
