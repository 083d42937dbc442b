import { RANDOM_RANGE_MAX, type RandomSource } from './random.js';

/**
 * The discrete Laplace (two-sided geometric) mechanism, sampled exactly from integers after
 * Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020),
 * Algorithms 1 and 2. No floating-point number enters a sample: the scale is a ratio of integers
 * and every random choice is a uniform integer. Pure: the source of randomness comes in.
 *
 * DLap(σ) has mass P(z) = (e^{1/σ} − 1)/(e^{1/σ} + 1) · e^{−|z|/σ} on the integers. Adding
 * DLap(Δ/ε) to a count of L1 sensitivity Δ is ε-differentially private.
 */

// Bound once: inside a vm context (the tests' Jest) every global lookup in the hot loop costs
// about as much as a draw from the source.
const { isSafeInteger } = Number;
const { floor } = Math;

/** A scale σ = num/den, both positive safe integers. */
export interface Scale {
  readonly num: number;
  readonly den: number;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The scale Δ/ε for a sensitivity Δ (a positive integer) and ε in micro-epsilon: Δ·10^6/micros, reduced. */
export function scaleFor(sensitivity: number, epsilonMicros: number): Scale {
  if (!Number.isSafeInteger(sensitivity) || sensitivity < 1) throw new RangeError('sensitivity must be a positive integer');
  if (!Number.isSafeInteger(epsilonMicros) || epsilonMicros < 1) throw new RangeError('epsilon must be a positive number of micro-epsilon');
  const num = sensitivity * 1_000_000;
  const g = gcd(num, epsilonMicros);
  return { num: num / g, den: epsilonMicros / g };
}

/**
 * Bernoulli(γ/k) for 0 < γ = num/den ≤ 1, exactly, when den·k may exceed the source's range:
 * the product of Bernoulli(num/den) and Bernoulli(1/k), each from one uniform integer.
 */
function bernoulliRatio(num: number, den: number, k: number, rng: RandomSource): boolean {
  const d = den * k;
  if (d <= RANDOM_RANGE_MAX) return rng.below(d) < num;
  return rng.below(den) < num && rng.below(k) < 1;
}

/** Bernoulli(exp(−num/den)) for 0 ≤ num ≤ den, den ≤ 2^48 (the inner loop of Algorithm 1, arguments trusted). */
function bernoulliExpAtMostOne(num: number, den: number, rng: RandomSource): boolean {
  if (num === 0) return true; // Bernoulli(0) fails at once: K = 1, odd
  let k = 1;
  if (num === den) k = 2; // Bernoulli(γ/1) with γ = 1 succeeds without a draw
  while (bernoulliRatio(num, den, k, rng)) k += 1;
  return k % 2 === 1;
}

/**
 * Bernoulli(exp(−num/den)) (CKS20 Algorithm 1). For γ ≤ 1: draw K = 1, 2, … while
 * Bernoulli(γ/K) succeeds; K odd has probability e^{−γ}. For γ > 1: ⌊γ⌋ trials of
 * Bernoulli(e^{−1}) must all succeed, then one of Bernoulli(e^{−(γ−⌊γ⌋)}).
 */
export function bernoulliExp(num: number, den: number, rng: RandomSource): boolean {
  if (!isSafeInteger(num) || !isSafeInteger(den) || num < 0 || den < 1 || den > RANDOM_RANGE_MAX) throw new RangeError('bernoulliExp needs γ = num/den ≥ 0, integers, den at most 2^48');
  if (num <= den) return bernoulliExpAtMostOne(num, den, rng);
  const whole = floor(num / den);
  for (let i = 0; i < whole; i++) if (!bernoulliExpAtMostOne(1, 1, rng)) return false;
  return bernoulliExpAtMostOne(num - whole * den, den, rng);
}

/**
 * One draw of DLap(num/den) (CKS20 Algorithm 2, with t = num, s = den): X geometric with
 * parameter 1 − e^{−1/t} is built from a uniform U < t accepted with probability e^{−U/t} and a
 * count V of Bernoulli(e^{−1}) successes; Y = ⌊X/s⌋ is geometric with parameter 1 − e^{−s/t};
 * a fair sign, rejecting −0, makes it two-sided.
 */
export function sampleDiscreteLaplace(scale: Scale, rng: RandomSource): number {
  const t = scale.num;
  const s = scale.den;
  if (!isSafeInteger(t) || !isSafeInteger(s) || t < 1 || s < 1 || t > RANDOM_RANGE_MAX) throw new RangeError('the scale must be a ratio of positive integers, numerator at most 2^48');
  for (;;) {
    const u = rng.below(t);
    if (!bernoulliExpAtMostOne(u, t, rng)) continue;
    let v = 0;
    while (bernoulliExpAtMostOne(1, 1, rng)) v += 1;
    const x = u + t * v;
    const y = floor(x / s);
    const negative = rng.below(2) === 1;
    if (negative && y === 0) continue;
    return negative ? -y : y;
  }
}

// What follows describes the noise from its public parameters (σ), for reports and plans:
// floating point is fine here, nothing private enters it.

/** σ as a number. */
export function scaleValue(scale: Scale): number {
  return scale.num / scale.den;
}

/** P(Z = z) for Z ~ DLap(σ). */
export function discreteLaplacePmf(z: number, sigma: number): number {
  const q = Math.exp(-1 / sigma);
  return ((1 - q) / (1 + q)) * Math.exp(-Math.abs(z) / sigma);
}

/** The noise's standard deviation: √(2q)/(1 − q), q = e^{−1/σ}. */
export function noiseStandardDeviation(sigma: number): number {
  const q = Math.exp(-1 / sigma);
  return Math.sqrt(2 * q) / (1 - q);
}

/** P(|Z| > h) for Z ~ DLap(σ), h ≥ 0 an integer: 2q^{h+1}/(1 + q). */
export function tailBeyond(h: number, sigma: number): number {
  const q = Math.exp(-1 / sigma);
  return (2 * Math.pow(q, h + 1)) / (1 + q);
}

/** The smallest integer h with P(|Z| ≤ h) ≥ level: a noisy count c has the true count in [c − h, c + h] with that probability. */
export function noiseHalfWidth(sigma: number, level = 0.95): number {
  const q = Math.exp(-1 / sigma);
  // 2q^{h+1}/(1+q) ≤ 1 − level  ⇔  h ≥ ln((1 − level)(1 + q)/2)/ln q − 1
  let h = Math.max(0, Math.ceil(Math.log(((1 - level) * (1 + q)) / 2) / Math.log(q) - 1));
  while (h > 0 && tailBeyond(h - 1, sigma) <= 1 - level) h -= 1;
  while (tailBeyond(h, sigma) > 1 - level) h += 1;
  return h;
}
