import type { Sql } from '@custos/event-store';
import type { IncidentView } from './domain/incident.decide.js';
import { KeysetQuery, nextCursor } from './keyset-page.js';

export interface IncidentRow {
  incidentId: string;
  state: string;
  severity: string;
  subject: { kind: string; id: string };
  rules: string[];
  patientIds: string[];
  detections: number;
  openedAt: string;
  discoveredAt: string;
  updatedAt: string;
}

export interface IncidentFilter {
  state?: string;
  severity?: string;
  rule?: string;
  actor?: string;
  patient?: string;
  from?: Date;
  to?: Date;
  cursor?: string;
  limit: number;
}

const iso = (v: Date | string) => new Date(v).toISOString();

/** Newest first, cursor-paged on (opened_at, incident_id). */
export async function listIncidents(sql: Sql, f: IncidentFilter): Promise<{ items: IncidentRow[]; next: string | null }> {
  const q = new KeysetQuery();
  if (f.state) q.add('state = $?', f.state);
  if (f.severity) q.add('severity = $?', f.severity);
  if (f.rule) q.add('$? = ANY(rules)', f.rule);
  if (f.actor) q.add("subject_kind = 'actor' AND subject_id = $?", f.actor);
  if (f.patient) q.add('patient_ids @> ARRAY[$?::text]', f.patient);
  if (f.from) q.add('opened_at >= $?', f.from);
  if (f.to) q.add('opened_at < $?', f.to);
  q.after(f.cursor, 'opened_at', 'incident_id');
  const limit = q.limit(f.limit);
  const rows = await sql.query<{
    incident_id: string;
    state: string;
    severity: string;
    subject_kind: string;
    subject_id: string;
    rules: string[];
    patient_ids: string[];
    detections: number;
    opened_at: Date | string;
    discovered_at: Date | string;
    updated_at: Date | string;
  }>(`SELECT * FROM custos_rm_incidents ${q.filter} ORDER BY opened_at DESC, incident_id DESC LIMIT ${limit}`, q.args);
  const items = rows.slice(0, f.limit).map((r) => ({
    incidentId: r.incident_id,
    state: r.state,
    severity: r.severity,
    subject: { kind: r.subject_kind, id: r.subject_id },
    rules: r.rules,
    patientIds: r.patient_ids,
    detections: Number(r.detections),
    openedAt: iso(r.opened_at),
    discoveredAt: iso(r.discovered_at),
    updatedAt: iso(r.updated_at),
  }));
  return { items, next: nextCursor(rows, f.limit, items, (last) => [last.openedAt, last.incidentId]) };
}

export interface BlastRadius {
  readonly window: { from: string; to: string };
  readonly subject: IncidentView['subject'];
  /** Per patient (an actor's case) or per actor (a patient's case). */
  readonly footprint: Array<{ patientId?: string; actorId?: string; accesses: number; firstSeen: string; lastSeen: string; resourceTypes: string[]; purposes: string[]; emergency: boolean; explained: boolean }>;
  readonly othersOnSamePatients: Array<{ actorId: string; patients: number; accesses: number }>;
  readonly leftTheSystem: Array<{ patientId: string | null; action: string; resourceType: string; resourceId: string; at: string; sequence: number }>;
  /** The first access the case's evidence names: where the look-back starts. */
  readonly firstAnomalousAccess: string | null;
}

/**
 * Who touched what, from the access trail: the subject's footprint in the window (explained
 * means for treatment, not breaking the glass), who else touched the same patients, what was
 * downloaded or exported, and the first access the evidence names.
 */
