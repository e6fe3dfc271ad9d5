import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attr, initBackend, OnnxGraphBuilder } from '@covsev/engine';
import { CovsevInputError, makeVolume, Rng } from '@covsev/io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveIntensity } from '../infer/modelInput.js';
import { predictVolumeMask } from '../infer/predictVolumeMask.js';
import { TfjsSegmenter } from '../infer/segmenter.js';
import { TinySegmentationModel } from '../infer/testModels.test-helpers.js';
import { defaultInputSpec, type ModelCard } from '../modelCard.js';
import { createSegmentationModel } from '../models/factory.js';
import { exportSegmentationOnnx } from './exportSegmentationOnnx.js';
import { writeModelCard } from './modelCardFile.js';
import { loadSegmenter } from './onnxSegmenter.js';

let dir: string;

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
  dir = await mkdtemp(join(tmpdir(), 'covsev-segment-onnx-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function lungCard(size: number, classes = 1): ModelCard {
  return {
    format: 'covsev-segmentation-model',
    version: 1,
    task: 'lung',
    input: defaultInputSpec('lung', [size, size]),
    output: { activation: classes === 1 ? 'sigmoid' : 'softmax', foreground: classes === 1 ? 0 : 1, threshold: 0.5 },
  };
}

function randomSlices(n: number, size: number, seed: number): Float32Array {
  const rng = Rng.fromSeed(seed);
  return Float32Array.from({ length: n * size * size }, () => 2 * rng.uniform() - 1);
}

async function expectInputError(promise: Promise<unknown>, ...fragments: string[]): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CovsevInputError);
  for (const f of fragments) expect((error as Error).message).toContain(f);
}

describe('exportSegmentationOnnx + loadSegmenter', () => {
  it('runs a covsev model through onnxruntime as tfjs runs it (1e-4), sigmoid and softmax', async () => {
    for (const classes of [1, 3]) {
      const model = new TinySegmentationModel(classes, 5 + classes);
      const card = lungCard(32, classes);
      const out = join(dir, `own-${classes}`);
      const exported = await exportSegmentationOnnx(model, card, out);
      expect(exported.info.inputShape).toEqual(['batch', 1, 32, 32]);
      expect(exported.info.opCounts.BatchNormalization ?? 0).toBe(0);
      const written = JSON.parse(await readFile(exported.cardPath, 'utf8')) as ModelCard;
      expect(written.onnx).toBe('model.onnx');
      expect(written.architecture?.classes).toBe(classes);

      const onnx = await loadSegmenter(exported.cardPath, { executionProviders: ['cpu'] });
      const tfjs = new TfjsSegmenter(model, exported.card);
      const x = randomSlices(5, 32, classes);
      const [a, b] = await Promise.all([onnx.predictSlices(x, 5), tfjs.predictSlices(x, 5)]);
      expect(a.length).toBe(5 * 32 * 32);
      let worst = 0;
      let spread = 0;
      for (let i = 0; i < a.length; i++) {
        worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
        spread = Math.max(spread, Math.abs((a[i] as number) - (a[0] as number)));
      }
      expect(worst).toBeLessThan(1e-4);
      expect(spread).toBeGreaterThan(0.01); // the probabilities are not a constant
      // Same weights and card: same hash on both paths' inputs; another model: another hash.
      expect(onnx.hash()).toMatch(/^[0-9a-f]{64}$/);
      expect(tfjs.hash()).toBe(new TfjsSegmenter(model, exported.card).hash());
      expect(tfjs.hash()).not.toBe(new TfjsSegmenter(new TinySegmentationModel(classes, 99), exported.card).hash());
      await onnx.dispose();
    }
  });

  it('runs a small covsev U-Net (ResNet-34, width 1/8) through onnxruntime as tfjs runs it (1e-4)', async () => {
    const model = createSegmentationModel({ arch: 'unet', encoder: 'resnet34', width: 0.125 }, { rng: Rng.fromSeed(21) });
    const exported = await exportSegmentationOnnx(model, lungCard(32), join(dir, 'unet'));
    const onnx = await loadSegmenter(exported.cardPath, { executionProviders: ['cpu'] });
    const tfjs = new TfjsSegmenter(model, exported.card);
    const x = randomSlices(3, 32, 4);
    const [a, b] = await Promise.all([onnx.predictSlices(x, 3), tfjs.predictSlices(x, 3)]);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
    expect(worst).toBeLessThan(1e-4);
    expect(new Set(Array.from(a.subarray(0, 64), (v) => v.toFixed(3))).size).toBeGreaterThan(1);
    await onnx.dispose();
  });

  it('refuses a card that does not describe the model', async () => {
    const model = new TinySegmentationModel(1, 1);
    await expect(exportSegmentationOnnx(model, lungCard(32, 2), join(dir, 'bad'))).rejects.toThrow(
      /foreground is 1, but the model has 1 output channel/,
    );
    expect(() => new TfjsSegmenter(model, { ...lungCard(32), input: { ...lungCard(32).input, channels: 3 } })).toThrow(
      /input.channels is 3, the model takes 1/,
    );
  });
});

/**
 * An "imported" model, built by hand: input `image` [3, 1, 16, 16] (a fixed batch of 3), one 1x1
 * convolution to two channels, channel 0 = 0 and channel 1 = -4 x. Read as a softmax with
 * foreground 1, p = sigmoid(-4 x), so p >= 0.5 exactly where the normalised input x <= 0.
 */
