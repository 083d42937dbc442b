import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * The contract as client generators see it (scripts/contract/check.sh): the built gateway's
 * /docs/openapi.json passes `redocly lint` with no error and `openapi-generator validate`
 * without --skip-validate-spec, and a typescript-fetch client generated from it compiles under
 * `strict` and registers an image, asks for an access and reads the trail on a running gateway.
 */
const root = fileURLToPath(new URL('../../..', import.meta.url));

function run(): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['scripts/contract/check.sh'], { cwd: root, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: `${stdout}\n--- stderr ---\n${stderr}` });
    });
  });
}

it('generates a strict TypeScript client that calls the running gateway', async () => {
  const { code, out } = await run();
  // redocly lint and the generator exit non-zero on any error (set -e); on failure, show why
  if (code !== 0) throw new Error(`scripts/contract/check.sh exited ${code}:\n${out.slice(-6000)}`);
  expect(out).toMatch(/No validation issues detected/);
  expect(out).toMatch(/\[contract\] generated client: image registered, access PERMIT, trail of \d+/);
  expect(out).toMatch(/\[contract\] OK/);
}, 600_000);
