import { PURPOSE_CODES } from '@custos/access';
import type { PurposeView } from './consent.queries.js';


/** One FHIR R4 Consent per purpose: provision permit/deny, purpose, class per data category, period. */
export function toFhirConsents(patientId: string, purposes: PurposeView[], at: string): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    timestamp: at,
    entry: purposes.map((p) => ({
      fullUrl: `urn:custos:consent:${patientId}:${p.purpose}`,
      resource: {
        resourceType: 'Consent',
        id: `${patientId}-${p.purpose.toLowerCase()}`,
        meta: { versionId: String(p.version) },
        status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'research', display: 'Research' }], text: 'data sharing for medical-imaging AI' },
        category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] }],
        patient: { identifier: { system: 'https://custos.dev/fhir/patient-id', value: patientId } },
        dateTime: at,
        policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: p.status === 'granted' ? 'OPTIN' : 'OPTOUT' }] },
        provision: {
          type: p.status === 'granted' ? 'permit' : 'deny',
          ...(p.expiresAt ? { period: { end: p.expiresAt } } : {}),
          purpose: [PURPOSE_CODES[p.purpose]],
          class: p.categories.map((c) => ({ system: 'https://custos.dev/fhir/CodeSystem/data-category', code: c })),
          ...(p.recipients.length ? { actor: p.recipients.map((r) => ({ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { identifier: { value: r } } })) } : {}),
        },
        extension: [{ url: 'https://custos.dev/fhir/StructureDefinition/consent-source', valueCode: p.source }],
      },
    })),
  };
}
