import { asUnavailable, readLog } from '@custos/event-store';
import type { Database, EventStore, Sql, StoredEvent } from '@custos/event-store';
import { createLogger, registered } from '@custos/platform';
import type { Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import { applyAll, type Projection } from './projection.js';
import { describeFailure, type ProjectionFault, quarantinedEvents, recordFaults, transientFailure } from './projection-faults.js';

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
 *
 * A projection is a guest: an event one projection cannot apply (its SQL refuses it, its code
 * throws) is quarantined for that projection alone. A batch that fails is applied again in a
 * new transaction with each projection under a savepoint, and the one that fails again event
 * by event under one each. What it refuses is recorded in `custos_projection_faults`, logged (type, sequence and
 * SQLSTATE, never the event's data) and counted; every other projection takes the event and
 * the checkpoint moves past it, so no view stops. A failure that says nothing about the event
 * (the store unreachable, a deadlock, a timeout) is not quarantined: the batch is retried.
 */
export class ProjectionRunner {
  private readonly logger: Logger;

  constructor(
    private readonly db: Database,
    private readonly projections: readonly Projection[],
    readonly projector = 'main',
    options: { logger?: Logger } = {},
  ) {
    this.logger = options.logger ?? createLogger('silent');
  }

  /** Applies what is new in `events`; returns how many were applied (duplicates are skipped). */
  async applyBatch(events: readonly StoredEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    try {
      return await this.applyOnce(events, false);
    } catch (e) {
      // Something refused: again, with each projection (and then each event) under a savepoint.
      if (transientFailure(e) || asUnavailable(e)) throw e;
      return this.applyOnce(events, true);
    }
  }

  /**
   * One transaction over `events`. Unguarded (the common case: no savepoint at all), any
   * failure rolls it all back; guarded, what a projection refuses is quarantined for it.
   */
  private async applyOnce(events: readonly StoredEvent[], guarded: boolean): Promise<number> {
    let faults: ProjectionFault[] = [];
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
      if (guarded) faults = await this.applyGuarded(sql, toApply);
      else for (const projection of this.projections) await applyAll(sql, projection, toApply);
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
    this.report(faults);
    return applied;
  }

  /** The events quarantined for this projector's projections, oldest first. */
  faults(): Promise<ProjectionFault[]> {
    return quarantinedEvents(this.db, this.projector);
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
    const faults: ProjectionFault[] = [];
    const replayed = await this.db.transaction(async (sql) => {
      await this.lockPosition(sql);
      for (const table of this.projections.flatMap((p) => p.tables)) await sql.execute(`DELETE FROM ${table}`);
      await sql.execute('DELETE FROM custos_projection_ledger WHERE projector = $1', [this.projector]);
      // The rebuilt read models lack exactly what this replay quarantines: older faults go.
      await sql.execute('DELETE FROM custos_projection_faults WHERE projector = $1', [this.projector]);
      let next = 0;
      while (next <= lastSeq) {
        const events = await readLog(sql, next, lastSeq, pageSize);
        if (events.length === 0) break;
        faults.push(...(await this.applyGuarded(sql, events)));
        next = (events[events.length - 1] as StoredEvent).globalSeq + 1;
        options.onProgress?.(next, lastSeq + 1);
      }
      await sql.execute('UPDATE custos_projection_checkpoint SET position = $2 WHERE projector = $1', [this.projector, next - 1]);
      return next;
    });
    this.report(faults);
    return replayed;
  }

  /**
   * Applies `events` to every projection; what one projection refuses is quarantined for it
   * alone and returned (already recorded in this transaction). Nothing refused costs one
   * savepoint (replay runs every page so: one transaction for the whole log).
   */
  private async applyGuarded(sql: Sql, events: readonly StoredEvent[]): Promise<ProjectionFault[]> {
    if (events.length === 0) return [];
    const all = await attempt(sql, 'custos_projections', async () => {
      for (const projection of this.projections) await applyAll(sql, projection, events);
    });
    if (!all) return [];
    const faults: ProjectionFault[] = [];
    for (const projection of this.projections) {
      if (!(await attempt(sql, 'custos_projection', () => applyAll(sql, projection, events)))) continue;
      for (const event of events) {
        const error = await attempt(sql, 'custos_projection_event', () => projection.apply(sql, event));
        if (error) faults.push(faultOf(projection.name, event, error));
      }
    }
    await recordFaults(sql, this.projector, faults);
    return faults;
  }

  /** After commit: an error line (no event data) and the metric, per quarantined event. */
  private report(faults: readonly ProjectionFault[]): void {
    for (const f of faults) {
      this.logger.error(
        { projector: this.projector, projection: f.projection, globalSeq: f.globalSeq, eventId: f.eventId, eventType: f.eventType, code: f.code, reason: f.error },
        'projections: event quarantined for one projection; the others took it and projection goes on',
      );
      faultMetrics().inc({ projector: this.projector, projection: f.projection });
    }
  }

  /**
   * Takes the projector's checkpoint row under lock, so runners of one projector serialise;
   * makes it first if it is missing (a flag would not do: the transaction that made it may
   * have rolled back).
   */
  private async lockPosition(sql: Sql): Promise<number> {
    const lock = () => sql.query<{ position: number | string }>('SELECT position FROM custos_projection_checkpoint WHERE projector = $1 FOR UPDATE', [this.projector], { name: 'custos_checkpoint_lock' });
    let [row] = await lock();
    if (!row) {
      await sql.execute('INSERT INTO custos_projection_checkpoint (projector, position) VALUES ($1, -1) ON CONFLICT DO NOTHING', [this.projector]);
      [row] = await lock();
    }
    return Number(row?.position ?? -1);
  }
}

/** How far a projector's read models are complete (-1: nothing projected); readers report it. */
export async function projectedPosition(sql: Sql, projector = 'main'): Promise<number> {
  const [row] = await sql.query<{ position: number | string }>('SELECT position FROM custos_projection_checkpoint WHERE projector = $1', [projector]);
  return Number(row?.position ?? -1);
}

/**
 * Runs `work` under a savepoint: resolves to the error that made it roll back, or undefined.
 * A failure that says nothing about the events (see `transientFailure`) is thrown on.
 */
async function attempt(sql: Sql, savepoint: string, work: () => Promise<void>): Promise<unknown> {
  await sql.execute(`SAVEPOINT ${savepoint}`);
  try {
    await work();
  } catch (e) {
    if (transientFailure(e) || asUnavailable(e)) throw e;
    await sql.execute(`ROLLBACK TO SAVEPOINT ${savepoint}`);
    await sql.execute(`RELEASE SAVEPOINT ${savepoint}`);
    return e ?? new Error('projection failed');
  }
  await sql.execute(`RELEASE SAVEPOINT ${savepoint}`);
  return undefined;
}

function faultOf(projection: string, e: StoredEvent, error: unknown): ProjectionFault {
  const { code, message } = describeFailure(error);
  return { projection, globalSeq: e.globalSeq, eventId: e.eventId, eventType: e.type, code, error: message, recordedAt: new Date().toISOString() };
}

function faultMetrics(): Counter {
  return registered(
    'custos_projection_faults_total',
    () => new Counter({ name: 'custos_projection_faults_total', help: 'Events quarantined for one projection (it could not apply them; the others did)', labelNames: ['projector', 'projection'] }),
  );
}

function projectionMetrics(): Gauge {
  return registered('custos_projection_position', () => new Gauge({ name: 'custos_projection_position', help: 'Global sequence up to which every event is projected', labelNames: ['projector'] }));
}
