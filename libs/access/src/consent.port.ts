import type { Purpose, ResourceType } from '@custos/authz';

/** The data category a resource type belongs to, for consent. */
export function categoryOf(resourceType: ResourceType): 'IMAGING' | 'ANNOTATIONS' | 'REPORTS' {
  return resourceType === 'image' ? 'IMAGING' : resourceType === 'annotation' ? 'ANNOTATIONS' : 'REPORTS';
}

/**
 * What the access decision needs to know of a patient's consent, read from the event store
 * (never from a lagging projection). The consent context implements it (StoreConsent);
 * `DefaultConsent` answers with the defaults alone: nothing granted for RESEARCH, AI_TRAINING
 * or PUBLIC_HEALTH.
 */
export abstract class ConsentPort {
  abstract consentFor(
    patientId: string,
    purpose: Purpose,
    category: 'IMAGING' | 'ANNOTATIONS' | 'DEMOGRAPHICS' | 'REPORTS',
    at: Date,
    recipients: readonly string[],
  ): Promise<{ granted: boolean; version: number }>;
}

export class DefaultConsent extends ConsentPort {
  async consentFor(_patientId: string, purpose: Purpose): Promise<{ granted: boolean; version: number }> {
    return { granted: purpose === 'TREATMENT' || purpose === 'OPERATIONS', version: 0 };
  }
}
