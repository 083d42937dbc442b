/**
 * The differential-privacy figures for `npm run bench` (BENCH_ONLY=dp alone: no database,
 * no Kafka): draws/s of the exact discrete Laplace sampler over `crypto.randomInt` beside raw
 * `crypto.randomInt` calls/s, at ε 0.1, 1 and 2 and sensitivities 1 and 20; then a balance
 * report's pure part (counting with clips, then noising every count) over BENCH_DP_PATIENTS
 * (100,000) synthetic patients, p50/p99 over 20 runs. The pure part only: opening the sealed
 * demographics and reading the read models are not in it.
 */
import { randomInt } from 'node:crypto';
import { cryptoRandom, groupDomains, type PatientContribution, releaseCells, releaseParts, sampleDiscreteLaplace, scaleFor, trueCells } from '@custos/fairness';

type Report = (what: string, count: number, seconds: number, raw?: { what: string; perSecond: number }) => number;

function seconds(work: () => void): number {
  const t0 = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

export function dpFigures(report: Report, results: Array<{ what: string; perSecond: number }>): void {
  const DRAWS = Number(process.env.BENCH_DP_DRAWS ?? 200_000);
  let sink = 0;
  const raw = report(
    'raw crypto.randomInt(0, 2) calls',
    DRAWS * 5,
    seconds(() => {
      for (let i = 0; i < DRAWS * 5; i++) sink += randomInt(0, 2);
    }),
  );
  const calls = { n: 0 };
  const countingSource = { below: (n: number): number => (calls.n++, randomInt(0, n)) };
  for (const sensitivity of [1, 20]) {
    for (const epsilon of [0.1, 1, 2]) {
      const scale = scaleFor(sensitivity, Math.round(epsilon * 1e6));
      calls.n = 0;
      for (let i = 0; i < 10_000; i++) sink += sampleDiscreteLaplace(scale, countingSource);
      const perDraw = calls.n / 10_000;
      report(
        `DLap draws, ε ${epsilon}, Δ ${sensitivity} (${perDraw.toFixed(1)} randomInt calls/draw)`,
        DRAWS,
        seconds(() => {
          for (let i = 0; i < DRAWS; i++) sink += sampleDiscreteLaplace(scale, cryptoRandom);
        }),
        { what: 'raw randomInt', perSecond: raw },
      );
    }
  }

  const PATIENTS = Number(process.env.BENCH_DP_PATIENTS ?? 100_000);
  const ethnicity = ['asian', 'black', 'white', 'mixed', 'other', 'unknown'];
  const domains = groupDomains(ethnicity);
  const labels = ['nodule', 'effusion', 'fracture', 'mass', 'opacity'];
  const sexes = ['female', 'male', 'other', 'unknown'];
  const bands = ['0-17', '18-39', '40-64', '65+', 'unknown'];
  const patients: PatientContribution[] = Array.from({ length: PATIENTS }, (_, i) => ({
    groups: { sex: sexes[i % 4] as string, ageBand: bands[(i >> 2) % 5] as string, ethnicity: ethnicity[(i * 7) % 6] as string },
    images: 1 + (i % 30),
    annotations: Object.fromEntries(labels.map((l, j) => [l, (i + j) % 4])),
  }));
  const clips = { images: 20, annotations: 50 };
  const parts = releaseParts(1_000_000, clips);
  const by = ['sex', 'ageBand', 'ethnicity'] as const;
  const times: number[] = [];
  const counting: number[] = [];
  const noising: number[] = [];
  for (let run = 0; run < 21; run++) {
    let cells: ReturnType<typeof trueCells> = [];
    const c = seconds(() => {
      cells = trueCells(patients, by, domains, labels, clips);
    });
    const n = seconds(() => {
      sink += releaseCells(cells, parts, labels, cryptoRandom).length;
    });
    if (run === 0) continue; // the first run warms up
    times.push((c + n) * 1000);
    counting.push(c * 1000);
    noising.push(n * 1000);
  }
  for (const list of [times, counting, noising]) list.sort((a, b) => a - b);
  const p50 = percentile(times, 50);
  const p99 = percentile(times, 99);
  const cellCount = 4 * 5 * ethnicity.length;
  console.log(`${`balance report, pure part, ${PATIENTS.toLocaleString('en')} patients, ${cellCount} cells × ${2 + labels.length} counts`.padEnd(52)}   p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (20 runs, ε 1)`);
  console.log(`${'  of which counting (trueCells, clips)'.padEnd(52)}   p50 ${percentile(counting, 50).toFixed(1)} ms, p99 ${percentile(counting, 99).toFixed(1)} ms`);
  console.log(`${`  of which noising (releaseCells, ${cellCount * (2 + labels.length)} draws)`.padEnd(52)}   p50 ${percentile(noising, 50).toFixed(1)} ms, p99 ${percentile(noising, 99).toFixed(1)} ms`);
  results.push({ what: `balance report pure part p50 ms, ${PATIENTS} patients`, perSecond: p50 }, { what: `balance report pure part p99 ms, ${PATIENTS} patients`, perSecond: p99 });
  if (sink === Number.MIN_SAFE_INTEGER) console.log(sink); // keeps the work observable
}