function handMadeModel(size: number, batch: number | 'n'): Uint8Array {
  const graph = new OnnxGraphBuilder();
  graph.addInput('image', [batch, 1, size, size]);
  const weight = graph.addInitializer('w', Float32Array.from([0, -4]), [2, 1, 1, 1]);
  const bias = graph.addInitializer('b', Float32Array.from([0, 0]), [2]);
  const y = graph.addNode('Conv', ['image', weight, bias], { kernel_shape: attr.ints([1, 1]) });
  graph.addOutput(y, 'scores', [batch, 2, size, size]);
  return graph.encode({ graphName: 'imported' });
}

describe('an imported ONNX model with a hand-written card', () => {
  it('gives the mask its card and weights imply (softmax, foreground 1, its own window and normalisation, fixed batch)', async () => {
    const folder = join(dir, 'imported');
    const cardPath = join(folder, 'card.json');
    await writeModelCard(cardPath, {
      format: 'covsev-segmentation-model',
      version: 1,
      task: 'lung',
      onnx: 'net.onnx',
      // u = (hu + 1000) / 1000 clipped, x = (u - 0.5) / 0.25: x <= 0 where hu <= -500.
      input: {
        size: [16, 16],
        huWindow: { low: -1000, high: 0 },
        normalise: { mean: 0.5, std: 0.25 },
        lungMasked: false,
        channels: 1,
      },
      output: { activation: 'softmax', foreground: 1, threshold: 0.5 },
    });
    await writeFile(join(folder, 'net.onnx'), handMadeModel(16, 3));
    const segmenter = await loadSegmenter(cardPath, { executionProviders: ['cpu'] });
    expect(segmenter.fixedBatch).toBe(3);
    expect(segmenter.classes).toBe(2);
    // 7 slices (not a multiple of the fixed batch 3) of 16 x 16, HU drawn away from -500.
    const rng = Rng.fromSeed(3);
    const hu = Int16Array.from({ length: 7 * 16 * 16 }, () => {
      const v = Math.round(-1100 + 1500 * rng.uniform());
      return Math.abs(v + 500) < 5 ? v + 20 : v;
    });
    const volume = makeVolume({ data: hu, shape: [7, 16, 16], intensity: 'hu', source: 'random.nii.gz' });
    const mask = await predictVolumeMask(volume, segmenter, resolveIntensity(volume), { batchSize: 5 });
    let wrong = 0;
    let ones = 0;
    for (let i = 0; i < hu.length; i++) {
      ones += mask[i] as number;
      if ((mask[i] === 1) !== (hu[i] as number) <= -500) wrong++;
    }
    expect(wrong).toBe(0);
    expect(ones).toBeGreaterThan(100);
    expect(ones).toBeLessThan(hu.length - 100);
    await segmenter.dispose();
  });
});

describe('loadSegmenter refuses a card and a model that do not agree, naming the file', () => {
  const card = (over: Partial<ModelCard['input']> = {}, output: Partial<ModelCard['output']> = {}): ModelCard => ({
    format: 'covsev-segmentation-model',
    version: 1,
    task: 'lung',
    onnx: 'net.onnx',
    input: { ...defaultInputSpec('lung', [16, 16]), ...over },
    output: { activation: 'softmax', foreground: 1, threshold: 0.5, ...output },
  });
  async function folderWith(name: string, c: unknown, onnx?: Uint8Array): Promise<string> {
    const folder = join(dir, name);
    const cardPath = join(folder, 'model.json');
    await writeModelCard(join(folder, 'placeholder.json'), card()); // creates the folder
    await writeFile(cardPath, typeof c === 'string' ? c : JSON.stringify(c));
    if (onnx !== undefined) await writeFile(join(folder, 'net.onnx'), onnx);
    return cardPath;
  }

  it('a wrong size: the card says [32, 32], the model [16, 16]', async () => {
    const path = await folderWith('size', card({ size: [32, 32] }), handMadeModel(16, 'n'));
    await expectInputError(loadSegmenter(path), join(dir, 'size', 'net.onnx'), path, 'input.size is [32, 32]', '[16, 16]');
  });

  it('wrong channels: input channels 3 against 1; a foreground channel the output does not have', async () => {
    const path = await folderWith('channels', card({ channels: 3 }), handMadeModel(16, 'n'));
    await expectInputError(loadSegmenter(path), 'net.onnx', 'input.channels is 3', "model's is 1");
    const fg = await folderWith('foreground', card({}, { foreground: 2 }), handMadeModel(16, 'n'));
    await expectInputError(loadSegmenter(fg), 'net.onnx', fg, 'output.foreground is 2, but the model has 2 output channels');
  });

  it('a missing ONNX file, a missing card, a card that is not JSON or not a card', async () => {
    const missing = await folderWith('missing', card());
    await expectInputError(loadSegmenter(missing), join(dir, 'missing', 'net.onnx'), 'no such ONNX file', missing);
    await expectInputError(
      loadSegmenter(join(dir, 'nowhere', 'model.json')),
      join(dir, 'nowhere', 'model.json'),
      'no such model card',
    );
    const bad = await folderWith('badjson', '{"format": "covsev-segmentation-model",');
    await expectInputError(loadSegmenter(bad), bad, 'is not JSON');
    const wrong = await folderWith('schema', {
      ...card(),
      input: { ...card().input, size: [16] },
      output: { activation: 'relu' },
    });
    await expectInputError(loadSegmenter(wrong), wrong, 'input.size', 'output.activation');
    const noOnnx = await folderWith('noonnx', {
      ...card(),
      onnx: undefined,
      architecture: { arch: 'unet', encoder: 'resnet34' },
    });
    await expectInputError(loadSegmenter(noOnnx), noOnnx, 'names no ONNX file');
  });

  it('a file onnxruntime cannot open', async () => {
    const path = await folderWith('garbage', card(), new TextEncoder().encode('not a model'));
    await expectInputError(loadSegmenter(path), join(dir, 'garbage', 'net.onnx'), 'is not an ONNX model onnxruntime can open');
  });
});
