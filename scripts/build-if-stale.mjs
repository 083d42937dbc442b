// `npm start` builds only when the sources changed since the last build.
//
// A fingerprint of every input of `npm run build` (path, size and mtime of each .ts file
// under apps/, libs/ and bench/, the tsconfigs, package.json and the lockfile) is kept in
// dist/.build-stamp after a successful build. Same fingerprint: nothing to do (about 30 ms).
// Any file added, removed, edited or touched: one full build, then a new stamp. A failed
// build leaves no stamp, so the next start tries again. `npm run build` writes the stamp too
// (postbuild: `--stamp`), so a build by hand counts.
//
//   node scripts/build-if-stale.mjs           build if stale
//   node scripts/build-if-stale.mjs --check   exit 0 when fresh, 3 when stale; builds nothing
//   node scripts/build-if-stale.mjs --stamp   record the current sources as built
// CUSTOS_BUILD_ROOT points it at another tree (the tests use a scratch one).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = process.env.CUSTOS_BUILD_ROOT ?? join(import.meta.dirname, '..');
const stamp = join(root, 'dist', '.build-stamp');
const inputs = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json', '.swcrc'];

function walk(dir, out) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
}

function fingerprint() {
  const files = [];
  for (const dir of ['apps', 'libs', 'bench']) walk(join(root, dir), files);
  for (const f of inputs) if (existsSync(join(root, f))) files.push(join(root, f));
  const hash = createHash('sha256');
  for (const f of files.sort()) {
    const s = statSync(f);
    hash.update(`${relative(root, f)}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return hash.digest('hex');
}

const mode = process.argv[2];
const now = fingerprint();
if (mode === '--stamp') {
  writeFileSync(stamp, `${now}\n`);
  process.exit(0);
}
const built = existsSync(stamp) && existsSync(join(root, 'dist', 'apps', 'gateway', 'src', 'main.js')) ? readFileSync(stamp, 'utf8').trim() : '';
if (mode === '--check') process.exit(built === now ? 0 : 3);
if (built === now) process.exit(0);

process.stderr.write('[build-if-stale] sources changed since the last build: building\n');
const result = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1); // postbuild wrote the stamp
