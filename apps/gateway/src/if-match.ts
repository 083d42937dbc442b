import { ValidationError } from '@custos/errors';

/**
 * If-Match: "<version>" (or W/"<version>", or a bare number) makes a write conditional on the
 * stream's version: consent, datasets, annotations. Anything else is a 400 `bad-if-match`.
 */
export function ifMatchVersion(ifMatch: string | undefined, what = 'version'): number | undefined {
  if (ifMatch === undefined) return undefined;
  const m = /^(?:W\/)?"?(\d{1,9})"?$/.exec(ifMatch.trim());
  if (!m) throw new ValidationError(`If-Match must be the ${what}, e.g. "3"`, { ifMatch: ifMatch.slice(0, 100) }, 'bad-if-match');
  return Number(m[1]);
}
