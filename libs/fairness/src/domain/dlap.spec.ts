import { seededRandom } from '@custos/testing';
import { bernoulliExp, discreteLaplacePmf, noiseHalfWidth, noiseStandardDeviation, sampleDiscreteLaplace, type Scale, scaleFor, scaleValue, tailBeyond } from './dlap.js';
import { RANDOM_RANGE_MAX, type RandomSource } from './random.js';

/**
 * The sampler against its exact mass function (issue 20 §5): for ε in {0.1, 0.5, 1, 2}, 10^6
 * seeded draws each, a chi-square goodness-of-fit test passes (p > 0.001), and deliberately
 * biased samplers fail it (p < 1e-6). The p-value is the regularized upper incomplete gamma
 * Q(k/2, x/2), written here and checked against known values of the chi-square distribution.
 */

// ---- chi-square survival function -------------------------------------------------------

/** ln Γ(x), x > 0 (Lanczos, g = 7, n = 9: ~15 significant digits). */
function lnGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  const z = x - 1;
  let a = c[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (c[i] as number) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Q(a, x) = Γ(a, x)/Γ(a): the series for x < a + 1, Lentz's continued fraction beyond. */
function upperGammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - lnGamma(a));
  if (x < a + 1) {
    let term = 1 / a;
    let total = term;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      total += term;
      if (Math.abs(term) < Math.abs(total) * 1e-16) break;
    }
    return 1 - front * total;
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return front * h;
}

/** P(χ²_k > x). */
export function chiSquareSf(x: number, k: number): number {
  return upperGammaQ(k / 2, x / 2);
}

// ---- the test ---------------------------------------------------------------------------

interface Fit {
  readonly statistic: number;
  readonly dof: number;
  readonly p: number;
  readonly bins: number;
}

/**
 * Pearson's chi-square of `n` draws against DLap(σ): each integer z with expected count ≥ 5
 * is its own bin (a contiguous range −m..m, the pmf being symmetric and decreasing in |z|), the
 * two tails beyond are pooled into one bin each (merged into the edge bin when under 5).
 */
function chiSquare(draw: () => number, sigma: number, n: number): Fit {
  let m = 0;
  while (n * discreteLaplacePmf(m + 1, sigma) >= 5) m += 1;
  const tailExpected = (n * tailBeyond(m, sigma)) / 2;
  const poolTails = tailExpected >= 5;
  const lo = poolTails ? -m - 1 : -m; // bin index lo holds everything ≤ lo, hi everything ≥ hi
  const hi = poolTails ? m + 1 : m;
  const observed = new Float64Array(hi - lo + 1);
  for (let i = 0; i < n; i++) {
    const z = draw();
    observed[(z > hi ? hi : z < lo ? lo : z) - lo] += 1; // no Math.* in the loop: a global lookup costs ~0.4 µs under Jest
  }
  const expectedAt = (z: number): number => {
    if (z === lo) return n * (tailBeyond(-lo - 1, sigma) / 2);
    if (z === hi) return n * (tailBeyond(hi - 1, sigma) / 2);
    return n * discreteLaplacePmf(z, sigma);
  };
  let statistic = 0;
  for (let z = lo; z <= hi; z++) {
    const e = expectedAt(z);
    const o = observed[z - lo] as number;
    statistic += ((o - e) * (o - e)) / e;
  }
  const bins = hi - lo + 1;
  return { statistic, dof: bins - 1, p: chiSquareSf(statistic, bins - 1), bins };
}

const EPSILONS = [0.1, 0.5, 1, 2] as const;
const DRAWS = 1_000_000;

describe('chi-square survival function (checked before it judges the sampler)', () => {
  it.each([
    [3.841458820694124, 1, 0.05],
    [6.634896601021214, 1, 0.01],
    [18.307038053275146, 10, 0.05],
    [2, 2, Math.exp(-1)],
    [10, 2, Math.exp(-5)],
    [100, 100, 0.48119168619],
    [149.44925, 100, 0.001],
    [1, 3, 0.8012519569012008],
    [50, 3, 7.989179244951472e-11],
  ])('P(χ²(%d, k=%d)) = %d', (x, k, expected) => {
    expect(chiSquareSf(x, k)).toBeCloseTo(expected, 6);
    expect(Math.abs(chiSquareSf(x, k) - expected) / expected).toBeLessThan(1e-4);
  });
});

