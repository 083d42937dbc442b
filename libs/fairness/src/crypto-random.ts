import { randomInt } from 'node:crypto';
import type { RandomSource } from './domain/random.js';

/**
 * The service's only source of randomness for releases: `crypto.randomInt` (the operating
 * system's CSPRNG, rejection-sampled by Node to a uniform integer). Ranges up to 2^48, which is
 * what `randomInt` takes and what the sampler asks for at most.
 */
export const cryptoRandom: RandomSource = {
  below: (n: number): number => randomInt(0, n),
};
