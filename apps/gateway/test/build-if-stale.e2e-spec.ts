import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** `npm start` builds only when a source changed (scripts/build-if-stale.mjs), tried on a scratch tree. */
describe('npm start: build only when sources changed', () => {
  const script = join(process.cwd(), 'scripts', 'build-if-stale.mjs');
  let root: string;
  const run = (mode: string) => spawnSync(process.execPath, [script, mode], { env: { ...process.env, CUSTOS_BUILD_ROOT: root } }).status;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'custos-build-'));
    for (const dir of ['apps/gateway/src', 'libs/x/src', 'dist/apps/gateway/src']) mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, 'apps/gateway/src/main.ts'), 'export {};\n');
    writeFileSync(join(root, 'libs/x/src/index.ts'), 'export const x = 1;\n');
    writeFileSync(join(root, 'package.json'), '{}\n');
    writeFileSync(join(root, 'dist/apps/gateway/src/main.js'), '\n');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('is stale before any build, fresh after one, stale again after an edit, a new file, a removed file or a touch', () => {
    expect(run('--check')).toBe(3);
    expect(run('--stamp')).toBe(0);
    expect(run('--check')).toBe(0);
    writeFileSync(join(root, 'libs/x/src/index.ts'), 'export const x = 2;\n');
    expect(run('--check')).toBe(3);
    run('--stamp');
    writeFileSync(join(root, 'libs/x/src/extra.ts'), 'export {};\n');
    expect(run('--check')).toBe(3);
    run('--stamp');
    rmSync(join(root, 'libs/x/src/extra.ts'));
    expect(run('--check')).toBe(3);
    run('--stamp');
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, 'package.json'), later, later);
    expect(run('--check')).toBe(3);
    run('--stamp');
    expect(run('--check')).toBe(0);
    rmSync(join(root, 'dist/apps/gateway/src/main.js'));
    expect(run('--check')).toBe(3); // a stamp without the built entry point is not a build
  });
});
