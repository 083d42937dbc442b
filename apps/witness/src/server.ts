import { createServer, type Server } from 'node:http';
import type { Witness } from './witness.js';

/**
 * The witness's HTTP face: POST /add-checkpoint {"checkpoint", "oldSize", "proof"};
 * GET /.well-known/jwks.json (its public key: what Custos checks its cosignatures with);
 * GET /health. Bodies above 1 MB are cut off.
 */
export function witnessServer(witness: Witness): Server {
  return createServer((req, res) => {
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
}
