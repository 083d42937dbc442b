import type { Purpose } from '@custos/authz';

export const DATA_CATEGORIES = ['IMAGING', 'ANNOTATIONS', 'DEMOGRAPHICS', 'REPORTS'] as const;
export type DataCategory = (typeof DATA_CATEGORIES)[number];

/** How the consent reached Custos. */
export type ConsentChannel = 'patient-portal' | 'paper';

interface Provenance {
  readonly channel: ConsentChannel;
  /** Paper consents: who captured it, and the reference of the signed form. */
  readonly capturedBy?: string;
  readonly evidenceRef?: string;
}

/** The patient (or a steward, from paper) set a purpose to granted or denied. */
export interface ConsentChangedData extends Provenance {
  readonly patientId: string;
  readonly purpose: Purpose;
  readonly status: 'granted' | 'denied';
  readonly categories: readonly DataCategory[];
  /** ISO instant; a grant past it counts as denied. */
  readonly expiresAt: string | null;
  /** Organisations or dataset ids the grant is limited to; empty: no limit. */
  readonly recipients: readonly string[];
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
