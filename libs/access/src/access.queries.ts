import { Database } from '@custos/event-store';
import { ValidationError } from '@custos/errors';

export interface TrailItem {
  eventId: string;
  sequence: number;
  occurredAt: string;
  actor: { id: string; roles: string[] };
  patientId: string | null;
  resourceType: string;
  resourceId: string;
  action: string;
  purpose: string | null;
  decision: 'PERMIT' | 'DENY';
  rule: string;
  emergency: boolean;
  consentVersion: number | null;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface TrailFilter {
  patientId?: string;
  actorId?: string;
  decision?: 'PERMIT' | 'DENY';
  purpose?: string;
  from?: Date;
  to?: Date;
  limit: number;
  cursor?: string;
}

interface TrailRow {
  global_seq: number | string;
  event_id: string;
  patient_id: string | null;
  occurred_at: Date | string;
  actor_id: string;
  actor_roles: string[];
  resource_type: string;
  resource_id: string;
  action: string;
  purpose: string | null;
  decision: 'PERMIT' | 'DENY';
  rule: string;
  emergency: boolean;
  consent_version: number | null;
}

/** Cursors are opaque to clients: the last global sequence they saw. */
export function encodeCursor(seq: number): string {
  return Buffer.from(`s:${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^s:(\d{1,15})$/.exec(text);
  if (!m) throw new ValidationError('cursor is not one this API issued', { cursor }, 'bad-cursor');
  return Number(m[1]);
}

/** Reads of the access read models (eventually consistent: see `projectedSequence`). */
export class AccessQueries {
  constructor(private readonly db: Database) {}

  /** Every decision and refused read matching the filter, oldest first, a page at a time. */
  async trail(filter: TrailFilter): Promise<Page<TrailItem>> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, value: unknown) => {
      params.push(value);
      where.push(clause.replace('?', `$${params.length}`));
    };
    if (filter.patientId !== undefined) add('patient_id = ?', filter.patientId);
    if (filter.actorId !== undefined) add('actor_id = ?', filter.actorId);
    if (filter.decision !== undefined) add('decision = ?', filter.decision);
    if (filter.purpose !== undefined) add('purpose = ?', filter.purpose);
    if (filter.from !== undefined) add('occurred_at >= ?', filter.from.toISOString());
    if (filter.to !== undefined) add('occurred_at < ?', filter.to.toISOString());
    if (filter.cursor !== undefined) add('global_seq > ?', decodeCursor(filter.cursor));
    params.push(filter.limit + 1);
    const rows = await this.db.query<TrailRow>(
      `SELECT * FROM custos_rm_access_trail ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY global_seq LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, filter.limit).map(toItem);
    const last = page[page.length - 1];
    return { items: page, nextCursor: rows.length > filter.limit && last ? encodeCursor(last.sequence) : null };
  }

  /** HIPAA 164.528: permitted disclosures for purposes other than treatment and operations. */
  async disclosures(patientId: string, from: Date, to: Date): Promise<TrailItem[]> {
    const rows = await this.db.query<TrailRow>(
      `SELECT * FROM custos_rm_access_trail
        WHERE patient_id = $1 AND decision = 'PERMIT' AND purpose IS NOT NULL AND purpose NOT IN ('TREATMENT', 'OPERATIONS')
          AND occurred_at >= $2 AND occurred_at < $3
        ORDER BY global_seq`,
      [patientId, from.toISOString(), to.toISOString()],
    );
    return rows.map(toItem);
  }

  async emergencyReviews(status: 'open' | 'closed' | 'all'): Promise<Array<Record<string, unknown>>> {
    const where = status === 'open' ? 'WHERE verdict IS NULL AND access_seq IS NOT NULL' : status === 'closed' ? 'WHERE verdict IS NOT NULL' : '';
    const rows = await this.db.query<Record<string, unknown>>(`SELECT * FROM custos_rm_emergency_reviews ${where} ORDER BY access_seq NULLS LAST, access_event_id LIMIT 1000`);
    return rows.map((r) => ({
      eventId: r.access_event_id,
      sequence: r.access_seq === null ? null : Number(r.access_seq),
      patientId: r.patient_id,
      actorId: r.actor_id,
      occurredAt: r.occurred_at ? new Date(r.occurred_at as string).toISOString() : null,
      resourceType: r.resource_type,
      resourceId: r.resource_id,
      purpose: r.purpose,
      reason: r.reason,
      status: r.verdict ? 'closed' : 'open',
      verdict: r.verdict ?? null,
      note: r.note ?? null,
      reviewedBy: r.reviewed_by ?? null,
      reviewedAt: r.reviewed_at ? new Date(r.reviewed_at as string).toISOString() : null,
    }));
  }

  /** The global sequence up to which the read models are complete (-1: nothing projected). */
  async projectedSequence(): Promise<number> {
    const [row] = await this.db.query<{ position: number | string }>(`SELECT position FROM custos_projection_checkpoint WHERE projector = 'main'`);
    return Number(row?.position ?? -1);
  }
}

function toItem(r: TrailRow): TrailItem {
  return {
    eventId: r.event_id,
    sequence: Number(r.global_seq),
    occurredAt: new Date(r.occurred_at).toISOString(),
    actor: { id: r.actor_id, roles: r.actor_roles },
    patientId: r.patient_id,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    action: r.action,
    purpose: r.purpose,
    decision: r.decision,
    rule: r.rule,
    emergency: r.emergency,
    consentVersion: r.consent_version,
  };
}
