import { createServer } from 'node:http';
import { join } from 'node:path';
import jose from 'node-jose';
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
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' });
      res.end(JSON.stringify(status >= 400 ? { status, ...(body as object) } : body));
    };
    if (req.method === 'GET' && req.url === '/health') return send(200, { status: 'ok' });
    if (req.method === 'GET' && req.url === '/.well-known/jwks.json') return send(200, { keys: [witness.publicJwk()] });
    if (req.method !== 'POST' || req.url !== '/add-checkpoint') return send(404, { code: 'not-found' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 1_000_000) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return send(400, { code: 'bad-json' });
      }
      witness.add(body).then(
        (a) => send(a.status, a.body),
        () => send(503, { code: 'unavailable' }),
      );
    });
  });
  server.listen(Number(process.env.PORT ?? 3100), process.env.HOST ?? '127.0.0.1');
}

main().catch((e: unknown) => {
  process.stderr.write(`custos-witness: ${(e as Error).message}\n`);
  process.exit(1);
});
