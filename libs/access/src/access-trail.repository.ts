import type { Sql } from '@custos/event-store';
import { ValidationError } from '@custos/errors';
import { DecodedProjection, type ProjectedEvent } from '@custos/projections';
import { accessCodec, reviewCodec } from './access.codec.js';
import type { AccessDecided, AccessEvent, AccessReportedData, EmergencyAccessReviewed } from './domain/access.events.js';

/**
 * The access trail (every decision about a patient's data, every refusal, every read of audit
 * data) and the emergency-access review queue: the projection that writes them and the
 * queries that read them, in one file, with each row type declared once.
 */
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
  decision: TrailDecision;
  rule: string;
  emergency: boolean;
  consent_version: number | null;
  items_returned: number | null;
  reported_by?: string | null;
  reported_id?: string | null;
  reported_outcome?: string | null;
  reported_at?: Date | string | null;
}

/** A decision Custos made (PERMIT, DENY), or the outcome another system reports of its own access. */
export type TrailDecision = 'PERMIT' | 'DENY' | 'reported-success' | 'reported-failure';

/** The prefix of every role a source reports for its agent in the trail: no reported role reads as a Custos role. */
export const REPORTED_ROLE_PREFIX = 'reported:';

/**
 * A reported agent's type or role code as the trail holds it: `reported:<system>|<code>`, or
 * `reported:<code>` when the coding has no system. A source's `admin` is `reported:admin`,
 * never Custos' role `admin`.
 */
export function reportedRole(coding: { readonly system?: string; readonly code?: string }): string | undefined {
  if (coding.code === undefined) return undefined;
  return `${REPORTED_ROLE_PREFIX}${coding.system !== undefined ? `${coding.system}|` : ''}${coding.code}`;
}

/** What the trail says of an access another system reported (FHIR AuditEvent ingest): never a decision of Custos. */
export interface ReportedBy {
  /** The reporting source: its client identity in Custos. */
  source: string;
  /** The AuditEvent's id at the source. */
  auditEventId: string;
  /** The AuditEvent's outcome (0, 4, 8, 12), null when it gave none. */
  outcome: string | null;
  /** When the source says the access happened (AuditEvent.recorded); `occurredAt` is when Custos recorded the report. */
  recorded: string;
  note: string;
}

interface ReviewRow {
  access_event_id: string;
  access_seq: number | string | null;
  patient_id: string;
  actor_id: string | null;
  occurred_at: Date | string | null;
  resource_type: string | null;
  resource_id: string | null;
  purpose: string | null;
  reason: string | null;
  reason_sealed: string | null;
  verdict: string | null;
  note: string | null;
  note_sealed: string | null;
  reviewed_by: string | null;
  reviewed_at: Date | string | null;
}

export interface TrailItem {
  eventId: string;
  sequence: number;
  occurredAt: string;
  /** Who: for a reported access the source-qualified agent, its roles the source's codes as `reported:<code>` or `reported:<system>|<code>` (never Custos roles). */
  actor: { id: string; roles: string[] };
  patientId: string | null;
  resourceType: string;
  resourceId: string;
  action: string;
  purpose: string | null;
  decision: TrailDecision;
  rule: string;
  emergency: boolean;
  consentVersion: number | null;
  /** For a read of audit data: how many items it returned. */
  itemsReturned?: number;
  /** For an access another system reported: by whom, marked as reported, not decided by Custos. */
  reported?: ReportedBy;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface TrailFilter {
  patientId?: string;
  actorId?: string;
  decision?: TrailDecision;
  purpose?: string;
  from?: Date;
  to?: Date;
  limit: number;
  cursor?: string;
}

export interface ReviewItem {
  eventId: string;
  sequence: number | null;
  patientId: string;
  actorId: string | null;
  occurredAt: string | null;
  resourceType: string | null;
  resourceId: string | null;
  purpose: string | null;
  /** The clinician's reason: in clear for an entitled reader, else `{"redacted": true}` or `{"erased": true}`. */
  reason: string | null | Readonly<Record<string, boolean>>;
  /** Stored form (the read model keeps it sealed); the query opens it and drops this. */
  reasonSealed?: string;
  status: 'open' | 'closed';
  verdict: string | null;
  note: string | null | Readonly<Record<string, boolean>>;
  noteSealed?: string;
  reviewedBy: string | null;
  reviewedAt: string | null;
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

/** What the trail reads: the access context's decisions, refusals and audit reads, and the reviews of emergency accesses. */
type TrailEvent = ProjectedEvent<AccessEvent | EmergencyAccessReviewed>;

export class AccessTrailProjection extends DecodedProjection<AccessEvent | EmergencyAccessReviewed> {
  readonly name = 'access-trail';
  readonly tables = ['custos_rm_access_trail', 'custos_rm_emergency_reviews'];

