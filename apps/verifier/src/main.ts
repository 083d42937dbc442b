import { readFile } from 'node:fs/promises';
import { verifyBundle } from './verify-bundle.js';

/**
 * custos-verifier bundle.json [--jwks file] [--trusted checkpoint.jws]
 * Exit 0 with a summary, 1 on a usage or read error, 2 naming the first check that failed.
 */
async function main(argv: string[]): Promise<number> {
  const args = [...argv];
  const take = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    if (i < 0) return undefined;
    const [, value] = args.splice(i, 2);
    return value;
  };
  const jwksFile = take('--jwks');
  const trustedFile = take('--trusted');
  const [file] = args;
  if (!file || args.length !== 1) {
    process.stderr.write('usage: custos-verifier bundle.json [--jwks jwks.json] [--trusted checkpoint.jws]\n');
    return 1;
  }
  const bundle = JSON.parse(await readFile(file, 'utf8')) as unknown;
  const jwks = jwksFile ? (JSON.parse(await readFile(jwksFile, 'utf8')) as object) : undefined;
  const trusted = trustedFile ? (await readFile(trustedFile, 'utf8')).trim() : undefined;
  const report = await verifyBundle(bundle, { ...(jwks ? { jwks } : {}), ...(trusted ? { trusted } : {}) });
  process.stdout.write(`${JSON.stringify(report)}\n`);
  if (!report.ok) process.stderr.write(`FAILED: ${report.failure}\n`);
  return report.ok ? 0 : 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`custos-verifier: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