describe('sampleDiscreteLaplace: chi-square against the exact pmf, 10^6 seeded draws per ε', () => {
  it.each(EPSILONS)('ε = %d passes (p > 0.001)', (epsilon) => {
    const scale = scaleFor(1, Math.round(epsilon * 1e6));
    const rng = seededRandom(20_000 + Math.round(epsilon * 10));
    const fit = chiSquare(() => sampleDiscreteLaplace(scale, rng), scaleValue(scale), DRAWS);
    expect(fit.bins).toBeGreaterThanOrEqual(epsilon >= 2 ? 9 : 20);
    expect(fit.p).toBeGreaterThan(0.001);
  });

  it('a naive floating-point sampler (round a continuous Laplace) fails at ε ≥ 0.5 (p < 1e-6)', () => {
    // round(Laplace(σ)) puts e^{−|z|/σ}·sinh(1/2σ) on z ≠ 0 where DLap puts e^{−|z|/σ}·tanh(1/2σ):
    // a relative error of cosh(1/2σ) − 1 per bin, 3% at ε = 0.5 and 54% at ε = 2, but 0.125% at
    // ε = 0.1, which 10^6 draws cannot see (it would take ~10^8). The test states what it can detect.
    const naiveFit = (epsilon: number): Fit => {
      const sigma = 1 / epsilon;
      const rng = seededRandom(7);
      const { log, round } = Math;
      const uniform = (): number => (rng.below(2 ** 48) + 0.5) / 2 ** 48;
      const naive = (): number => {
        const magnitude = -sigma * log(uniform());
        return round(rng.below(2) === 1 ? -magnitude : magnitude);
      };
      return chiSquare(naive, sigma, DRAWS / 4); // the bias is ≥ 3% a bin here: 250,000 draws see it many times over
    };
    for (const epsilon of [0.5, 1, 2]) expect(naiveFit(epsilon).p).toBeLessThan(1e-6);
  });

  it('an off-by-one geometric parameter (t + 1 for t) fails (p < 1e-6)', () => {
    for (const epsilon of [0.1, 1] as const) {
      const scale = scaleFor(1, Math.round(epsilon * 1e6));
      const offByOne: Scale = { num: scale.num + 1, den: scale.den };
      const rng = seededRandom(8);
      expect(chiSquare(() => sampleDiscreteLaplace(offByOne, rng), scaleValue(scale), DRAWS / 5).p).toBeLessThan(1e-6);
    }
  });

  it('is reproducible: the same seed gives the same draws', () => {
    const scale = scaleFor(1, 500_000);
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 1000 }, () => sampleDiscreteLaplace(scale, a));
    expect(Array.from({ length: 1000 }, () => sampleDiscreteLaplace(scale, b))).toEqual(xs);
    expect(new Set(xs).size).toBeGreaterThan(5);
  });
});

describe('bernoulliExp (CKS20 Algorithm 1)', () => {
  it.each([
    [0, 1],
    [3, 10],
    [1, 1],
    [5, 2],
  ])('γ = %d/%d: frequency of success within 5σ of e^{−γ}', (num, den) => {
    const rng = seededRandom(num * 100 + den);
    const n = 200_000;
    let hits = 0;
    for (let i = 0; i < n; i++) if (bernoulliExp(num, den, rng)) hits += 1;
    const p = Math.exp(-num / den);
    const tolerance = 5 * Math.sqrt((p * (1 - p)) / n) + 1e-12;
    expect(Math.abs(hits / n - p)).toBeLessThanOrEqual(tolerance);
  });

  it('stays exact when den·k exceeds the source range (γ/k is then drawn as γ times 1/k)', () => {
    // den = 2^47 + 1: from k = 2 on, den·k > 2^48. The shortcut that returned "K odd" there was
    // biased for large denominators; the product of two Bernoulli trials is exact.
    const den = 2 ** 47 + 1;
    const num = den - 1; // γ ≈ 1
    const rng = seededRandom(99);
    const n = 200_000;
    let hits = 0;
    for (let i = 0; i < n; i++) if (bernoulliExp(num, den, rng)) hits += 1;
    const p = Math.exp(-num / den);
    expect(Math.abs(hits / n - p)).toBeLessThanOrEqual(5 * Math.sqrt((p * (1 - p)) / n));
  });

  it('refuses what is not a probability of integers', () => {
    const rng = seededRandom(1);
    expect(() => bernoulliExp(-1, 2, rng)).toThrow(RangeError);
    expect(() => bernoulliExp(1, 0, rng)).toThrow(RangeError);
    expect(() => bernoulliExp(0.5, 2, rng)).toThrow(RangeError);
    expect(() => bernoulliExp(1, 2 ** 49, rng)).toThrow(RangeError);
  });
});

