import type { RunStartEvent } from '@covsev/events';
import { describe, expect, it } from 'vitest';
import { describeRunStart } from './trainClassifier.js';

const start = (extra: Partial<RunStartEvent>): RunStartEvent => ({
  type: 'run-start',
  time: 1,
  version: 1,
  backend: 'cpu',
  config: null,
  seed: 1,
  epochs: 5,
  stepsPerEpoch: 8,
  startEpoch: 0,
  startStep: 0,
  pid: 1,
  ...extra,
});

describe('describeRunStart', () => {
  it('says nothing for a fresh start, the epoch of a resume, and the step of a mid-epoch one', () => {
    expect(describeRunStart(start({}))).toEqual([]);
    expect(describeRunStart(start({ startEpoch: 2, startStep: 16, resumedFrom: '/r/checkpoints/epoch-2' }))).toEqual([
      'resumed from /r/checkpoints/epoch-2 (epoch 3 of 5)',
    ]);
    expect(
      describeRunStart(
        start({ startEpoch: 2, startStepInEpoch: 3, startStep: 19, resumedFrom: '/r/checkpoints/epoch-2-step-3' }),
      ),
    ).toEqual(['resumed from /r/checkpoints/epoch-2-step-3 (epoch 3 of 5, step 4 of 8)']);
    expect(describeRunStart(start({ startEpoch: 5, startStep: 40, resumedFrom: '/r/checkpoints/epoch-5' }))).toEqual([
      'restored from /r/checkpoints/epoch-5 (all 5 epochs done)',
    ]);
  });
});
