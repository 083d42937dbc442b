import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The contract as client generators see it (scripts/contract/check.sh): the built gateway's
 * /docs/openapi.json passes `redocly lint` with no error and `openapi-generator validate`
 * without --skip-validate-spec, and a typescript-fetch client generated from it compiles under
 * `strict` and registers an image, asks for an access and reads the trail on a running gateway.
 */
const root = fileURLToPath(new URL('../../..', import.meta.url));

it('generates a strict TypeScript client that calls the running gateway', async () => {
  const { stdout } = await promisify(execFile)('bash', ['scripts/contract/check.sh'], { cwd: root, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } });
  // redocly lint exits non-zero on any error (set -e); its verdict goes to stderr
  expect(stdout).toMatch(/No validation issues detected/);
  expect(stdout).toMatch(/\[contract\] generated client: image registered, access PERMIT, trail of 2/);
  expect(stdout).toMatch(/\[contract\] OK/);
}, 600_000);
