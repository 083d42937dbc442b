import type { Database } from './database.js';
import { COLUMNS, type EventRow, toStoredEvent } from './event-store.js';
import { GENESIS_HASH, hashEvent } from './hash-chain.js';

export type ChainBreak =
  | 'missing-event' //        a position has no event (deleted row, or rows shifted)
  | 'prev-hash-mismatch' //   the event does not link to the one before it
  | 'hash-mismatch' //        the event's content no longer matches its hash
  | 'stream-link-mismatch' // the event does not link to the previous event of its stream
  | 'head-mismatch'; //       the log ends before or after the chain head, or at another hash

export interface VerifyReport {
  readonly ok: boolean;
  /** Events checked before the first break (or all of them). */
  readonly checked: number;
  readonly lastSeq: number;
  readonly firstBrokenSeq?: number;
  readonly reason?: ChainBreak;
}

/**
 * Re-walks the hash chain from the genesis and names the first broken global sequence. Reads
 * in pages by key so a long log streams through in constant memory.
 */
export async function verifyChain(
  db: Database,
  options: { pageSize?: number; onProgress?: (checked: number, total: number) => void } = {},
): Promise<VerifyReport> {
  const pageSize = options.pageSize ?? 5000;
  const [head] = await db.query<{ last_seq: number | string; last_hash: string }>('SELECT last_seq, last_hash FROM custos_chain_head WHERE id = 1');
  const [count] = await db.query<{ n: number | string; max: number | string | null }>('SELECT count(*) AS n, max(global_seq) AS max FROM custos_events');
  const headSeq = Number(head?.last_seq ?? -1);
  const total = Math.max(Number(count?.n ?? 0), headSeq + 1);

  let expected = 0;
  let prevHash = GENESIS_HASH;
  // Each stream's last hash: a stream link must point at it (streams from before links skip).
  const streamHeads = new Map<string, string>();
  let after = -1;
  for (;;) {
    const rows = await db.query<EventRow>(`SELECT ${COLUMNS} FROM custos_events WHERE global_seq > $1 ORDER BY global_seq LIMIT $2`, [after, pageSize]);
    if (rows.length === 0) break;
    for (const row of rows) {
      const event = toStoredEvent(row);
      const broken = (reason: ChainBreak, seq: number): VerifyReport => ({ ok: false, checked: expected, lastSeq: headSeq, firstBrokenSeq: seq, reason });
      if (event.globalSeq !== expected) return broken('missing-event', expected);
      if (event.prevHash !== prevHash) return broken('prev-hash-mismatch', expected);
      const { hash, ...unhashed } = event;
      if (hashEvent(unhashed) !== hash) return broken('hash-mismatch', expected);
      if (event.streamPrevHash !== undefined && event.streamPrevHash !== (streamHeads.get(event.streamId) ?? (event.version === 1 ? GENESIS_HASH : undefined))) {
        return broken('stream-link-mismatch', expected);
      }
      streamHeads.set(event.streamId, hash);
      prevHash = hash;
      expected += 1;
    }
    after = Number((rows[rows.length - 1] as EventRow).global_seq);
    options.onProgress?.(expected, total);
  }
  if (expected - 1 !== headSeq || prevHash !== (head?.last_hash ?? GENESIS_HASH)) {
    return { ok: false, checked: expected, lastSeq: headSeq, firstBrokenSeq: Math.min(expected, headSeq + 1), reason: 'head-mismatch' };
  }
  options.onProgress?.(expected, total);
  return { ok: true, checked: expected, lastSeq: headSeq };
}