export async function blastRadius(sql: Sql, incident: IncidentView, from: Date, to: Date): Promise<BlastRadius> {
  const byActor = incident.subject.kind === 'actor';
  const key = byActor ? 'patient_id' : 'actor_id';
  const footprint = await sql.query<{ k: string; n: string | number; first: Date; last: Date; types: string[]; purposes: string[]; emergency: boolean; explained: boolean }>(
    `SELECT ${key} AS k, count(*) AS n, min(occurred_at) AS first, max(occurred_at) AS last,
            array_agg(DISTINCT resource_type ORDER BY resource_type) AS types, array_agg(DISTINCT coalesce(purpose, '') ORDER BY coalesce(purpose, '')) AS purposes,
            bool_or(emergency) AS emergency, bool_and(purpose = 'TREATMENT' AND NOT emergency) AS explained
       FROM custos_rm_access_trail
      WHERE ${byActor ? 'actor_id' : 'patient_id'} = $1 AND decision = 'PERMIT' AND ${key} IS NOT NULL AND occurred_at >= $2 AND occurred_at < $3
      GROUP BY ${key} ORDER BY min(occurred_at), ${key}`,
    [incident.subject.id, from, to],
  );
  const patients = byActor ? footprint.map((r) => r.k) : [incident.subject.id];
  const others = await sql.query<{ actor_id: string; patients: string | number; n: string | number }>(
    `SELECT actor_id, count(DISTINCT patient_id) AS patients, count(*) AS n FROM custos_rm_access_trail
      WHERE patient_id = ANY($1) AND actor_id <> $2 AND decision = 'PERMIT' AND occurred_at >= $3 AND occurred_at < $4
      GROUP BY actor_id ORDER BY count(DISTINCT patient_id) DESC, actor_id LIMIT 500`,
    [patients, byActor ? incident.subject.id : '', from, to],
  );
  const left = await sql.query<{ patient_id: string | null; action: string; resource_type: string; resource_id: string; occurred_at: Date; global_seq: string | number }>(
    `SELECT patient_id, action, resource_type, resource_id, occurred_at, global_seq FROM custos_rm_access_trail
      WHERE ${byActor ? 'actor_id' : 'patient_id'} = $1 AND decision = 'PERMIT' AND action IN ('download', 'export') AND occurred_at >= $2 AND occurred_at < $3
      ORDER BY global_seq LIMIT 1000`,
    [incident.subject.id, from, to],
  );
  const first = await firstEvidenceAccess(sql, incident);
  return {
    window: { from: from.toISOString(), to: to.toISOString() },
    subject: incident.subject,
    footprint: footprint.map((r) => ({
      ...(byActor ? { patientId: r.k } : { actorId: r.k }),
      accesses: Number(r.n),
      firstSeen: iso(r.first),
      lastSeen: iso(r.last),
      resourceTypes: r.types,
      purposes: r.purposes.filter(Boolean),
      emergency: r.emergency,
      explained: r.explained,
    })),
    othersOnSamePatients: others.map((r) => ({ actorId: r.actor_id, patients: Number(r.patients), accesses: Number(r.n) })),
    leftTheSystem: left.map((r) => ({ patientId: r.patient_id, action: r.action, resourceType: r.resource_type, resourceId: r.resource_id, at: iso(r.occurred_at), sequence: Number(r.global_seq) })),
    firstAnomalousAccess: first,
  };
}

/** When the earliest access the case's evidence names happened (the look-back's start, the breach's date as far as the record shows). */
export async function firstEvidenceAccess(sql: Sql, incident: Pick<IncidentView, 'evidence'>): Promise<string | null> {
  const [row] = await sql.query<{ first: Date | null }>('SELECT min(occurred_at) AS first FROM custos_rm_access_trail WHERE global_seq = ANY($1)', [incident.evidence.map((e) => e.sequence)]);
  return row?.first ? iso(row.first) : null;
}

/** How far before discovery a case's window reaches by default (the blast radius, who is involved, the affected patients). */
export const LOOK_BACK_MS = 30 * 86_400_000;

/**
 * A case's window: from 30 days before discovery; to now while it is open, to its last step once
 * it has ended (CLOSED, DISMISSED, MERGED).
 */
export function caseWindow(incident: Pick<IncidentView, 'discoveredAt' | 'state' | 'lastActivityAt'>, now: Date): { from: Date; to: Date } {
  const ended = incident.state === 'CLOSED' || incident.state === 'DISMISSED' || incident.state === 'MERGED';
  return { from: new Date(Date.parse(incident.discoveredAt) - LOOK_BACK_MS), to: ended ? new Date(incident.lastActivityAt) : now };
}

export interface AffectedPatient {
  patientId: string;
  region: string | null;
  country: string | null;
  euDataSubject: boolean | null;
  dataCategories: string[];
  accesses: Array<{ sequence: number; at: string; consentVersion: number | null }>;
}

