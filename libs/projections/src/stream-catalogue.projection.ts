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

  async apply(sql: Sql, e: StoredEvent): Promise<void> {
    await sql.execute(
      `INSERT INTO custos_rm_streams AS s (stream_id, category, version, event_count, first_seq, last_seq, last_type, last_at)
       VALUES ($1, $2, $3, 1, $4, $4, $5, $6)
       ON CONFLICT (stream_id) DO UPDATE SET
         version     = GREATEST(s.version, EXCLUDED.version),
         event_count = s.event_count + 1,
         first_seq   = LEAST(s.first_seq, EXCLUDED.first_seq),
         last_type   = CASE WHEN EXCLUDED.last_seq > s.last_seq THEN EXCLUDED.last_type ELSE s.last_type END,
         last_at     = CASE WHEN EXCLUDED.last_seq > s.last_seq THEN EXCLUDED.last_at ELSE s.last_at END,
         last_seq    = GREATEST(s.last_seq, EXCLUDED.last_seq)`,
      [e.streamId, e.streamId.split('-', 1)[0], e.version, e.globalSeq, e.type, e.occurredAt],
    );
    await sql.execute(
      `INSERT INTO custos_rm_event_types AS t (type, event_count, last_seq) VALUES ($1, 1, $2)
       ON CONFLICT (type) DO UPDATE SET event_count = t.event_count + 1, last_seq = GREATEST(t.last_seq, EXCLUDED.last_seq)`,
      [e.type, e.globalSeq],
    );
  }
}
