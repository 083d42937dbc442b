/**
 * A seeded source of uniform integers, for tests only (the service draws from
 * `crypto.randomInt`): sfc32 (Chris Doty-Humphrey's Small Fast Counting generator), 32 bits a
 * step, two steps for ranges beyond 2^32, rejection sampling so every integer below n is
 * equally likely. Same seed, same draws: a statistical test that fails can be replayed.
 */
export function seededRandom(seed: number): { below(n: number): number } {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 ^ (seed * 31);
  let c = 0xb7e15162 ^ (seed * 131);
  let d = 1;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) next();
  return {
    below(n: number): number {
      if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 48) throw new RangeError(`below(${n})`);
      if (n <= 2 ** 32) {
        const limit = 2 ** 32 - (2 ** 32 % n);
        for (;;) {
          const x = next();
          if (x < limit) return x % n;
        }
      }
      const span = 2 ** 48;
      const limit = span - (span % n);
      for (;;) {
        const x = next() * 2 ** 16 + (next() >>> 16);
        if (x < limit) return x % n;
      }
    },
  };
}
