import { join } from 'node:path';
import jose from 'node-jose';
import { witnessServer } from './server.js';
import { fileStorage, Witness, witnessKey } from './witness.js';

/**
 * custos-witness: WITNESS_NAME, WITNESS_DATA_DIR (default ./witness-data), WITNESS_LOG_JWKS_URL
 * (the log's /.well-known/jwks.json), PORT (default 3100), HOST (default 127.0.0.1).
 * POST /add-checkpoint {"checkpoint", "oldSize", "proof"}; GET /.well-known/jwks.json; GET /health.
 */
async function main(): Promise<void> {
  const name = process.env.WITNESS_NAME ?? 'custos-witness';
  const dir = process.env.WITNESS_DATA_DIR ?? './witness-data';
  const jwksUrl = process.env.WITNESS_LOG_JWKS_URL;
  if (!jwksUrl) throw new Error('WITNESS_LOG_JWKS_URL is required: the log whose checkpoints this witness checks');
  const key = await witnessKey(join(dir, 'witness.jwk.json'));
  const logKeys = async () => jose.JWK.asKeyStore((await (await fetch(jwksUrl, { signal: AbortSignal.timeout(5000) })).json()) as object);
  const witness = new Witness(name, key, logKeys, fileStorage(join(dir, 'state.json')));
  witnessServer(witness).listen(Number(process.env.PORT ?? 3100), process.env.HOST ?? '127.0.0.1');
}

main().catch((e: unknown) => {
  process.stderr.write(`custos-witness: ${(e as Error).message}\n`);
  process.exit(1);
});
