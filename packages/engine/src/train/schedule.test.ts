import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { milestoneEpochs, roundHalfEven, stepSchedule } from './schedule.js';

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/optim_cases.json', import.meta.url), 'utf8')) as {
  schedules: { epochs: number; baseLr: number; gamma: number; milestones: number[]; lrs: number[] }[];
};

describe('stepSchedule', () => {
  it('the method: x1 until 30 % of 100 epochs, x0.1 until 80 %, then x0.01', () => {
    const lr = stepSchedule({ baseLr: 1e-4, epochs: 100 });
    expect(lr(0)).toBe(1e-4);
    expect(lr(29)).toBe(1e-4);
    expect(lr(30)).toBeCloseTo(1e-5, 18);
    expect(lr(79)).toBeCloseTo(1e-5, 18);
    expect(lr(80)).toBeCloseTo(1e-6, 18);
    expect(lr(99)).toBeCloseTo(1e-6, 18);
    expect(lr.description).toEqual({
      kind: 'step',
      baseLr: 1e-4,
      epochs: 100,
      gamma: 0.1,
      fractions: [0.3, 0.8],
      milestones: [30, 80],
    });
  });

  it.each(fixture.schedules)('matches torch MultiStepLR with milestones [round(0.3E), round(0.8E)], E = $epochs', (s) => {
    expect(milestoneEpochs(s.epochs, [0.3, 0.8])).toEqual(s.milestones);
    const lr = stepSchedule({ baseLr: s.baseLr, epochs: s.epochs, gamma: s.gamma });
    for (const [epoch, expected] of s.lrs.entries()) expect(Math.abs(lr(epoch) - expected) / expected).toBeLessThan(1e-12);
  });

  it("rounds like Python's round (ties to even) and validates its input", () => {
    expect([0.5, 1.5, 2.5, 4.5, 7.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, 4, 8, 2, 3]);
    expect(() => stepSchedule({ baseLr: 0, epochs: 10 })).toThrow(/baseLr/);
    expect(() => stepSchedule({ baseLr: 1, epochs: 0 })).toThrow(/epochs/);
    expect(() => stepSchedule({ baseLr: 1, epochs: 10, milestones: [1.5] })).toThrow(/fractions/);
    expect(() => stepSchedule({ baseLr: 1, epochs: 10 })(-1)).toThrow(/epoch/);
  });
});
