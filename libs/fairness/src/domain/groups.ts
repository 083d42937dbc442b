/**
 * The demographic groups a balance report counts. They are public and fixed before any data
 * is read (a release must not reveal which groups exist in the data): sex and age bands are
 * Custos' own, ethnicity groups are configured (`BIAS_ETHNICITY_GROUPS`). Any recorded value
 * maps to exactly one group, so each patient falls in exactly one cell.
 */
export const DIMENSIONS = ['sex', 'ageBand', 'ethnicity'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export const SEX_GROUPS = ['female', 'male', 'other', 'unknown'] as const;
export const AGE_BANDS = ['0-17', '18-39', '40-64', '65+', 'unknown'] as const;

export function isDimension(v: string): v is Dimension {
  return (DIMENSIONS as readonly string[]).includes(v);
}

/** The groups of each dimension, in report order. */
export function groupDomains(ethnicityGroups: readonly string[]): Readonly<Record<Dimension, readonly string[]>> {
  return { sex: SEX_GROUPS, ageBand: AGE_BANDS, ethnicity: ethnicityGroups };
}

const SEX: Readonly<Record<string, (typeof SEX_GROUPS)[number]>> = { f: 'female', female: 'female', woman: 'female', m: 'male', male: 'male', man: 'male', o: 'other', other: 'other' };

export function sexGroup(raw: unknown): string {
  return typeof raw === 'string' ? (SEX[raw.trim().toLowerCase()] ?? 'unknown') : 'unknown';
}

/** The age band at `year` (UTC) of someone born in `birthYear` (null: unknown). */
export function ageBandOf(birthYear: unknown, year: number): string {
  if (typeof birthYear !== 'number' || !Number.isInteger(birthYear)) return 'unknown';
  const age = year - birthYear;
  if (age < 0) return 'unknown';
  return age < 18 ? '0-17' : age < 40 ? '18-39' : age < 65 ? '40-64' : '65+';
}

export function ethnicityGroup(raw: unknown, groups: readonly string[]): string {
  if (typeof raw !== 'string') return 'unknown';
  const v = raw.trim().toLowerCase();
  if (v === '' || v === 'unknown') return 'unknown';
  return groups.includes(v) ? v : 'other';
}

/** A patient's group in each dimension, from their (opened) demographics; null demographics: unknown throughout. */
export function groupsOf(demographics: { sex?: unknown; birthYear?: unknown; ethnicity?: unknown } | null, year: number, ethnicityGroups: readonly string[]): Record<Dimension, string> {
  return {
    sex: sexGroup(demographics?.sex),
    ageBand: ageBandOf(demographics?.birthYear, year),
    ethnicity: ethnicityGroup(demographics?.ethnicity, ethnicityGroups),
  };
}
