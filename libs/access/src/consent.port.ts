import type { Purpose } from '@custos/authz';

/**
 * What the access decision needs to know of a patient's consent, read from the event store
 * (never from a lagging projection). The consent context implements it in its own issue;
 * until then `DefaultConsent` answers with the defaults: nothing is granted for RESEARCH,
 * AI_TRAINING or PUBLIC_HEALTH.
 */
export abstract class ConsentPort {
  abstract consentFor(patientId: string, purpose: Purpose, at: Date): Promise<{ granted: boolean; version: number }>;
}

export class DefaultConsent extends ConsentPort {
  async consentFor(_patientId: string, purpose: Purpose): Promise<{ granted: boolean; version: number }> {
    return { granted: purpose === 'TREATMENT' || purpose === 'OPERATIONS', version: 0 };
  }
}
