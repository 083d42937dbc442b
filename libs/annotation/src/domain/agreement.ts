/**
 * Agreement between annotators, pure. An item (an image) carries one categorical rating per
 * rater (the label of their annotation there; see quality.ts for how several collapse).
 */

/** Cohen's kappa for two raters over the items both rated: (po - pe) / (1 - pe). */
export function cohensKappa(pairs: ReadonlyArray<readonly [string, string]>): number | null {
  const n = pairs.length;
  if (n === 0) return null;
  const categories = [...new Set(pairs.flat())];
  let agree = 0;
  const a = new Map<string, number>();
  const b = new Map<string, number>();
  for (const [x, y] of pairs) {
    if (x === y) agree += 1;
    a.set(x, (a.get(x) ?? 0) + 1);
    b.set(y, (b.get(y) ?? 0) + 1);
  }
  const po = agree / n;
  const pe = categories.reduce((s, c) => s + ((a.get(c) ?? 0) / n) * ((b.get(c) ?? 0) / n), 0);
  if (pe === 1) return po === 1 ? 1 : null; // one category only: kappa is undefined unless all agree
  return (po - pe) / (1 - pe);
}

/**
 * Fleiss' kappa from counts: `table[i][j]` raters put item i in category j. Items may have
 * different numbers of raters (at least two): P_i = (Σ_j n_ij² - n_i) / (n_i (n_i - 1)),
 * p_j = Σ_i n_ij / Σ_i n_i; with equal n_i this is Fleiss (1971).
 */
export function fleissKappa(table: ReadonlyArray<readonly number[]>): number | null {
  const rows = table.filter((r) => r.reduce((s, x) => s + x, 0) >= 2);
  if (rows.length === 0) return null;
  const k = Math.max(...rows.map((r) => r.length));
  let total = 0;
  const columns = new Array<number>(k).fill(0);
  let pSum = 0;
  for (const r of rows) {
    const ni = r.reduce((s, x) => s + x, 0);
    total += ni;
    r.forEach((x, j) => (columns[j] = (columns[j] as number) + x));
    pSum += (r.reduce((s, x) => s + x * x, 0) - ni) / (ni * (ni - 1));
  }
  const pBar = pSum / rows.length;
  const pe = columns.reduce((s, c) => s + (c / total) ** 2, 0);
  if (pe === 1) return pBar === 1 ? 1 : null;
  return (pBar - pe) / (1 - pe);
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((x, y) => x - y);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
