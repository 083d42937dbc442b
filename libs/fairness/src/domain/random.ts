/**
 * Where randomness comes from: one integer uniform on [0, n). The service's only source is
 * `crypto.randomInt` (bound by the context, outside the domain); tests pass a seeded one
 * (`@custos/testing` seededRandom) so a statistical test can be reproduced.
 */
export interface RandomSource {
  /** A uniform integer in [0, n); n a safe integer from 1 to 2^48. */
  below(n: number): number;
}

/** The largest range `crypto.randomInt` takes (max − min < 2^48). */
export const RANDOM_RANGE_MAX = 2 ** 48;

/** A Bernoulli(num/den) trial from integers only: true with probability num/den (0 ≤ num ≤ den). */
export function bernoulli(num: number, den: number, rng: RandomSource): boolean {
  if (!(Number.isSafeInteger(num) && Number.isSafeInteger(den)) || num < 0 || den < 1 || num > den) throw new RangeError(`bernoulli(${num}/${den}) is not a probability of integers`);
  if (num === 0) return false;
  if (num === den) return true;
  if (den > RANDOM_RANGE_MAX) throw new RangeError(`bernoulli denominator ${den} is beyond the source's range`);
  return rng.below(den) < num;
}
