/**
 * Step learning-rate schedule: the method's "lr x1 until 30 % of the epochs, x0.1 until 80 %,
 * then x0.01" (docs/method.md, both stages), defined exactly as PyTorch's
 * `MultiStepLR(milestones=[round(0.3 * E), round(0.8 * E)], gamma=0.1)`.
 *
 * Epochs are 0-based indices (epoch e is the (e+1)-th pass over the data), as torch's
 * `last_epoch`: the lr of epoch e is `baseLr * gamma^k`, k the number of milestones <= e.
 * Milestones round like Python's `round`: to the nearest integer, ties to even (E = 5 gives
 * [2, 4], E = 15 gives [4, 12]). A milestone at 0 already applies to epoch 0, as in torch.
 */
import type { JsonObject } from './json.js';

/** A learning rate per 0-based epoch, with a JSON description for checkpoints and logs. */
export interface LrSchedule {
  (epoch: number): number;
  readonly description: JsonObject;
}

export interface StepScheduleOptions {
  baseLr: number;
  epochs: number;
  /** Fractions of `epochs` at which the lr is multiplied by `gamma`; default [0.3, 0.8]. */
  milestones?: readonly number[];
  /** Default 0.1. */
  gamma?: number;
}

/** Python's `round(x)` for an integer result: nearest, ties to even. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** The milestone epochs for fractions of `epochs`: `round(f * epochs)`, as in the torch twin. */
export function milestoneEpochs(epochs: number, fractions: readonly number[]): number[] {
  return fractions.map((f) => roundHalfEven(f * epochs));
}

/** `baseLr * gamma^k` with k the number of milestones at or before `epoch` (0-based). */
export function stepSchedule(options: StepScheduleOptions): LrSchedule {
  const { baseLr, epochs, gamma = 0.1 } = options;
  const fractions = options.milestones ?? [0.3, 0.8];
  if (!(Number.isFinite(baseLr) && baseLr > 0)) throw new RangeError(`baseLr must be > 0, got ${baseLr}`);
  if (!(Number.isInteger(epochs) && epochs > 0)) throw new RangeError(`epochs must be a positive integer, got ${epochs}`);
  if (!(Number.isFinite(gamma) && gamma > 0)) throw new RangeError(`gamma must be > 0, got ${gamma}`);
  for (const f of fractions) if (!(f >= 0 && f <= 1)) throw new RangeError(`milestone fractions must lie in [0, 1], got ${f}`);
  const milestones = milestoneEpochs(epochs, fractions);
  const schedule = (epoch: number): number => {
    if (!(Number.isInteger(epoch) && epoch >= 0)) throw new RangeError(`epoch must be an integer >= 0, got ${epoch}`);
    const k = milestones.filter((m) => m <= epoch).length;
    return baseLr * gamma ** k;
  };
  return Object.assign(schedule, {
    description: { kind: 'step', baseLr, epochs, gamma, fractions: [...fractions], milestones },
  });
}
