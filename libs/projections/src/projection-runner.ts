import { readLog } from '@custos/event-store';
import type { Database, EventStore, Sql, StoredEvent } from '@custos/event-store';
import { registered } from '@custos/platform';
import { Gauge } from 'prom-client';
import { applyAll, type Projection } from './projection.js';

/**
 * Applies events to a set of projections, exactly once each, keyed by global sequence.
 *
 * Kafka delivers each partition in order but interleaves partitions, and redelivers after a
 * crash. The runner keeps, per projector, a checkpoint (the highest global sequence below
 * which every event has been applied) and a ledger of the sequences applied above it; an
 * event at or below the checkpoint or in the ledger is skipped. Events, ledger and checkpoint
 * change in one transaction with the read models.
 *
 * The ledger is written only for what lands beyond a gap: the events that continue the
 * checkpoint move it and leave no ledger row, so a batch that covers every partition (the
 * Kafka feed hands over all partitions' batches of one fetch together) costs two small reads
 * and one checkpoint update, whatever its size.
 */
export class ProjectionRunner {
  private checkpointRowMade = false;

  constructor(
    private readonly db: Database,
    private readonly projections: readonly Projection[],
    readonly projector = 'main',
  ) {}

  /** Applies what is new in `events`; returns how many were applied (duplicates are skipped). */
  async applyBatch(events: readonly StoredEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const applied = await this.db.transaction(async (sql) => {
      const position = await this.lockPosition(sql);
      const candidates = [...new Map(events.filter((e) => e.globalSeq > position).map((e) => [e.globalSeq, e])).values()].sort((a, b) => a.globalSeq - b.globalSeq);
      if (candidates.length === 0) return 0;
      // What the ledger already holds above the checkpoint: applied before, out of order.
      const ledger = new Set(
        (
          await sql.query<{ global_seq: number | string }>('SELECT global_seq FROM custos_projection_ledger WHERE projector = $1 AND global_seq > $2', [this.projector, position], {
            name: 'custos_ledger_above',
          })
        ).map((r) => Number(r.global_seq)),
      );
      const toApply = candidates.filter((e) => !ledger.has(e.globalSeq));
      for (const projection of this.projections) await applyAll(sql, projection, toApply);
      // The new checkpoint: as far as applied sequences (old and new) run on without a gap.
      const done = new Set([...ledger, ...toApply.map((e) => e.globalSeq)]);
      let next = position;
      while (done.has(next + 1)) next += 1;
      const beyond = toApply.filter((e) => e.globalSeq > next).map((e) => e.globalSeq);
      if (beyond.length > 0) {
        await sql.execute('INSERT INTO custos_projection_ledger (projector, global_seq) SELECT $1, unnest($2::bigint[])', [this.projector, beyond], { name: 'custos_ledger_add' });
      }
      if (next !== position) {
        await sql.execute('UPDATE custos_projection_checkpoint SET position = $2 WHERE projector = $1', [this.projector, next], { name: 'custos_checkpoint_move' });
        if ([...ledger].some((seq) => seq <= next)) {
          await sql.execute('DELETE FROM custos_projection_ledger WHERE projector = $1 AND global_seq <= $2', [this.projector, next], { name: 'custos_ledger_prune' });
        }
        projectionMetrics().set({ projector: this.projector }, next);
      }
      return toApply.length;
    });
    return applied;
  }

  /** The highest global sequence up to which every event has been applied (-1: none). */
  position(): Promise<number> {
    return projectedPosition(this.db, this.projector);
  }

  /**
   * Rebuilds every read model from the log: empties them and the checkpoint, then applies the
   * whole log in order, in one transaction (readers see the old state until it commits). Run
   * it with the live projector stopped; afterwards the projector skips what replay applied.
   */
  async replay(store: EventStore, options: { pageSize?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<number> {
    const pageSize = options.pageSize ?? 2000;
    const { lastSeq } = await store.head();
    return this.db.transaction(async (sql) => {
      await this.lockPosition(sql);
      for (const table of this.projections.flatMap((p) => p.tables)) await sql.execute(`DELETE FROM ${table}`);
      await sql.execute('DELETE FROM custos_projection_ledger WHERE projector = $1', [this.projector]);
      let next = 0;
      while (next <= lastSeq) {
        const events = await readLog(sql, next, lastSeq, pageSize);
        if (events.length === 0) break;
        for (const projection of this.projections) await applyAll(sql, projection, events);
        next = (events[events.length - 1] as StoredEvent).globalSeq + 1;
        options.onProgress?.(next, lastSeq + 1);
      }
      await sql.execute('UPDATE custos_projection_checkpoint SET position = $2 WHERE projector = $1', [this.projector, next - 1]);
      return next;
    });
  }

  /** Takes the projector's checkpoint row under lock (made once per runner), so runners of one projector serialise. */
  private async lockPosition(sql: Sql): Promise<number> {
    if (!this.checkpointRowMade) {
      await sql.execute('INSERT INTO custos_projection_checkpoint (projector, position) VALUES ($1, -1) ON CONFLICT DO NOTHING', [this.projector]);
    }
    const [row] = await sql.query<{ position: number | string }>('SELECT position FROM custos_projection_checkpoint WHERE projector = $1 FOR UPDATE', [this.projector], { name: 'custos_checkpoint_lock' });
    if (row) this.checkpointRowMade = true;
    return Number(row?.position ?? -1);
  }
}

/** How far a projector's read models are complete (-1: nothing projected); readers report it. */
export async function projectedPosition(sql: Sql, projector = 'main'): Promise<number> {
  const [row] = await sql.query<{ position: number | string }>('SELECT position FROM custos_projection_checkpoint WHERE projector = $1', [projector]);
  return Number(row?.position ?? -1);
}

function projectionMetrics(): Gauge {
  return registered('custos_projection_position', () => new Gauge({ name: 'custos_projection_position', help: 'Global sequence up to which every event is projected', labelNames: ['projector'] }));
}
