import { createHash } from 'node:crypto';
import { DATA_CATEGORY_SYSTEM, PURPOSE_CODES } from '@custos/vocabulary';
import type { RecipientType } from './domain/consent.events.js';
import type { PurposeView } from './consent-reader.js';

const RECIPIENT_RESOURCE: Record<RecipientType, string> = { user: 'Practitioner', dataset: 'Group', organization: 'Organization' };

/**
 * A FHIR id for one patient's consent for one purpose: FHIR ids are `[A-Za-z0-9\-\.]{1,64}`,
 * so neither the purpose's `_` nor a long patient id may go in as they are. The patient and
 * purpose stay readable in `identifier`.
 */
export function fhirConsentId(patientId: string, purpose: string): string {
  return `consent-${purpose.toLowerCase().replace(/_/g, '-')}-${createHash('sha256').update(patientId).digest('hex').slice(0, 32)}`;
}

/** One FHIR R4 Consent per purpose: provision permit/deny, purpose, class per data category, period, typed recipients. */
export function toFhirConsents(patientId: string, purposes: PurposeView[], at: string): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    timestamp: at,
    entry: purposes.map((p) => ({
      fullUrl: `urn:custos:consent:${encodeURIComponent(patientId)}:${p.purpose}`,
      resource: {
        resourceType: 'Consent',
        id: fhirConsentId(patientId, p.purpose),
        meta: { versionId: String(p.version) },
        identifier: [{ system: 'https://custos.dev/fhir/consent', value: `${patientId}/${p.purpose}` }],
        status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy', display: 'Privacy Consent' }], text: 'data sharing for medical-imaging AI' },
        category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] }],
        patient: { identifier: { system: 'https://custos.dev/fhir/patient-id', value: patientId } },
        dateTime: at,
        policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: p.status === 'granted' ? 'OPTIN' : 'OPTOUT' }] },
        provision: {
          type: p.status === 'granted' ? 'permit' : 'deny',
          ...(p.expiresAt ? { period: { end: p.expiresAt } } : {}),
          purpose: [PURPOSE_CODES[p.purpose]],
          ...(p.categories.length ? { class: p.categories.map((c) => ({ system: DATA_CATEGORY_SYSTEM, code: c })) } : {}),
          ...(p.recipients.length
            ? {
                actor: p.recipients.map((r) => ({
                  role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] },
                  reference: { type: RECIPIENT_RESOURCE[r.type], identifier: { system: `https://custos.dev/fhir/recipient/${r.type}`, value: r.id } },
                })),
              }
            : {}),
        },
        extension: [{ url: 'https://custos.dev/fhir/StructureDefinition/consent-source', valueCode: p.source }],
      },
    })),
  };
}
