import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CovsevEvent, EventLog } from '@covsev/events';
import { CovsevInputError } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { darkPixels, decodePng, distinctColours } from './png.test-helpers.js';
import { readRunEvents, trainingCurvePanels, trainingCurvesSpec, writeTrainingCurvesPng } from './trainingCurves.js';

const STEPS_PER_EPOCH = 5;
const EPOCHS = 4;

/** A CMC run: 4 epochs of 5 steps, the joint loss's six terms, a step schedule, validation per epoch. */
function cmcRun(): CovsevEvent[] {
  const events: CovsevEvent[] = [
    {
      type: 'run-start',
      time: 0,
      version: 1,
      backend: 'cpu',
      config: {},
      seed: 0,
      epochs: EPOCHS,
      stepsPerEpoch: STEPS_PER_EPOCH,
      startEpoch: 0,
      startStep: 0,
    } as CovsevEvent,
  ];
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    for (let step = 0; step < STEPS_PER_EPOCH; step++) {
      const g = epoch * STEPS_PER_EPOCH + step + 1;
      const decay = Math.exp(-g / 10);
      events.push({
        type: 'step',
        time: g,
        epoch,
        step,
        globalStep: g,
        losses: {
          total: 3 * decay + 0.5,
          contrastive: 1.5 * decay,
          mixup: 1.2 * decay + 0.2,
          classification: 0.3 * decay + 0.3 * (g % 2),
          weightContrastive: 1 - g / 100,
          weightClassification: 1 - g / 200,
        },
        lr: epoch < 2 ? 1e-3 : 1e-4,
        ms: 10,
      });
    }
    events.push({
      type: 'epoch',
      time: 100 + epoch,
      epoch,
      metrics: { loss: 2 - epoch * 0.3, valLoss: 1.5 - epoch * 0.2, valMacroF1: 0.2 + epoch * 0.15 },
      lr: 1e-3,
      ms: 50,
      eta: 0,
    });
  }
  return events;
}

describe('trainingCurvePanels', () => {
  it('makes the loss, weight, learning-rate, epoch-loss and validation panels', () => {
    const panels = trainingCurvePanels(cmcRun());
    expect(panels.map((p) => p.title)).toEqual([
      'Loss terms per step',
      'Learned loss weights exp(-s1), exp(-s2) per step',
      'Learning rate per step',
      'Loss per epoch',
      'Validation Macro F1 per epoch',
    ]);
    const [losses, weights, lr, epochLoss, validation] = panels;
    expect(new Set(losses?.points.map((p) => p.series))).toEqual(new Set(['total', 'contrastive', 'mixup', 'classification']));
    expect(losses?.points).toHaveLength(4 * EPOCHS * STEPS_PER_EPOCH);
    expect(new Set(weights?.points.map((p) => p.series))).toEqual(
      new Set(['exp(-s1), on contrastive', 'exp(-s2), on mixup + classification']),
    );
    expect(lr?.points.map((p) => p.value).slice(9, 11)).toEqual([1e-3, 1e-4]);
    expect(epochLoss?.points.filter((p) => p.series === 'validation').map((p) => p.x)).toEqual([1, 2, 3, 4]);
    expect(validation?.points.map((p) => p.value)).toEqual([0.2, 0.35, 0.5, 0.65].map((v) => expect.closeTo(v, 12)));
  });

  it('keeps the last event of a step or epoch a resumed run repeated, and skips null values', () => {
    const events = cmcRun();
    events.push({
      type: 'step',
      time: 999,
      epoch: 3,
      step: 4,
      globalStep: 20,
      losses: { total: 42, dice: null },
      lr: 1e-4,
      ms: 1,
    });
    events.push({ type: 'epoch', time: 1000, epoch: 3, metrics: { loss: 9, valMacroF1: 0.9 }, lr: 1e-4, ms: 1, eta: 0 });
    const [losses, , , epochLoss, validation] = trainingCurvePanels(events);
    expect(losses?.points.filter((p) => p.x === 20)).toEqual([{ x: 20, series: 'total', value: 42 }]);
    expect(epochLoss?.points.filter((p) => p.x === 4)).toEqual([{ x: 4, series: 'train (mean of steps)', value: 9 }]);
    expect(validation?.points.at(-1)).toEqual({ x: 4, series: 'valMacroF1', value: 0.9 });
  });

  it("averages long runs into maxPoints buckets, names a segmenter's metrics, and refuses nothing to draw", () => {
    const steps: CovsevEvent[] = Array.from({ length: 2500 }, (_, i) => ({
      type: 'step',
      time: i,
      epoch: 0,
      step: i,
      globalStep: i + 1,
      losses: { dice: i % 2 },
      lr: 0.1,
      ms: 1,
    }));
    steps.push({ type: 'epoch', time: 1, epoch: 0, metrics: { loss: 0.5, valIoU: 0.4, valDice: 0.5 }, lr: 0.1, ms: 1, eta: 0 });
    const panels = trainingCurvePanels(steps, { maxPoints: 1000 });
    expect(panels[0]?.points.length).toBe(834); // buckets of 3 steps
    expect(panels[0]?.points[0]).toEqual({ x: 3, series: 'dice', value: 1 / 3 });
    expect(panels.map((p) => p.title)).toEqual([
      'Loss terms per step',
      'Learning rate per step',
      'Loss per epoch',
      'Validation metrics per epoch',
    ]);
    expect(() => trainingCurvePanels([], { source: 'runs/x/events.jsonl' })).toThrow(CovsevInputError);
    expect(() => trainingCurvePanels([], { source: 'runs/x/events.jsonl' })).toThrow(/^runs\/x\/events\.jsonl: nothing to draw/);
  });
});

