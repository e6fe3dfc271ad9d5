import { describe, expect, it } from 'vitest';
import { confusionMatrix } from './confusion.js';
import { cohenKappa, type KappaWeights, quadraticWeightedKappa } from './kappa.js';

// truth [0,0,1,1,2,2], pred [0,1,1,1,2,0]; rows (truth) [2,2,2], cols (pred) [2,3,1], n = 6.
const M = [
  [1, 1, 0],
  [0, 2, 0],
  [1, 0, 1],
];

describe('cohenKappa (hand-computed)', () => {
  it('quadratic: 1 - 6 * 5 / 42 = 2/7', () => {
    expect(quadraticWeightedKappa(M)).toBeCloseTo(2 / 7, 15);
    expect(cohenKappa(M, 'quadratic')).toBe(quadraticWeightedKappa(M));
  });

  it('linear: 1 - 6 * 3 / 30 = 0.4', () => {
    expect(cohenKappa(M, 'linear')).toBeCloseTo(0.4, 15);
  });

  it('unweighted: (po - pe) / (1 - pe) = (2/3 - 1/3) / (2/3) = 0.5, the default', () => {
    expect(cohenKappa(M)).toBeCloseTo(0.5, 15);
  });

  it('is 1 for perfect agreement and -1 for a fully reversed 2-class split', () => {
    expect(quadraticWeightedKappa(confusionMatrix([0, 1, 2, 3], [0, 1, 2, 3], 4))).toBe(1);
    expect(quadraticWeightedKappa(confusionMatrix([0, 1], [1, 0], 2))).toBe(-1);
  });

  it('weights by class id distance, also when a middle class is absent', () => {
    // Two present classes: every off-diagonal weight is the same (4 here), and kappa does not depend on
    // its size, so classes {0, 2} of K = 3 score as {0, 1} of K = 2.
    const m3 = confusionMatrix([0, 0, 2, 2, 2], [0, 2, 2, 2, 0], 3);
    const m2 = confusionMatrix([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], 2);
    expect(quadraticWeightedKappa(m3)).toBeCloseTo(quadraticWeightedKappa(m2), 15);
    // Mixed distances: an error 0 -> 1 (w 1) and 0 -> 2 (w 4) in K = 3.
    const m = confusionMatrix([0, 0, 1, 2], [1, 2, 1, 2], 3);
    // rows [2,1,1], cols [0,2,2]; sum wO = 1 + 4 = 5; sum w r c = 2*(1*2+4*2) + 1*(0+1*2) + 1*(1*2+0) = 24.
    expect(quadraticWeightedKappa(m)).toBeCloseTo(1 - (4 * 5) / 24, 15);
  });

  it('is NaN (0/0, as sklearn) when truth and prediction are all one and the same class', () => {
    for (const w of ['none', 'linear', 'quadratic'] as KappaWeights[]) {
      expect(cohenKappa(confusionMatrix([2, 2, 2], [2, 2, 2], 4), w)).toBeNaN();
      expect(cohenKappa(confusionMatrix([1], [1], 2), w)).toBeNaN();
    }
    // One class in the truth only is not degenerate.
    expect(quadraticWeightedKappa(confusionMatrix([1, 1, 1], [1, 1, 0], 2))).toBe(0);
  });

  it('rejects bad input', () => {
    expect(() => cohenKappa(M, 'cubic' as KappaWeights)).toThrow(/weights must be/);
    expect(() =>
      quadraticWeightedKappa([
        [0, 0],
        [0, 0],
      ]),
    ).toThrow(/no samples/);
    expect(() => quadraticWeightedKappa([[1, 2, 3]])).toThrow(/square/);
  });
});
