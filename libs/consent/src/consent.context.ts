import { CONSENT_PERSONAL } from './domain/consent.events.js';
import { EventStore } from '@custos/event-store';
import { KeyService, PayloadCipher } from '@custos/keys';
import type { CustosContext } from '@custos/kernel';
import { isPurpose } from '@custos/vocabulary';
import type { ConsentRules } from './domain/consent.decide.js';
import { CONSENT_COMMAND_HANDLERS, CONSENT_RULES } from './consent.handlers.js';
import { DATA_PROTECTION_COMMAND_HANDLERS } from './data-protection.handlers.js';
import { CONSENT_QUERY_HANDLERS } from './consent.queries.js';
import { ConsentReader } from './consent-reader.js';
import { ConsentReceipts } from './consent.receipts.js';
import { DatasetWithdrawalsProjection } from './dataset-withdrawals.repository.js';
import { Consent1764000003000 } from './migrations/1764000003000-consent.js';
import { ReceiptSigner } from './receipts.js';

export const consentContext: CustosContext = {
  name: 'consent',
  personal: CONSENT_PERSONAL,
  migrations: [Consent1764000003000],
  projections: () => [new DatasetWithdrawalsProjection()],
  gatewayProviders: (config) => {
    const rules: ConsentRules = { defaultGranted: config.consent.defaultGranted.filter(isPurpose), restrictable: config.consent.restrictable.filter(isPurpose) };
    return [
      ...CONSENT_COMMAND_HANDLERS,
      ...DATA_PROTECTION_COMMAND_HANDLERS,
      ...CONSENT_QUERY_HANDLERS,
      { provide: CONSENT_RULES, useValue: rules },
      { provide: ReceiptSigner, useFactory: (keys: KeyService) => ReceiptSigner.open(keys, config.consent.receiptKeyFile), inject: [KeyService] },
      { provide: ConsentReceipts, useFactory: (signer: ReceiptSigner, cipher: PayloadCipher) => new ConsentReceipts(signer, 'custos', cipher), inject: [ReceiptSigner, PayloadCipher] },
      { provide: ConsentReader, useFactory: (store: EventStore) => new ConsentReader(store, rules), inject: [EventStore] },
    ];
  },
};
