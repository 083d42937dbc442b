import type { StoredEvent } from '@custos/event-store';
import type { PayloadCipher } from '@custos/keys';
import type { ConsentChangedData, ConsentWithdrawnData } from './domain/consent.events.js';
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
    const withdrawn = event.type === 'ConsentWithdrawn';
    const d = consentCodec.decode(event).data as ConsentChangedData & ConsentWithdrawnData;
    const status = withdrawn ? 'withdrawn' : d.status;
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
      categories: withdrawn ? [] : d.categories,
      status,
      expiresAt: withdrawn ? null : d.expiresAt,
      recipients: withdrawn ? [] : d.recipients,
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
              purposeCategory: withdrawn ? [] : d.categories,
              status,
              termination: withdrawn ? null : d.expiresAt,
              thirdPartyDisclosure: !withdrawn && d.recipients.length > 0,
              thirdPartyName: withdrawn ? [] : d.recipients.map((r) => `${r.type}:${r.id}`),
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
