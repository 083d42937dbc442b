import type { StoredEvent } from '@custos/event-store';
import type { IncidentView } from './domain/incident.decide.js';
import type { Severity } from './domain/incident.events.js';
import type { Detection } from './domain/rules.js';

/**
 * Custos's record as OCSF 1.8.0 events for a SIEM: each access decision a Web Resource Access
 * Activity (6004, Access Grant or Access Deny), each detection a Detection Finding (2004), each
 * incident an Incident Finding (2005) with its status and verdict. Patient ids go out as
 * resource ids (as in the audit trail); no personal field does.
 */
export const OCSF_VERSION = '1.8.0';
export type OcsfEvent = Record<string, unknown> & { class_uid: number };

const SEVERITY_ID: Readonly<Record<Severity, number>> = { low: 2, medium: 3, high: 4, critical: 5 };
const product = { name: 'Custos', vendor_name: 'Custos', feature: { name: 'sentinel' } };

function metadata(e: StoredEvent, extra: Record<string, unknown> = {}) {
  return { version: OCSF_VERSION, product, uid: e.eventId, log_name: 'custos', correlation_uid: e.metadata?.correlationId, sequence: e.globalSeq, ...extra };
}

/**
 * An access decision (AccessDecided, or a refused route) as Web Resource Access Activity; an
 * access another system reported (AccessReported) too, with the source's agent as actor and
 * the source in `unmapped.reported_by` (Custos did not decide it).
 */
export function accessToOcsf(e: StoredEvent): OcsfEvent | null {
  const d = (e.data ?? {}) as Record<string, unknown>;
  if (e.type === 'AccessReported') return reportedToOcsf(e, d);
  const permit = e.type === 'AccessDecided' && d.decision === 'PERMIT';
  if (e.type !== 'AccessDecided' && e.type !== 'RouteAccessDenied') return null;
  const activity = permit ? 1 : 2;
  const resource =
    e.type === 'AccessDecided'
      ? { uid: String(d.resourceId), type: String(d.resourceType), ...(typeof d.patientId === 'string' ? { data: { patient_id: d.patientId } } : {}) }
      : { uid: String(d.route), type: 'route', ...(typeof d.patientId === 'string' ? { data: { patient_id: d.patientId } } : {}) };
  return {
    class_uid: 6004,
    class_name: 'Web Resource Access Activity',
    category_uid: 6,
    category_name: 'Application Activity',
    activity_id: activity,
    activity_name: permit ? 'Access Grant' : 'Access Deny',
    type_uid: 600400 + activity,
    time: Date.parse(e.occurredAt),
    severity_id: permit ? 1 : 2,
    status_id: permit ? 1 : 2,
    // The host profile carries the actor: who asked.
    metadata: metadata(e, { profiles: ['host'] }),
    actor: { user: { uid: e.metadata.actor.id, type_id: 1 } },
    http_request: e.type === 'RouteAccessDenied' ? { http_method: String(d.method), url: { path: String(d.route) } } : { uid: e.metadata.correlationId },
    web_resources: [resource],
    message: e.type === 'AccessDecided' ? `${String(d.action)} ${String(d.resourceType)} for ${String(d.purpose)}: ${String(d.decision)} (${String(d.rule)})` : `${String(d.action)} refused (${String(d.rule)})`,
    unmapped: e.type === 'AccessDecided' ? { purpose: d.purpose, rule: d.rule, emergency: d.emergency, consent_version: d.consentVersion, policy_version: d.policyVersion, hash: e.hash } : { rule: d.rule, hash: e.hash },
  };
}

