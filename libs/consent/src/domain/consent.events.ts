import type { PersonalFields } from '@custos/decider';
import type { DataCategory, Purpose } from '@custos/vocabulary';

/** How the consent reached Custos. */
export type ConsentChannel = 'patient-portal' | 'paper';

export const RECIPIENT_TYPES = ['user', 'dataset', 'organization'] as const;
export type RecipientType = (typeof RECIPIENT_TYPES)[number];

/** Who a grant is limited to: a user, a dataset or an organisation, never conflated. */
export interface Recipient {
  readonly type: RecipientType;
  readonly id: string;
}

interface Provenance {
  readonly channel: ConsentChannel;
  /** Paper consents: who captured it, and the reference of the signed form. */
  readonly capturedBy?: string;
  readonly evidenceRef?: string;
}

/** The patient (or a steward, from paper) set a purpose to granted or denied. Schema v2: typed recipients. */
export interface ConsentChangedData extends Provenance {
  readonly patientId: string;
  readonly purpose: Purpose;
  readonly status: 'granted' | 'denied';
  readonly categories: readonly DataCategory[];
  /** ISO instant; a grant past it counts as denied. */
  readonly expiresAt: string | null;
  /** Whom the grant is limited to; empty: no limit. */
  readonly recipients: readonly Recipient[];
}

/** The explicit choice for a purpose was withdrawn: the purpose is back to its default. */
export interface ConsentWithdrawnData extends Provenance {
  readonly patientId: string;
  readonly purpose: Purpose;
}

export type ConsentChanged = { readonly type: 'ConsentChanged'; readonly data: ConsentChangedData };
export type ConsentWithdrawn = { readonly type: 'ConsentWithdrawn'; readonly data: ConsentWithdrawnData };
export type ConsentEvent = ConsentChanged | ConsentWithdrawn;

export function consentStreamId(patientId: string): string {
  return `consent-${patientId}`;
}

/** Personal fields: the reference of a signed paper form points at a document about the patient. */
export const CONSENT_PERSONAL: PersonalFields<ConsentEvent> = {
  ConsentChanged: ['evidenceRef'],
  ConsentWithdrawn: ['evidenceRef'],
};