  constructor() {
    super(accessCodec, reviewCodec);
  }

  protected project(sql: Sql, e: TrailEvent): Promise<void> {
    return this.projectBatch(sql, [e]);
  }

  /** Trail rows of the whole batch in one statement; the (rare) review rows one by one, in order. */
  protected override async projectBatch(sql: Sql, events: readonly TrailEvent[]): Promise<void> {
    const rows: NewTrailRow[] = [];
    for (const e of events) {
      const row = trailRowOf(e);
      if (row) rows.push(row);
    }
    await insertTrail(sql, rows);
    // The review queue: emergency accesses and their reviews, each kind in one upsert. They set
    // disjoint columns, so applying all accesses then all reviews equals applying them in order.
    const accesses: ProjectedEvent<AccessDecided>[] = [];
    const reviews: ProjectedEvent<EmergencyAccessReviewed>[] = [];
    for (const e of events) {
      if (e.type === 'AccessDecided') {
        if (e.data.emergency && e.data.patientId) accesses.push(e);
      } else if (e.type === 'EmergencyAccessReviewed') reviews.push(e);
    }
    if (accesses.length > 0) {
      const col = <T>(f: (e: ProjectedEvent<AccessDecided>) => T) => accesses.map(f);
      await sql.execute(
        `INSERT INTO custos_rm_emergency_reviews (access_event_id, access_seq, patient_id, actor_id, occurred_at, resource_type, resource_id, purpose, reason, reason_sealed)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
         ON CONFLICT (access_event_id) DO UPDATE SET access_seq = EXCLUDED.access_seq, actor_id = EXCLUDED.actor_id, occurred_at = EXCLUDED.occurred_at,
           resource_type = EXCLUDED.resource_type, resource_id = EXCLUDED.resource_id, purpose = EXCLUDED.purpose, reason = EXCLUDED.reason, reason_sealed = EXCLUDED.reason_sealed`,
        [
          col((e) => e.eventId),
          col((e) => e.globalSeq),
          col((e) => e.data.patientId),
          col((e) => e.metadata.actor.id),
          col((e) => e.occurredAt),
          col((e) => e.data.resourceType),
          col((e) => e.data.resourceId),
          col((e) => e.data.purpose),
          col((e) => e.data.emergencyReason ?? null),
          // The sealed personal part, kept as is: the review queue holds the emergency reason and
          // the review note encrypted under the patient's data key, opened for a reader entitled
          // to them (events from before sealing keep their clear column).
          col((e) => e.sealed),
        ],
        { name: 'custos_rm_emergency_accesses' },
      );
    }
    if (reviews.length > 0) {
      const col = <T>(f: (e: ProjectedEvent<EmergencyAccessReviewed>) => T) => reviews.map(f);
      await sql.execute(
        `INSERT INTO custos_rm_emergency_reviews (access_event_id, patient_id, verdict, note, note_sealed, reviewed_by, reviewed_at, review_seq)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::bigint[])
         ON CONFLICT (access_event_id) DO UPDATE SET verdict = EXCLUDED.verdict, note = EXCLUDED.note, note_sealed = EXCLUDED.note_sealed, reviewed_by = EXCLUDED.reviewed_by,
           reviewed_at = EXCLUDED.reviewed_at, review_seq = EXCLUDED.review_seq`,
        [
          col((e) => e.data.accessEventId),
          col((e) => e.data.patientId),
          col((e) => e.data.verdict),
          col((e) => e.data.note ?? null),
          col((e) => e.sealed),
          col((e) => e.metadata.actor.id),
          col((e) => e.occurredAt),
          col((e) => e.globalSeq),
        ],
        { name: 'custos_rm_emergency_verdicts' },
      );
    }
  }
}

interface NewTrailRow {
  readonly e: TrailEvent;
  readonly patientId: string | null;
  readonly resourceType: string;
  readonly resourceId: string;
  readonly action: string;
  readonly purpose: string | null;
  readonly decision: string;
  readonly rule: string;
  readonly emergency: boolean;
  readonly consentVersion: number | null;
  readonly itemsReturned: number | null;
  /** The actor when it is not the event's (a reported access: the source's agent, qualified by the source). */
  readonly actor?: { readonly id: string; readonly roles: readonly string[] };
  readonly reported?: { readonly by: string; readonly id: string; readonly outcome: string | null; readonly at: string };
}

/** The trail row an event makes, if it makes one: a decision, a refusal, a read of audit data. */
function trailRowOf(e: TrailEvent): NewTrailRow | undefined {
  switch (e.type) {
    case 'AccessDecided': {
      const d = e.data;
      return { e, patientId: d.patientId, resourceType: d.resourceType, resourceId: d.resourceId, action: d.action, purpose: d.purpose, decision: d.decision, rule: d.rule, emergency: d.emergency, consentVersion: d.consentVersion, itemsReturned: null };
    }
    case 'RouteAccessDenied': {
      const d = e.data;
      return { e, patientId: d.patientId, resourceType: d.subject, resourceId: d.route, action: d.action, purpose: null, decision: 'DENY', rule: d.rule, emergency: false, consentVersion: null, itemsReturned: null };
    }
    case 'AuditDataRead': {
      const d = e.data;
      return { e, patientId: d.patientId, resourceType: d.resourceType, resourceId: d.route, action: 'read', purpose: null, decision: 'PERMIT', rule: d.rule, emergency: false, consentVersion: null, itemsReturned: d.itemsReturned };
    }
    case 'AccessReported':
      return reportedRow(e, e.data);
    default:
      return undefined;
  }
}

const ACTION_NAMES: Readonly<Record<string, string>> = { C: 'create', R: 'read', U: 'update', D: 'delete', E: 'execute' };

/**
 * A reported access as a trail row: the actor is the source's requesting agent (qualified by
 * the source), the resource the first entity that is not the patient, the decision the
 * reported outcome, the rule `reported-by-source`.
 */
function reportedRow(e: TrailEvent, d: AccessReportedData): NewTrailRow {
  const patientRef = /(?:^|\/)Patient\/[^/]+(?:\/_history\/[^/]+)?$/;
  const data = d.entities.find((x) => x.what && !(x.what.reference && patientRef.test(x.what.reference)) && x.role?.code !== '1') ?? d.entities.find((x) => x.what);
  const ref = data?.what?.reference;
  const resourceType = data?.what?.type ?? (ref ? (/([A-Za-z]+)\/[^/]+(?:\/_history\/[^/]+)?$/.exec(ref)?.[1] ?? 'reference') : 'AuditEvent');
  const resourceId = ref ?? data?.what?.identifier?.value ?? `AuditEvent/${d.auditEventId}`;
  const requestor = d.agents.find((a) => a.requestor) ?? d.agents[0];
  // The source's codes, namespaced: never read as Custos roles.
  const roles = [...new Set([...(requestor?.type ?? []), ...(requestor?.roles ?? [])].flatMap((c) => reportedRole(c) ?? []))];
  return {
    e,
    patientId: d.patientId,
    resourceType: resourceType.slice(0, 200),
    resourceId: resourceId.slice(0, 500),
    action: d.action ? (ACTION_NAMES[d.action] ?? d.action) : 'unknown',
    purpose: d.purpose,
    decision: d.decision,
    rule: 'reported-by-source',
    emergency: d.emergency,
    consentVersion: null,
    itemsReturned: null,
    actor: { id: d.actorId, roles },
    reported: { by: d.source.client, id: d.auditEventId, outcome: d.outcome, at: d.recorded },
  };
}

async function insertTrail(sql: Sql, rows: readonly NewTrailRow[]): Promise<void> {
  if (rows.length === 0) return;
  const column = <T>(f: (r: NewTrailRow) => T): T[] => rows.map(f);
  await sql.execute(
    `INSERT INTO custos_rm_access_trail (global_seq, event_id, patient_id, occurred_at, actor_id, actor_roles, resource_type, resource_id, action, purpose, decision, rule, emergency, consent_version, items_returned,
       reported_by, reported_id, reported_outcome, reported_at)
     SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::timestamptz[], $5::text[], $6::jsonb[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::boolean[], $14::int[], $15::int[],
       $16::text[], $17::text[], $18::text[], $19::timestamptz[])
     ON CONFLICT (global_seq) DO NOTHING`,
    [
      column((r) => r.e.globalSeq),
      column((r) => r.e.eventId),
      column((r) => r.patientId),
      column((r) => r.e.occurredAt),
      column((r) => (r.actor ?? r.e.metadata.actor).id),
      column((r) => JSON.stringify((r.actor ?? r.e.metadata.actor).roles)),
      column((r) => r.resourceType),
      column((r) => r.resourceId),
      column((r) => r.action),
      column((r) => r.purpose),
      column((r) => r.decision),
      column((r) => r.rule),
      column((r) => r.emergency),
      column((r) => r.consentVersion),
      column((r) => r.itemsReturned),
      column((r) => r.reported?.by ?? null),
      column((r) => r.reported?.id ?? null),
      column((r) => r.reported?.outcome ?? null),
      column((r) => r.reported?.at ?? null),
    ],
  );
}

/** Every decision, refusal and audit read matching the filter, oldest first, a page at a time. */
export async function readTrail(sql: Sql, filter: TrailFilter): Promise<Page<TrailItem>> {
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
  const rows = await sql.query<TrailRow>(`SELECT * FROM custos_rm_access_trail ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY global_seq LIMIT $${params.length}`, params);
  const page = rows.slice(0, filter.limit).map(toItem);
  const last = page[page.length - 1];
  return { items: page, nextCursor: rows.length > filter.limit && last ? encodeCursor(last.sequence) : null };
}

/** HIPAA 164.528: permitted disclosures for purposes other than treatment and operations. */
export async function readDisclosures(sql: Sql, patientId: string, from: Date, to: Date): Promise<TrailItem[]> {
  const rows = await sql.query<TrailRow>(
    `SELECT * FROM custos_rm_access_trail
      WHERE patient_id = $1 AND decision = 'PERMIT' AND purpose IS NOT NULL AND purpose NOT IN ('TREATMENT', 'OPERATIONS')
        AND occurred_at >= $2 AND occurred_at < $3
      ORDER BY global_seq`,
    [patientId, from.toISOString(), to.toISOString()],
  );
  return rows.map(toItem);
}

/**
 * The break-the-glass review queue, oldest first, a page at a time (cursor: the last access
 * sequence seen), with the total count matching the status, so 1,010 trivial entries cannot
 * hide the 1,011th.
 */
export async function readReviews(sql: Sql, status: 'open' | 'closed' | 'all', limit: number, cursor?: string): Promise<Page<ReviewItem> & { total: number }> {
  const where = status === 'open' ? 'verdict IS NULL AND access_seq IS NOT NULL' : status === 'closed' ? 'verdict IS NOT NULL AND access_seq IS NOT NULL' : 'access_seq IS NOT NULL';
  const after = cursor !== undefined ? decodeCursor(cursor) : -1;
  const rows = await sql.query<ReviewRow>(`SELECT * FROM custos_rm_emergency_reviews WHERE ${where} AND access_seq > $1 ORDER BY access_seq LIMIT $2`, [after, limit + 1]);
  const [count] = await sql.query<{ n: number | string }>(`SELECT count(*) AS n FROM custos_rm_emergency_reviews WHERE ${where}`);
  const items = rows.slice(0, limit).map(toReview);
  const last = items[items.length - 1];
  return { items, total: Number(count?.n ?? 0), nextCursor: rows.length > limit && last?.sequence != null ? encodeCursor(last.sequence) : null };
}

function iso(value: Date | string | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}

function toReview(r: ReviewRow): ReviewItem {
  return {
    eventId: r.access_event_id,
    sequence: r.access_seq === null ? null : Number(r.access_seq),
    patientId: r.patient_id,
    actorId: r.actor_id,
    occurredAt: iso(r.occurred_at),
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    purpose: r.purpose,
    reason: r.reason,
    ...(r.reason_sealed ? { reasonSealed: r.reason_sealed } : {}),
    status: r.verdict ? 'closed' : 'open',
    verdict: r.verdict,
    note: r.note,
    ...(r.note_sealed ? { noteSealed: r.note_sealed } : {}),
    reviewedBy: r.reviewed_by,
    reviewedAt: iso(r.reviewed_at),
  };
}

function toItem(r: TrailRow): TrailItem {
  return {
    eventId: r.event_id,
    sequence: Number(r.global_seq),
    occurredAt: new Date(r.occurred_at).toISOString(),
    // A reported row's roles are the source's codes: namespaced (rows projected before the prefix included).
    actor: { id: r.actor_id, roles: r.reported_by ? r.actor_roles.map((x) => (x.startsWith(REPORTED_ROLE_PREFIX) ? x : `${REPORTED_ROLE_PREFIX}${x}`)) : r.actor_roles },
    patientId: r.patient_id,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    action: r.action,
    purpose: r.purpose,
    decision: r.decision,
    rule: r.rule,
    emergency: r.emergency,
    consentVersion: r.consent_version,
    ...(r.items_returned !== null && r.items_returned !== undefined ? { itemsReturned: r.items_returned } : {}),
    ...(r.reported_by
      ? {
          reported: {
            source: r.reported_by,
            auditEventId: r.reported_id ?? '',
            outcome: r.reported_outcome ?? null,
            recorded: iso(r.reported_at ?? null) ?? new Date(r.occurred_at).toISOString(),
            note: `reported by ${r.reported_by}, not decided by Custos`,
          },
        }
      : {}),
  };
}
