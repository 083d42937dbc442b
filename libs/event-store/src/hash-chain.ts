import { createHash } from 'node:crypto';
import { canonicalJson, Json } from './canonical-json.js';
import type { StoredEvent } from './envelope.js';

/** prevHash of the first event (global sequence 0). */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * hash = SHA-256 over the canonical JSON of the stored event, prevHash included and the hash
 * itself excluded. Taken over what is stored (ciphertext included), so crypto-shredding a
 * patient's key never breaks the chain.
 */
export function hashEvent(event: Omit<StoredEvent, 'hash'>): string {
  const body: Json = {
    globalSeq: event.globalSeq,
    eventId: event.eventId,
    streamId: event.streamId,
    version: event.version,
    type: event.type,
    schemaVersion: event.schemaVersion,
    data: event.data as Json,
    metadata: event.metadata as unknown as Json,
    occurredAt: event.occurredAt,
    prevHash: event.prevHash,
  };
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}
