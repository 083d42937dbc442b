import type { StoredEvent } from '@custos/event-store';
import type { PayloadCipher } from '@custos/keys';
import { consentCodec } from './consent.codec.js';
import type { ReceiptSigner } from './receipts.js';

/**
 * A consent receipt for one consent event, after the Kantara Consent Receipt fields: who
 * (piiPrincipalId), what (purpose, categories, status), until when, to whom, how collected,
 * when; `jti` is the event id. Re-issuing for the same version signs the same claims again.
 */
export class ConsentReceipts {
  constructor(
    private readonly signer: ReceiptSigner,
    private readonly issuer: string,
    private readonly cipher?: PayloadCipher,
  ) {}

  claimsFor(event: StoredEvent): Record<string, unknown> {
    const at = Math.floor(new Date(event.occurredAt).getTime() / 1000);
    const decoded = consentCodec.decode(event);
    const d = decoded.data;
    const changed = decoded.type === 'ConsentChanged' ? decoded.data : undefined;
    const status = changed ? changed.status : 'withdrawn';
    return {
      iss: this.issuer,
      iat: at,
      jti: event.eventId,
      sub: d.patientId,
      version: event.version,
      consentReceiptID: event.eventId,
      consentTimestamp: at,
      collectionMethod: d.channel,
      piiPrincipalId: d.patientId,
      purpose: d.purpose,
      categories: changed ? changed.categories : [],
      status,
      expiresAt: changed ? changed.expiresAt : null,
      recipients: changed ? changed.recipients : [],
      ...(d.capturedBy ? { capturedBy: d.capturedBy } : {}),
      // Personal: in the receipt only for a reader entitled to it (opened by receiptFor).
      ...(typeof d.evidenceRef === 'string' ? { evidenceRef: d.evidenceRef } : {}),
      services: [
        {
          service: 'custos-medical-imaging-ai',
          purposes: [
            {
              purpose: d.purpose,
              consentType: 'EXPLICIT',
              purposeCategory: changed ? changed.categories : [],
              status,
              termination: changed ? changed.expiresAt : null,
              thirdPartyDisclosure: changed !== undefined && changed.recipients.length > 0,
              thirdPartyName: changed ? changed.recipients.map((r) => `${r.type}:${r.id}`) : [],
            },
          ],
        },
      ],
    };
  }

  /** Signs the receipt of a stored consent event; `allowed` says which personal fields the reader may see. */
  async receiptFor(event: StoredEvent, allowed: (field: string) => boolean = () => false): Promise<string> {
    return this.signer.sign(this.claimsFor(this.cipher ? await this.cipher.reveal(event, allowed) : event));
  }
}