function reportedToOcsf(e: StoredEvent, d: Record<string, unknown>): OcsfEvent {
  const success = d.decision === 'reported-success';
  const activity = success ? 1 : 2;
  const source = (d.source ?? {}) as { client?: unknown };
  const entity = ((d.entities ?? []) as Array<{ what?: { reference?: string } | null }>).find((x) => x.what?.reference && !/(^|\/)Patient\//.test(x.what.reference));
  return {
    class_uid: 6004,
    class_name: 'Web Resource Access Activity',
    category_uid: 6,
    category_name: 'Application Activity',
    activity_id: activity,
    activity_name: success ? 'Access Grant' : 'Access Deny',
    type_uid: 600400 + activity,
    time: Date.parse(e.occurredAt),
    severity_id: success ? 1 : 2,
    status_id: success ? 1 : 2,
    metadata: metadata(e, { profiles: ['host'] }),
    actor: { user: { uid: String(d.actorId), type_id: 1 } },
    http_request: { uid: e.metadata.correlationId },
    web_resources: [{ uid: String(entity?.what?.reference ?? `AuditEvent/${String(d.auditEventId)}`), type: 'reported', ...(typeof d.patientId === 'string' ? { data: { patient_id: d.patientId } } : {}) }],
    message: `reported by ${String(source.client)}, not decided by Custos: action ${String(d.action)} for ${String(d.purpose)}, outcome ${String(d.outcome ?? '0')}`,
    unmapped: { reported_by: source.client, audit_event_id: d.auditEventId, recorded: d.recorded, outcome: d.outcome, purpose: d.purpose, hash: e.hash },
  };
}

/** A detection (DetectionRaised) as Detection Finding. */
export function detectionToOcsf(e: StoredEvent): OcsfEvent {
  const d = e.data as Detection;
  return {
    class_uid: 2004,
    class_name: 'Detection Finding',
    category_uid: 2,
    category_name: 'Findings',
    activity_id: 1,
    activity_name: 'Create',
    type_uid: 200401,
    time: Date.parse(e.occurredAt),
    severity_id: SEVERITY_ID[d.severity] ?? 0,
    status_id: 1,
    is_alert: true,
    metadata: metadata(e),
    finding_info: {
      uid: d.detectionId,
      title: `${d.rule}: ${d.subject.kind} ${d.subject.id}`,
      analytic: { uid: d.rule, name: d.rule, version: String(d.ruleVersion), type_id: 1 },
      created_time: Date.parse(d.at),
      first_seen_time: Date.parse(d.window.from),
      last_seen_time: Date.parse(d.window.to),
      related_events: d.evidence.slice(0, 100).map((r) => ({ uid: r.eventId })),
      related_events_count: d.evidence.length,
    },
    resources: d.patientIds.slice(0, 500).map((p) => ({ uid: p, type: 'patient' })),
    unmapped: { parameters: d.parameters, facts: d.facts, actors: d.actorIds },
  };
}

const STATUS_ID: Readonly<Record<string, number>> = {
  OPEN: 1,
  TRIAGED: 2,
  INVESTIGATING: 2,
  ON_HOLD: 3,
  CONTAINED: 2,
  BREACH_ASSESSED: 2,
  NOTIFYING: 2,
  RESOLVED: 4,
  CLOSED: 5,
  DISMISSED: 5,
  MERGED: 5,
};
const VERDICT_ID: Readonly<Record<string, number>> = { 'true-positive': 2, 'false-positive': 1, duplicate: 10 };

/** An incident (as its events make it, up to `e`) as Incident Finding. */
export function incidentToOcsf(e: StoredEvent, view: IncidentView): OcsfEvent {
  // The officer's title is sealed (it can name a person): a SIEM gets one made of clear facts.
  const title = `Incident ${view.incidentId}: ${view.rules.length > 0 ? view.rules.join(', ') : 'opened by an officer'} (${view.subject.kind} ${view.subject.id})`;
  const activity = e.type === 'IncidentOpened' ? 1 : ['CLOSED', 'DISMISSED', 'MERGED'].includes(view.state) ? 3 : 2;
  return {
    class_uid: 2005,
    class_name: 'Incident Finding',
    category_uid: 2,
    category_name: 'Findings',
    activity_id: activity,
    activity_name: ['', 'Create', 'Update', 'Close'][activity],
    type_uid: 200500 + activity,
    time: Date.parse(e.occurredAt),
    severity_id: SEVERITY_ID[view.severity] ?? 0,
    status_id: STATUS_ID[view.state] ?? 99,
    status: view.state,
    ...(view.verdict ? { verdict_id: VERDICT_ID[view.verdict] ?? 99, verdict: view.verdict } : {}),
    desc: title,
    metadata: metadata(e, { uid: `${view.incidentId}:${e.globalSeq}` }),
    finding_info_list: [
      { uid: view.incidentId, title, created_time: Date.parse(view.openedAt), related_events: view.evidence.slice(0, 100).map((r) => ({ uid: r.eventId })), related_events_count: view.evidence.length },
      ...view.detectionIds.slice(0, 100).map((id) => ({ uid: id })),
    ],
    // Incident Finding needs an assignee or a group: the officer it is assigned to, else the security officers.
    ...(view.assignee ? { assignee: { uid: view.assignee } } : { assignee_group: { name: 'security-officer' } }),
    is_suspected_breach: view.assessment?.decision === 'breach',
    unmapped: { subject: view.subject, rules: view.rules, patients: view.patientIds.length, discovered_at: view.discoveredAt },
  };
}

/**
 * The OCSF events of a page of the log (SIEM feed): decisions, detections and incident steps;
 * the rest of the log has no OCSF class here and is skipped. `incidentAt` gives an incident as
 * its events make it up to a version (the feed reads each incident's stream once per page).
 */
export async function ocsfOfLog(events: readonly StoredEvent[], incidentAt: (incidentId: string, version: number) => Promise<IncidentView | null>): Promise<OcsfEvent[]> {
  const out: OcsfEvent[] = [];
  for (const e of events) {
    if (e.type === 'AccessDecided' || e.type === 'RouteAccessDenied' || e.type === 'AccessReported') {
      const a = accessToOcsf(e);
      if (a) out.push(a);
    } else if (e.type === 'DetectionRaised') out.push(detectionToOcsf(e));
    else if (e.streamId.startsWith('incident-')) {
      const view = await incidentAt(e.streamId.slice('incident-'.length), e.version);
      if (view) out.push(incidentToOcsf(e, view));
    }
  }
  return out;
}
