import type { Sql, StoredEvent } from '@custos/event-store';
import type { Projection } from './projection.js';

/**
 * The foundation's read models: every stream with its version, size and latest event, and
 * the count of events per type. Both are order-independent (GREATEST/LEAST and sums), so live
 * projection through partitioned Kafka and a replay in log order agree exactly.
 */
export class StreamCatalogueProjection implements Projection {
  readonly name = 'stream-catalogue';
  readonly tables = ['custos_rm_streams', 'custos_rm_event_types'];

  apply(sql: Sql, e: StoredEvent): Promise<void> {
    return this.applyBatch(sql, [e]);
  }

  /** One upsert per table for the whole batch, the events summed per stream and per type first. */
  async applyBatch(sql: Sql, events: readonly StoredEvent[]): Promise<void> {
    const streams = new Map<string, { version: number; count: number; first: number; last: number; type: string; at: string }>();
    const types = new Map<string, { count: number; last: number }>();
    for (const e of events) {
      const s = streams.get(e.streamId);
      if (!s) streams.set(e.streamId, { version: e.version, count: 1, first: e.globalSeq, last: e.globalSeq, type: e.type, at: e.occurredAt });
      else {
        s.version = Math.max(s.version, e.version);
        s.count += 1;
        s.first = Math.min(s.first, e.globalSeq);
        if (e.globalSeq > s.last) Object.assign(s, { last: e.globalSeq, type: e.type, at: e.occurredAt });
      }
      const t = types.get(e.type);
      if (!t) types.set(e.type, { count: 1, last: e.globalSeq });
      else {
        t.count += 1;
        t.last = Math.max(t.last, e.globalSeq);
      }
    }
    const ids = [...streams.keys()];
    const rows = [...streams.values()];
    await sql.execute(
      `INSERT INTO custos_rm_streams AS s (stream_id, category, version, event_count, first_seq, last_seq, last_type, last_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::bigint[], $6::bigint[], $7::text[], $8::timestamptz[])
       ON CONFLICT (stream_id) DO UPDATE SET
         version     = GREATEST(s.version, EXCLUDED.version),
         event_count = s.event_count + EXCLUDED.event_count,
         first_seq   = LEAST(s.first_seq, EXCLUDED.first_seq),
         last_type   = CASE WHEN EXCLUDED.last_seq > s.last_seq THEN EXCLUDED.last_type ELSE s.last_type END,
         last_at     = CASE WHEN EXCLUDED.last_seq > s.last_seq THEN EXCLUDED.last_at ELSE s.last_at END,
         last_seq    = GREATEST(s.last_seq, EXCLUDED.last_seq)`,
      [ids, ids.map((id) => id.split('-', 1)[0]), rows.map((r) => r.version), rows.map((r) => r.count), rows.map((r) => r.first), rows.map((r) => r.last), rows.map((r) => r.type), rows.map((r) => r.at)],
    );
    await sql.execute(
      `INSERT INTO custos_rm_event_types AS t (type, event_count, last_seq) SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])
       ON CONFLICT (type) DO UPDATE SET event_count = t.event_count + EXCLUDED.event_count, last_seq = GREATEST(t.last_seq, EXCLUDED.last_seq)`,
      [[...types.keys()], [...types.values()].map((t) => t.count), [...types.values()].map((t) => t.last)],
    );
  }
}
