import type { Sql } from '@custos/event-store';

/** An event one projection could not apply: quarantined for that projection alone. */
export interface ProjectionFault {
  readonly projection: string;
  readonly globalSeq: number;
  readonly eventId: string;
  readonly eventType: string;
  /** SQLSTATE, or the error's class name when it did not come from the database. */
  readonly code: string;
  /** Why, with every quoted value taken out (identifiers stay): never the event's data. */
  readonly error: string;
  readonly recordedAt: string;
}

/** Records `faults` in the caller's transaction; a fault already recorded stays as first seen. */
export async function recordFaults(sql: Sql, projector: string, faults: readonly ProjectionFault[]): Promise<void> {
  if (faults.length === 0) return;
  await sql.execute(
    `INSERT INTO custos_projection_faults (projector, projection, global_seq, event_id, event_type, code, error, recorded_at)
     SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
     ON CONFLICT (projector, projection, global_seq) DO NOTHING`,
    [
      projector,
      faults.map((f) => f.projection),
      faults.map((f) => f.globalSeq),
      faults.map((f) => f.eventId),
      faults.map((f) => f.eventType),
      faults.map((f) => f.code),
      faults.map((f) => f.error),
      faults.map((f) => f.recordedAt),
    ],
  );
}

/** The events quarantined for `projector`'s projections, in log order. */
export async function quarantinedEvents(sql: Sql, projector = 'main'): Promise<ProjectionFault[]> {
  const rows = await sql.query<{ projection: string; global_seq: number | string; event_id: string; event_type: string; code: string; error: string; recorded_at: Date | string }>(
    'SELECT projection, global_seq, event_id, event_type, code, error, recorded_at FROM custos_projection_faults WHERE projector = $1 ORDER BY global_seq, projection',
    [projector],
  );
  return rows.map((r) => ({
    projection: r.projection,
    globalSeq: Number(r.global_seq),
    eventId: r.event_id,
    eventType: r.event_type,
    code: r.code,
    error: r.error,
    recordedAt: new Date(r.recorded_at).toISOString(),
  }));
}

/**
 * What /health says while events are quarantined: undefined when none are, else one line
 * naming each projection, how many events it lacks and the first one's global sequence.
 */
export async function quarantineSummary(sql: Sql, projector = 'main'): Promise<string | undefined> {
  const rows = await sql.query<{ projection: string; n: number | string; first: number | string }>(
    'SELECT projection, count(*) AS n, min(global_seq) AS first FROM custos_projection_faults WHERE projector = $1 GROUP BY projection ORDER BY projection',
    [projector],
  );
  if (rows.length === 0) return undefined;
  const parts = rows.map((r) => `${r.projection} (${Number(r.n)} event${Number(r.n) === 1 ? '' : 's'}, first at global sequence ${Number(r.first)})`);
  return `events quarantined: ${parts.join(', ')}; see custos_projection_faults, fix the projection and run custos replay`;
}

/**
 * SQLSTATE classes that say nothing about the event: connection (08), transaction rollback
 * such as a deadlock or serialization failure (40), a missing table, column or privilege
 * (42: the projection or the schema is wrong for every event alike), resources (53),
 * operator intervention such as a statement timeout (57), system (58) and internal (XX)
 * errors. The batch is retried rather than every event quarantined.
 */
const TRANSIENT_CLASSES = new Set(['08', '40', '42', '53', '57', '58', 'XX']);

export function transientFailure(e: unknown): boolean {
  const code = sqlState(e);
  return code !== undefined && TRANSIENT_CLASSES.has(code.slice(0, 2));
}

/**
 * The code and message of a failure, fit for a log line and a table: PostgreSQL quotes values
 * in some messages (`invalid input syntax for type uuid: "…"`) as it quotes identifiers
 * (`column "subject_kind"`); what is quoted after a word naming an identifier stays, every
 * other quoted text (and JSON parse snippets) becomes "…". Bounded to 500 characters.
 */
export function describeFailure(e: unknown): { code: string; message: string } {
  const code = sqlState(e) ?? (e instanceof Error ? e.name : typeof e);
  const raw = e instanceof Error ? e.message : String(e);
  const message = raw
    .replace(/(\b(?:column|relation|table|constraint|index|function|type|schema|savepoint|sequence|trigger|operator)\s+)?"(?:[^"\\]|\\.)*"/gi, (match: string, keyword?: string) => (keyword ? match : '"…"'))
    .replace(/'(?:[^'\\]|\\.){21,}'/g, "'…'")
    .slice(0, 500);
  return { code, message };
}

function sqlState(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const err = e as { code?: unknown; driverError?: unknown };
  if (typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code)) return err.code;
  return err.driverError ? sqlState(err.driverError) : undefined;
}
