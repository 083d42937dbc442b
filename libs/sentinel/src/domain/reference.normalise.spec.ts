import { normaliseForIndex } from './reference.normalise.js';

describe('normaliseForIndex (the text behind every blind index)', () => {
  it('drops default-ignorable code points instead of breaking the word there', () => {
    for (const hidden of ['\u200b', '\u200c', '\u200d', '\u200e', '\u200f', '\u2060', '\u2064', '\ufeff', '\u00ad', '\u034f', '\u180e', '\u115f', '\u1160', '\u3164', '\uffa0', '\ufe0f', '\u{e0100}']) {
      expect(normaliseForIndex(`Smi${hidden}th`)).toBe('smith');
    }
  });

  it('folds case and compatibility forms, and removes punctuation and spaces inside a name', () => {
    for (const variant of ['SMITH', 'S-m-i-t-h', 'Smi th', 'Ｓｍｉｔｈ', " Smith. ", 'Smi\u2019th', 'Smi\u2010th']) expect(normaliseForIndex(variant)).toBe('smith');
    expect(normaliseForIndex('Straße')).toBe(normaliseForIndex('STRASSE'));
    expect(normaliseForIndex("O'Brien")).toBe(normaliseForIndex('OBrien'));
  });

  it('keeps accents (composed or not) and the marks of scripts that need them', () => {
    expect(normaliseForIndex('Mu\u0308ller')).toBe(normaliseForIndex('Müller'));
    expect(normaliseForIndex('Müller')).not.toBe(normaliseForIndex('Muller'));
    expect(normaliseForIndex('शर्मा')).toBe('शर्मा');
    expect(normaliseForIndex('1 Main St.')).toBe(normaliseForIndex('1 main st'));
  });
});
