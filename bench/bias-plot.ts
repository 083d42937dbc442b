/**
 * `npm run bias:plot`: docs/bias-plan.svg, the plan's trade-off drawn: the probability that a
 * balance report flags a group, against the group's true representation ratio, for releases at
 * ε = 0.1, 0.5 and 1.0. The group has a reference share of 0.1 in a dataset of 2,000 patients,
 * reported by one dimension (age band, 5 cells); the flag rule is the release's own (flagged
 * when the whole 95% interval is under 0.8), the probabilities the plan's (seeded Monte Carlo).
 * Hand-written SVG, no plotting library.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AGE_BANDS, flagProbability, releaseParts } from '@custos/fairness';

const EPSILONS = [0.1, 0.5, 1.0] as const;
const COLOURS = ['#d95f02', '#7570b3', '#1b9e77'] as const;
const MIN_RATIO = 0.8;
const TOTAL = 2000;
const SHARE = 0.1;
const DRAWS = 20_000;
const ratios = Array.from({ length: 51 }, (_, i) => Math.round((0.2 + 0.02 * i) * 100) / 100);

const W = 640;
const H = 420;
const M = { left: 64, right: 24, top: 48, bottom: 56 };
const x = (r: number): number => M.left + ((r - 0.2) / 1.0) * (W - M.left - M.right);
const y = (p: number): number => H - M.bottom - p * (H - M.top - M.bottom);
const f = (v: number): string => v.toFixed(1);

const series = EPSILONS.map((epsilon) => {
  const parts = releaseParts(Math.round(epsilon * 1e6), { images: 20, annotations: 50 });
  return ratios.map((trueRatio) => ({ trueRatio, p: flagProbability({ trueRatio, referenceShare: SHARE, total: TOTAL, groupCells: 1, totalCells: AGE_BANDS.length, scale: parts.patients.scale, minRatio: MIN_RATIO }, DRAWS) }));
});

const out: string[] = [];
out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">Chance a group is flagged, by its true representation ratio</text>`);
out.push(`<text x="${W / 2}" y="36" text-anchor="middle" fill="#555">reference share ${SHARE}, ${TOTAL.toLocaleString('en')} patients, one dimension (5 cells), flag when the 95% interval is under ${MIN_RATIO}</text>`);
// axes and grid
for (let t = 0; t <= 10; t++) {
  const r = 0.2 + t * 0.1;
  out.push(`<line x1="${f(x(r))}" y1="${f(y(0))}" x2="${f(x(r))}" y2="${f(y(1))}" stroke="#eeeeee"/>`);
  out.push(`<line x1="${f(x(r))}" y1="${f(y(0))}" x2="${f(x(r))}" y2="${f(y(0) + 5)}" stroke="#333"/>`);
  out.push(`<text x="${f(x(r))}" y="${f(y(0) + 18)}" text-anchor="middle">${r.toFixed(1)}</text>`);
}
for (let t = 0; t <= 5; t++) {
  const p = t / 5;
  out.push(`<line x1="${f(x(0.2))}" y1="${f(y(p))}" x2="${f(x(1.2))}" y2="${f(y(p))}" stroke="#eeeeee"/>`);
  out.push(`<line x1="${f(x(0.2) - 5)}" y1="${f(y(p))}" x2="${f(x(0.2))}" y2="${f(y(p))}" stroke="#333"/>`);
  out.push(`<text x="${f(x(0.2) - 8)}" y="${f(y(p) + 4)}" text-anchor="end">${p.toFixed(1)}</text>`);
}
out.push(`<line x1="${f(x(0.2))}" y1="${f(y(0))}" x2="${f(x(1.2))}" y2="${f(y(0))}" stroke="#333"/>`);
out.push(`<line x1="${f(x(0.2))}" y1="${f(y(0))}" x2="${f(x(0.2))}" y2="${f(y(1))}" stroke="#333"/>`);
out.push(`<text x="${f((x(0.2) + x(1.2)) / 2)}" y="${H - 16}" text-anchor="middle">true representation ratio (share in the dataset / reference share)</text>`);
out.push(`<text transform="translate(18 ${f((y(0) + y(1)) / 2)}) rotate(-90)" text-anchor="middle">P(flagged)</text>`);
// the minimum
out.push(`<line x1="${f(x(MIN_RATIO))}" y1="${f(y(0))}" x2="${f(x(MIN_RATIO))}" y2="${f(y(1))}" stroke="#000" stroke-dasharray="5 4"/>`);
out.push(`<text x="${f(x(MIN_RATIO) + 4)}" y="${f(y(1) + 12)}">minimum ${MIN_RATIO}</text>`);
// the curves
series.forEach((points, i) => {
  const d = points.map((pt) => `${f(x(pt.trueRatio))},${f(y(pt.p))}`).join(' ');
  out.push(`<polyline fill="none" stroke="${COLOURS[i]}" stroke-width="2" points="${d}"/>`);
});
// legend
EPSILONS.forEach((epsilon, i) => {
  const ly = y(0.62) + i * 18;
  out.push(`<line x1="${f(x(0.93))}" y1="${f(ly)}" x2="${f(x(0.98))}" y2="${f(ly)}" stroke="${COLOURS[i]}" stroke-width="2"/>`);
  out.push(`<text x="${f(x(0.99))}" y="${f(ly + 4)}">ε = ${epsilon.toFixed(1)}</text>`);
});
out.push('</svg>');

const path = resolve(import.meta.dirname, '../../docs/bias-plan.svg');
writeFileSync(path, `${out.join('\n')}\n`);
for (const [i, epsilon] of EPSILONS.entries()) {
  const points = series[i] ?? [];
  const half = points.find((pt) => pt.p <= 0.5);
  console.log(`ε ${epsilon}: P(flag) falls through 0.5 at ratio ${half?.trueRatio ?? 'n/a'}; at 0.8: ${points.find((pt) => pt.trueRatio === 0.8)?.p.toFixed(3)}; at 1.0: ${points.find((pt) => pt.trueRatio === 1)?.p.toFixed(3)}`);
}
console.log(`written: docs/bias-plan.svg`);