describe('scaleFor', () => {
  it('is Δ/ε reduced to lowest terms', () => {
    expect(scaleFor(1, 1_000_000)).toEqual({ num: 1, den: 1 });
    expect(scaleFor(1, 100_000)).toEqual({ num: 10, den: 1 });
    expect(scaleFor(1, 2_000_000)).toEqual({ num: 1, den: 2 });
    expect(scaleFor(20, 250_000)).toEqual({ num: 80, den: 1 });
    expect(scaleFor(3, 333_333)).toEqual({ num: 1_000_000, den: 111_111 });
    expect(scaleFor(7, 700_001)).toEqual({ num: 7_000_000, den: 700_001 });
  });

  it('refuses a sensitivity or ε that is not a positive integer', () => {
    for (const [d, e] of [
      [0, 1],
      [1, 0],
      [-1, 5],
      [1.5, 5],
      [1, Number.NaN],
      [1, 2 ** 60],
    ] as const) {
      expect(() => scaleFor(d, e)).toThrow(RangeError);
    }
  });

  it('scales the noise with the sensitivity: Δ = 20 at ε is Δ = 1 at ε/20, in distribution', () => {
    const twenty = scaleFor(20, 1_000_000);
    const one = scaleFor(1, 50_000);
    expect(twenty).toEqual(one);
    const rng = seededRandom(5);
    const n = 100_000;
    let sumSq = 0;
    for (let i = 0; i < n; i++) sumSq += sampleDiscreteLaplace(twenty, rng) ** 2;
    const sd = noiseStandardDeviation(scaleValue(twenty));
    // E[Z²] = sd²; the sample mean of Z² has sd sd²·√(Var(Z²))/√n, Var(Z²) ≈ 5·sd⁴ for Laplace-like tails.
    expect(Math.abs(sumSq / n - sd * sd)).toBeLessThan(5 * sd * sd * Math.sqrt(5 / n));
    expect(sd).toBeGreaterThan(28);
    expect(sd).toBeLessThan(28.4); // √2·20 ≈ 28.28
  });
});

describe('noiseHalfWidth', () => {
  const coverage = (h: number, sigma: number): number => {
    let p = 0;
    for (let z = -h; z <= h; z++) p += discreteLaplacePmf(z, sigma);
    return p;
  };

  it.each([0.05, 0.5, 1, 2, 4, 10, 20, 80, 400])('σ = %d: covers ≥ 95%% and is the smallest that does', (sigma) => {
    const h = noiseHalfWidth(sigma);
    expect(coverage(h, sigma)).toBeGreaterThanOrEqual(0.95 - 1e-12);
    if (h > 0) expect(coverage(h - 1, sigma)).toBeLessThan(0.95);
  });

  it('the pmf sums to 1 and the tail formula agrees with it', () => {
    for (const sigma of [0.5, 3, 10]) {
      expect(coverage(Math.ceil(60 * sigma), sigma)).toBeCloseTo(1, 10);
      expect(1 - coverage(4, sigma)).toBeCloseTo(tailBeyond(4, sigma), 10);
    }
  });

  it('the standard deviation matches the pmf', () => {
    for (const sigma of [0.5, 2, 10]) {
      let v = 0;
      for (let z = -Math.ceil(60 * sigma); z <= Math.ceil(60 * sigma); z++) v += z * z * discreteLaplacePmf(z, sigma);
      expect(noiseStandardDeviation(sigma)).toBeCloseTo(Math.sqrt(v), 8);
    }
  });
});

describe('the source', () => {
  it('the sampler consumes only below(n) with 1 ≤ n ≤ 2^48', () => {
    const seen: number[] = [];
    const inner = seededRandom(3);
    const spy: RandomSource = {
      below: (n) => {
        seen.push(n);
        return inner.below(n);
      },
    };
    for (let i = 0; i < 1000; i++) sampleDiscreteLaplace(scaleFor(1, 100_000), spy);
    expect(seen.every((n) => Number.isSafeInteger(n) && n >= 1 && n <= RANDOM_RANGE_MAX)).toBe(true);
  });
});
