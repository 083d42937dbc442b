import { PURPOSE_CODES, isPurpose } from '@custos/vocabulary';
import type { TrailItem } from './access-trail.repository.js';

/**
 * The access trail as FHIR R4 AuditEvent resources, shaped after IHE BALP (Basic Audit Log
 * Patterns): type/subtype of a RESTful read, action, recorded, outcome, purposeOfEvent, the
 * requesting agent, the source, and entities for the patient and for the resource.
 */

const ACTION_CODES: Readonly<Record<string, string>> = { create: 'C', read: 'R', update: 'U', delete: 'D', execute: 'E' };

export function toAuditEvent(item: TrailItem): Record<string, unknown> {
  if (item.reported) return toReportedAuditEvent(item, item.reported);
  const purposes = [];
  if (isPurpose(item.purpose)) purposes.push({ coding: [PURPOSE_CODES[item.purpose]] });
  if (item.emergency) purposes.push({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'ETREAT', display: 'emergency treatment' }] });
  const entities: Array<Record<string, unknown>> = [];
  if (item.patientId) {
    entities.push({
      what: { identifier: { system: 'https://custos.dev/fhir/patient-id', value: item.patientId }, type: 'Patient' },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
    });
  }
  entities.push({
    what: { identifier: { system: `https://custos.dev/fhir/${item.resourceType}-id`, value: item.resourceId } },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
    role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '4', display: 'Domain Resource' },
    description: item.resourceType,
  });
  return {
    resourceType: 'AuditEvent',
    id: item.eventId,
    meta: { profile: ['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Read'] },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'read', display: 'read' }, { system: 'https://custos.dev/fhir/CodeSystem/data-action', code: item.action }],
    action: 'R',
    recorded: item.occurredAt,
    outcome: item.decision === 'PERMIT' ? '0' : '4',
    outcomeDesc: `${item.decision} by rule ${item.rule}`,
    purposeOfEvent: purposes,
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP', display: 'information recipient' }] },
        who: { identifier: { system: 'https://custos.dev/fhir/user-id', value: item.actor.id } },
        role: item.actor.roles.map((r) => ({ coding: [{ system: 'https://custos.dev/fhir/CodeSystem/role', code: r }] })),
        requestor: true,
      },
    ],
    source: {
      site: 'custos',
      observer: { display: 'Custos audit service' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    entity: entities,
  };
}

/**
 * An access another system reported, as Custos holds it: the source's own time and outcome,
 * the source as observer, the agent as Custos names it (qualified by the source), marked in
 * outcomeDesc and meta.tag as reported, not decided by Custos. What was sealed or dropped at
 * ingest (display names, descriptions, queries) is not in it.
 */
function toReportedAuditEvent(item: TrailItem, reported: NonNullable<TrailItem['reported']>): Record<string, unknown> {
  const purposes = [];
  if (isPurpose(item.purpose)) purposes.push({ coding: [PURPOSE_CODES[item.purpose]] });
  else if (item.purpose) purposes.push({ coding: [{ code: item.purpose }] });
  const entities: Array<Record<string, unknown>> = [];
  if (item.patientId) {
    entities.push({
      what: { identifier: { system: 'https://custos.dev/fhir/patient-id', value: item.patientId }, type: 'Patient' },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
    });
  }
  entities.push({ what: /^([a-z]+:\/\/\S+\/)?[A-Z][A-Za-z]+\/\S+$/.test(item.resourceId) ? { reference: item.resourceId } : { identifier: { value: item.resourceId } }, description: item.resourceType });
  entities.push({ what: { identifier: { system: `https://custos.dev/fhir/reported/${reported.source}`, value: reported.auditEventId } }, description: 'the AuditEvent as reported by its source' });
  return {
    resourceType: 'AuditEvent',
    id: item.eventId,
    meta: { tag: [{ system: 'https://custos.dev/fhir/CodeSystem/provenance', code: 'reported', display: `reported by ${reported.source}, not decided by Custos` }] },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    ...(ACTION_CODES[item.action] ? { action: ACTION_CODES[item.action] } : {}),
    recorded: reported.recorded,
    ...(reported.outcome !== null ? { outcome: reported.outcome } : {}),
    outcomeDesc: reported.note,
    ...(purposes.length > 0 ? { purposeOfEvent: purposes } : {}),
    agent: [
      {
        who: { identifier: { system: 'https://custos.dev/fhir/reported-agent', value: item.actor.id } },
        // The source's own codes, namespaced (`reported:…`) under a system of their own: never Custos' role system.
        ...(item.actor.roles.length > 0 ? { role: item.actor.roles.map((r) => ({ coding: [{ system: 'https://custos.dev/fhir/CodeSystem/reported-role', code: r }] })) } : {}),
        requestor: true,
      },
    ],
    source: { observer: { identifier: { system: 'https://custos.dev/fhir/client-id', value: reported.source } } },
    entity: entities,
  };
}

export function toAuditBundle(items: TrailItem[], nextUrl: string | null): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: items.length,
    ...(nextUrl ? { link: [{ relation: 'next', url: nextUrl }] } : {}),
    entry: items.map((item) => ({ fullUrl: `urn:uuid:${item.eventId}`, resource: toAuditEvent(item) })),
  };
}

/**
 * The FHIR answer to an ingested Bundle: a `batch-response` or `transaction-response` Bundle,
 * one entry per AuditEvent in the order posted, `201 Created` (or `200 OK` for a retry of an
 * AuditEvent already reported), located at the AuditEvent Custos' trail shows for it
 * (`AuditEvent/<eventId>`, as in `?format=fhir`).
 */
export function toIngestResponseBundle(kind: 'batch' | 'transaction', entries: ReadonlyArray<{ auditEventId: string; eventId: string; sequence: number; duplicate: boolean }>): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type: `${kind}-response`,
    entry: entries.map((e) => ({
      response: {
        status: e.duplicate ? '200 OK' : '201 Created',
        location: `AuditEvent/${e.eventId}`,
        outcome: {
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'information',
              code: e.duplicate ? 'duplicate' : 'informational',
              diagnostics: `${e.duplicate ? 'already reported' : 'recorded'}: AuditEvent ${e.auditEventId} of this source is event ${e.eventId} at sequence ${e.sequence}, reported, not decided by Custos`,
            },
          ],
        },
      },
    })),
  };
}
