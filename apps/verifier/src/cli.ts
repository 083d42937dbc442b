import { readFile } from 'node:fs/promises';
import { verifyBundle, type VerifyOptions } from './verify-bundle.js';

const USAGE =
  'usage: custos-verifier bundle.json (--jwks jwks.json | --jwks-url URL | --trust-bundle-keys) [--trusted checkpoint.jws] [--witness KEY]... [--min-cosignatures N]\n' +
  '  KEY: a witness public key as the witness publishes it (its /.well-known/jwks.json, or one JWK): a file, inline JSON or an http(s) URL\n';

/** A usage or read error: exit 1, no verdict. */
class UsageError extends Error {}

/** Where the verifier writes (process.stdout/stderr, or a test's buffers). */
export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

/**
 * custos-verifier: exit 0 with a summary, 2 with one `FAILED` line naming the first check that
 * failed (a malformed bundle included: its JSON path), 1 on a usage or read error. Never throws.
 */
export async function runVerifier(argv: readonly string[], out: Output): Promise<number> {
  try {
    return await main(argv, out);
  } catch (e) {
    out.stderr(`custos-verifier: ${e instanceof Error ? e.message : String(e)}\n`);
    if (e instanceof UsageError) out.stderr(USAGE);
    return 1;
  }
}

async function main(argv: readonly string[], out: Output): Promise<number> {
  const args = [...argv];
  const takeAll = (flag: string, withValue = true): string[] => {
    const values: string[] = [];
    for (let i = args.indexOf(flag); i >= 0; i = args.indexOf(flag)) {
      const [, value] = args.splice(i, withValue ? 2 : 1);
      if (withValue && (value === undefined || value.startsWith('--'))) throw new UsageError(`${flag} needs a value`);
      values.push(value ?? '');
    }
    return values;
  };
  const one = (flag: string): string | undefined => {
    const values = takeAll(flag);
    if (values.length > 1) throw new UsageError(`${flag} given more than once`);
    return values[0];
  };
  const jwksFile = one('--jwks');
  const jwksUrl = one('--jwks-url');
  const trustBundleKeys = takeAll('--trust-bundle-keys', false).length > 0;
  const trustedFile = one('--trusted');
  const witnessArgs = takeAll('--witness');
  const minText = one('--min-cosignatures');
  const [file] = args;
  if (!file || args.length !== 1 || file.startsWith('--')) throw new UsageError(args.find((a) => a.startsWith('--')) ? `unknown option ${args.find((a) => a.startsWith('--'))}` : 'one bundle file, please');
  if ([jwksFile, jwksUrl].filter(Boolean).length > 1 || ((jwksFile || jwksUrl) && trustBundleKeys)) throw new UsageError('give one source of keys: --jwks, --jwks-url or --trust-bundle-keys');
  let minCosignatures: number | undefined;
  if (minText !== undefined) {
    minCosignatures = Number(minText);
    if (!/^\d+$/.test(minText) || minCosignatures < 1 || minCosignatures > witnessArgs.length) throw new UsageError(`--min-cosignatures must be from 1 to the number of --witness keys given (${witnessArgs.length})`);
  }

  const jwks = jwksFile ? await readJson(jwksFile, '--jwks') : jwksUrl ? await fetchJson(jwksUrl, '--jwks-url') : undefined;
  const witnesses = await Promise.all(witnessArgs.map((w) => (w.trimStart().startsWith('{') ? parseJson(w, '--witness') : /^https?:\/\//.test(w) ? fetchJson(w, '--witness') : readJson(w, '--witness'))));
  const trusted = trustedFile ? (await readText(trustedFile, '--trusted')).trim() : undefined;
  if (trustBundleKeys) {
    out.stderr(
      'WARNING: --trust-bundle-keys: checking the bundle with the keys it carries itself. Whoever made the bundle chose them;\n' +
        'WARNING: a forged bundle passes this way. It shows only that the bundle agrees with itself, NOT that Custos signed it.\n',
    );
  }

  let bundle: unknown;
  try {
    bundle = JSON.parse(await readText(file, 'the bundle'));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    return verdict(out, { ok: false, failure: `$: the bundle is not JSON (${(e as Error).message})`, events: 0, streams: 0 });
  }
  const options: VerifyOptions = {
    ...(jwks ? { jwks } : {}),
    ...(trustBundleKeys ? { trustBundleKeys } : {}),
    ...(trusted ? { trusted } : {}),
    ...(witnesses.length > 0 ? { witnesses } : {}),
    ...(minCosignatures !== undefined ? { minCosignatures } : {}),
  };
  return verdict(out, await verifyBundle(bundle, options));
}

function verdict(out: Output, report: Awaited<ReturnType<typeof verifyBundle>>): number {
  out.stdout(`${JSON.stringify(report)}\n`);
  if (!report.ok) out.stderr(`FAILED: ${(report.failure ?? 'unknown').replace(/\s+/g, ' ')}\n`);
  return report.ok ? 0 : 2;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${what}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function parseJson(text: string, what: string): object {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${what}: not JSON (${(e as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`${what}: not a JWKS or JWK object`);
  return value;
}

async function readJson(path: string, what: string): Promise<object> {
  return parseJson(await readText(path, `${what} ${path}`), `${what} ${path}`);
}

async function fetchJson(url: string, what: string): Promise<object> {
  if (!/^https?:\/\//.test(url)) throw new UsageError(`${what} must be an http(s) URL`);
  let text: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000), redirect: 'error' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    text = await res.text();
  } catch (e) {
    throw new UsageError(`${what} ${url}: cannot fetch the keys (${(e as Error).message})`);
  }
  return parseJson(text, `${what} ${url}`);
}
