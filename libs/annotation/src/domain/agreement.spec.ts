import { cohensKappa, fleissKappa, median } from './agreement.js';

describe('agreement between annotators', () => {
  it("Cohen's kappa: the worked example of Wikipedia's 'Cohen's kappa' article (50 items: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no) is 0.4", () => {
    const pairs: Array<[string, string]> = [
      ...Array.from({ length: 20 }, () => ['yes', 'yes'] as [string, string]),
      ...Array.from({ length: 5 }, () => ['yes', 'no'] as [string, string]),
      ...Array.from({ length: 10 }, () => ['no', 'yes'] as [string, string]),
      ...Array.from({ length: 15 }, () => ['no', 'no'] as [string, string]),
    ];
    expect(cohensKappa(pairs)).toBeCloseTo(0.4, 10);
  });

  it("Fleiss' kappa: the example of Fleiss (1971), Psychological Bulletin 76(5), as reproduced in Wikipedia's 'Fleiss' kappa' (10 subjects, 14 raters, 5 categories) is 0.210", () => {
    const table = [
      [0, 0, 0, 0, 14],
      [0, 2, 6, 4, 2],
      [0, 0, 3, 5, 6],
      [0, 3, 9, 2, 0],
      [2, 2, 8, 1, 1],
      [7, 7, 0, 0, 0],
      [3, 2, 6, 3, 0],
      [2, 5, 3, 2, 2],
      [6, 5, 2, 1, 0],
      [0, 2, 2, 3, 7],
    ];
    expect(fleissKappa(table)).toBeCloseTo(0.21, 3);
  });

  it('agrees with Cohen for two raters on perfect agreement, and says nothing where nothing can be said', () => {
    expect(cohensKappa([['a', 'a'], ['b', 'b']])).toBe(1);
    expect(fleissKappa([[2, 0], [0, 2]])).toBe(1);
    expect(cohensKappa([])).toBeNull();
    expect(cohensKappa([['a', 'a']])).toBe(1);
    expect(fleissKappa([[1, 0]])).toBeNull();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNull();
  });
});
