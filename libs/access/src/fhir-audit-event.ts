import { PURPOSE_CODES, isPurpose } from '@custos/vocabulary';
import type { TrailItem } from './access-trail.repository.js';

/**
 * The access trail as FHIR R4 AuditEvent resources, shaped after IHE BALP (Basic Audit Log
 * Patterns): type/subtype of a RESTful read, action, recorded, outcome, purposeOfEvent, the
 * requesting agent, the source, and entities for the patient and for the resource.
 */

export function toAuditEvent(item: TrailItem): Record<string, unknown> {
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

export function toAuditBundle(items: TrailItem[], nextUrl: string | null): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: items.length,
    ...(nextUrl ? { link: [{ relation: 'next', url: nextUrl }] } : {}),
    entry: items.map((item) => ({ fullUrl: `urn:uuid:${item.eventId}`, resource: toAuditEvent(item) })),
  };
}
