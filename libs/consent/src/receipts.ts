import { type KeyService, KeySigner } from '@custos/keys';

/**
 * Signs consent receipts (JWS, ES256, node-jose) with the key service's `receipts` key, whose
 * public half (and every retired one) is served at /.well-known/jwks.json, so anyone can
 * verify a receipt offline, before and after a rotation. A receipt key file from before the
 * key service (RECEIPT_KEY_FILE; embedded: DATA_DIR/keys/receipts.jwk.json) is brought under
 * it once, so receipts it signed still verify; a file there that cannot be read stops the
 * process at boot instead of silently making a new key.
 */
export class ReceiptSigner {
  private constructor(private readonly signer: KeySigner) {}

  static async open(keys: KeyService, legacyKeyFile?: string): Promise<ReceiptSigner> {
    const signer = new KeySigner(keys, 'receipts');
    await signer.adoptKeyFile(legacyKeyFile, 'RECEIPT_KEY_FILE');
    await keys.signingKey('receipts'); // in the JWKS before the first receipt
    return new ReceiptSigner(signer);
  }

  sign(claims: object): Promise<string> {
    return this.signer.sign(JSON.stringify(claims), { typ: 'JWT', cty: 'consent-receipt' });
  }
}