describe('writeTrainingCurvesPng', () => {
  it('writes a PNG of the stacked panels with its title drawn', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-report-'));
    const titled = await writeTrainingCurvesPng(join(dir, 'curves.png'), cmcRun(), { title: 'Training curves: runs/cmc' });
    const untitled = await writeTrainingCurvesPng(join(dir, 'untitled.png'), cmcRun(), { title: '' });
    const png = await decodePng(join(dir, 'curves.png'));
    expect([png.width, png.height]).toEqual([titled.width, titled.height]);
    expect(png.height).toBeGreaterThan(5 * 150 * 2); // five panels of 150 units at scale 2
    expect(distinctColours(png)).toBeGreaterThan(20);
    const band = titled.height - untitled.height;
    expect(band).toBeGreaterThan(15);
    expect(darkPixels(png, 0, band)).toBeGreaterThan(200);
    expect(JSON.stringify(trainingCurvesSpec(cmcRun()))).toContain('Validation Macro F1 per epoch');
  });
});

describe('readRunEvents', () => {
  it("reads a run folder's events.jsonl or an events file, and names a missing one", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-report-'));
    const log = EventLog.open(join(dir, 'run', 'events.jsonl'));
    for (const event of cmcRun().slice(1, 4)) {
      const { time: _time, ...input } = event;
      log.emit(input as never);
    }
    log.close();
    const fromDir = await readRunEvents(join(dir, 'run'));
    expect(fromDir.path).toBe(join(dir, 'run', 'events.jsonl'));
    expect(fromDir.events.map((e) => e.type)).toEqual(['step', 'step', 'step']);
    expect((await readRunEvents(join(dir, 'run', 'events.jsonl'))).events).toHaveLength(3);
    await expect(readRunEvents(join(dir, 'nope'))).rejects.toThrow(`${join(dir, 'nope')}: no such run folder or events file`);
    await mkdir(join(dir, 'empty'));
    await expect(readRunEvents(join(dir, 'empty'))).rejects.toThrow(
      `${join(dir, 'empty', 'events.jsonl')}: cannot read the run's events`,
    );
    await writeFile(join(dir, 'garbage.jsonl'), 'not json\n');
    expect((await readRunEvents(join(dir, 'garbage.jsonl'))).skipped).toBe(1);
  });
});
