import { type Database, GENESIS_HASH, hashEvent, readLog } from '@custos/event-store';

/**
 * The careful attacker of the verifiable-log issue, for tests: with the database superuser,
 * triggers off, change one stored event's data, then recompute every later hash, every stream
 * link and the chain head, so `custos verify` (the chain alone) still passes.
 */
export async function rewriteAndRehash(db: Database, globalSeq: number, mutate: (data: Record<string, unknown>) => unknown): Promise<void> {
  await db.transaction(async (sql) => {
    await sql.execute('ALTER TABLE custos_events DISABLE TRIGGER USER');
    const before = globalSeq > 0 ? await readLog(sql, 0, globalSeq - 1, 10_000_000) : [];
    const streamHeads = new Map<string, string>();
    for (const e of before) streamHeads.set(e.streamId, e.hash);
    const events = await readLog(sql, globalSeq, Number.MAX_SAFE_INTEGER, 10_000_000);
    let prevHash = events[0]!.prevHash;
    for (const e of events) {
      const data = e.globalSeq === globalSeq ? mutate(e.data as Record<string, unknown>) : e.data;
      const streamPrevHash = e.streamPrevHash === undefined ? undefined : (streamHeads.get(e.streamId) ?? GENESIS_HASH);
      const hash = hashEvent({ ...e, data, prevHash, ...(streamPrevHash !== undefined ? { streamPrevHash } : {}) });
      await sql.execute('UPDATE custos_events SET data = $1, prev_hash = $2, hash = $3, stream_prev_hash = $4 WHERE global_seq = $5', [JSON.stringify(data), prevHash, hash, streamPrevHash ?? null, e.globalSeq]);
      streamHeads.set(e.streamId, hash);
      prevHash = hash;
    }
    await sql.execute('UPDATE custos_chain_head SET last_hash = $1 WHERE id = 1', [prevHash]);
    await sql.execute('ALTER TABLE custos_events ENABLE TRIGGER USER');
  });
}
