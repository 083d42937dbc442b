const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;
const NOT_PART_OF_A_NAME = /[^\p{L}\p{M}\p{N}]|\p{Default_Ignorable_Code_Point}/gu;

/**
 * The text a blind index is taken over, the one normalisation for every index the rules compare
 * (family names, addresses, departments; the sentinel's `relationship` rule and the
 * separation-of-duties check read the indexes it yields). Default-ignorable code points (zero
 * width spaces and joiners, soft hyphen, BOM, variation selectors, Hangul fillers…) are dropped
 * before anything else, so they can neither split a name nor block a composition; then Unicode
 * NFKC, a full case fold ('Straße' is 'STRASSE'), NFKC again, and only letters, combining marks
 * and digits are kept: spaces, hyphens, apostrophes and other punctuation inside a name go, so
 * 'S-m-i-t-h', "O'Brien" and 'van der Berg' match 'Smith', 'OBrien' and 'Vanderberg'. Accents
 * count, as before: 'Müller' is not 'Muller'.
 */
export function normaliseForIndex(text: string): string {
  const folded = text.replace(IGNORABLE, '').normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
  return folded.replace(NOT_PART_OF_A_NAME, '');
}