/**
 * The incident's patients: for a case about an actor, every patient the actor was permitted in
 * the case's window (the blast radius: detections fire once per cool-down, the trail does not),
 * with those its detections named and those officers added; for a patient's case, that patient.
 * Per patient: what of theirs the subject touched in the window, where they live, and the
 * consent version each access cited.
 */
export async function affectedPatients(sql: Sql, incident: IncidentView, now: Date): Promise<AffectedPatient[]> {
  const { from, to } = caseWindow(incident, now);
  const actor = incident.subject.kind === 'actor' ? incident.subject.id : null;
  const rows = await sql.query<{ patient_id: string; region: string | null; country: string | null; eu_data_subject: boolean | null; categories: string[] | null; accesses: Array<{ s: number; a: string; c: number | null }> | null }>(
    `WITH named AS (
       SELECT unnest($1::text[]) AS id
       UNION SELECT DISTINCT t.patient_id FROM custos_rm_access_trail t
        WHERE $2::text IS NOT NULL AND t.actor_id = $2 AND t.decision = 'PERMIT' AND t.patient_id IS NOT NULL AND t.occurred_at >= $3 AND t.occurred_at < $4
     ), hits AS (
       SELECT t.patient_id, t.resource_type, t.global_seq, t.occurred_at, t.consent_version FROM custos_rm_access_trail t
        WHERE t.patient_id IN (SELECT id FROM named) AND t.decision = 'PERMIT' AND ($2::text IS NULL OR t.actor_id = $2) AND t.occurred_at >= $3 AND t.occurred_at < $4
     )
     SELECT p.id AS patient_id, pr.region, pr.country, pr.eu_data_subject,
            (SELECT array_agg(DISTINCT h.resource_type ORDER BY h.resource_type) FROM hits h WHERE h.patient_id = p.id) AS categories,
            (SELECT json_agg(json_build_object('s', h.global_seq, 'a', h.occurred_at, 'c', h.consent_version) ORDER BY h.global_seq) FROM hits h WHERE h.patient_id = p.id) AS accesses
       FROM named AS p LEFT JOIN custos_rm_patient_profiles pr ON pr.patient_id = p.id ORDER BY p.id`,
    [incident.patientIds, actor, from, to],
  );
  return rows.map((r) => ({
    patientId: r.patient_id,
    region: r.region,
    country: r.country,
    euDataSubject: r.eu_data_subject,
    dataCategories: r.categories ?? [],
    accesses: (r.accesses ?? []).map((a) => ({ sequence: Number(a.s), at: iso(a.a), consentVersion: a.c })),
  }));
}

/** What an erasure leaves readable, and why: the answer given to the steward who erases. */
export interface RetainedForLegalClaims {
  readonly basis: 'GDPR Art. 17(3)(e)';
  readonly what: string;
  readonly incidents: string[];
}

/**
 * Incident records are sealed under the incidents' key, not the patient's: erasing a patient
 * leaves officers' notes and titles that name them readable to security officers, kept for the
 * establishment, exercise or defence of legal claims (GDPR Art. 17(3)(e)). This names the cases
 * that concern the patient (as their subject or among their patients), so the erasure can say so.
 */
export async function retainedForLegalClaims(sql: Sql, patientId: string): Promise<RetainedForLegalClaims> {
  const rows = await sql.query<{ incident_id: string }>(
    `SELECT incident_id FROM custos_rm_incidents WHERE patient_ids @> ARRAY[$1::text] OR (subject_kind = 'patient' AND subject_id = $1) ORDER BY opened_at, incident_id LIMIT 1000`,
    [patientId],
  );
  return {
    basis: 'GDPR Art. 17(3)(e)',
    what: 'security incident records (officers\' notes, titles, assessments) stay readable to security officers for the establishment, exercise or defence of legal claims; they are not erased with the patient\'s key',
    incidents: rows.map((r) => r.incident_id),
  };
}

/** RFC 4180 CSV of flat rows (a leading quote defuses spreadsheet formulas). */
export function toCsv(columns: readonly string[], rows: ReadonlyArray<Record<string, unknown>>): string {
  const cell = (v: unknown) => {
    let s = v === null || v === undefined ? '' : Array.isArray(v) ? v.join(';') : typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\r\n') + '\r\n';
}
