/**
 * Segmentation models as ONNX files run with onnxruntime (`OnnxSession` of `@covsev/engine`):
 * covsev's own exports (`exportSegmentationOnnx`) and imported models with a hand-written card
 * (`model.json`, `../modelCard.ts`). The graph takes NCHW float32 `[B, C, H, W]` (B symbolic or
 * fixed) and returns `[B, classes, H, W]` logits, which the card's `output` turns into
 * probabilities.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { OnnxSession, type OnnxSessionOptions } from '@covsev/engine';
import { CovsevInputError } from '@covsev/io';
import {
  cardHashInput,
  checkSliceInput,
  foregroundProbabilities,
  outputSpecProblem,
  type Segmenter,
} from '../infer/segmenter.js';
import type { ModelCard } from '../modelCard.js';
import { readModelCard } from './modelCardFile.js';

type Dim = number | string;

/** The graph's input and output as onnxruntime reads them from the file. */
interface GraphShapes {
  readonly inputName: string;
  readonly outputName: string;
  /** Declared dims (a string is symbolic); undefined where the file declares none. */
  readonly input: readonly Dim[] | undefined;
  readonly output: readonly Dim[] | undefined;
}

export class OnnxSegmenter implements Segmenter {
  readonly description: string;
  private disposed = false;

  private constructor(
    readonly card: ModelCard,
    /** The card's path (or a name, for a card given in memory). */
    readonly cardPath: string,
    readonly onnxPath: string,
    private readonly session: OnnxSession,
    private readonly shapes: GraphShapes,
    /** Output channels, checked at load. */
    readonly classes: number,
    /** The graph's fixed batch size, or undefined when it is symbolic. */
    readonly fixedBatch: number | undefined,
    private readonly digest: string,
  ) {
    this.description = cardPath;
  }

  /**
   * Opens `onnxPath` with `card` and checks them against each other (see {@link loadSegmenter});
   * every problem is a CovsevInputError naming the file, the card's value and the model's.
   */
  static async open(
    card: ModelCard,
    cardPath: string,
    onnxPath: string,
    options: OnnxSessionOptions = {},
  ): Promise<OnnxSegmenter> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(onnxPath);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new CovsevInputError(
        onnxPath,
        code === 'ENOENT' ? `no such ONNX file (named by ${cardPath})` : `cannot be read (${(error as Error).message})`,
        { cause: error },
      );
    }
    let session: OnnxSession;
    try {
      session = await OnnxSession.create(bytes, options);
    } catch (error) {
      throw new CovsevInputError(onnxPath, `is not an ONNX model onnxruntime can open (${(error as Error).message})`, {
        cause: error,
      });
    }
    try {
      const shapes = graphShapes(session, onnxPath);
      const mismatch = (what: string, cardValue: string, modelValue: string): CovsevInputError =>
        new CovsevInputError(
          onnxPath,
          `does not match its card ${cardPath}: the card's ${what} is ${cardValue}, the model's is ${modelValue}`,
        );
      const [h, w] = card.input.size;
      const input = shapes.input;
      let fixedBatch: number | undefined;
      if (input !== undefined) {
        if (input.length !== 4)
          throw mismatch('input', `[batch, ${card.input.channels}, ${h}, ${w}] (NCHW)`, `[${input}] (rank ${input.length})`);
        const [b, c, ih, iw] = input;
        if (typeof c === 'number' && c !== card.input.channels)
          throw mismatch('input.channels', String(card.input.channels), `${c} (input [${input}])`);
        if ((typeof ih === 'number' && ih !== h) || (typeof iw === 'number' && iw !== w))
          throw mismatch('input.size', `[${h}, ${w}]`, `[${ih}, ${iw}] (input [${input}])`);
        if (typeof b === 'number') fixedBatch = b;
      }
      let output = shapes.output;
      const known = output !== undefined && output.length === 4 && output.slice(1).every((d) => typeof d === 'number');
      if (!known) {
        // The file leaves the output's channels or size open: one dry run on zeros tells them.
        const batch = fixedBatch ?? 1;
        let result: { dims: readonly number[] };
        try {
          result = await session.runSingle(new Float32Array(batch * card.input.channels * h * w), [
            batch,
            card.input.channels,
            h,
            w,
          ]);
        } catch (error) {
          throw new CovsevInputError(
            onnxPath,
            `failed a dry run on an input [${batch}, ${card.input.channels}, ${h}, ${w}] made from its card ${cardPath} (${(error as Error).message})`,
            { cause: error },
          );
        }
        output = result.dims;
      }
      if (output === undefined || output.length !== 4)
        throw mismatch('output', `[batch, classes, ${h}, ${w}] logits`, `[${output ?? 'undeclared'}]`);
      const [, classes, oh, ow] = output as [Dim, number, number, number];
      if (oh !== h || ow !== w)
        throw mismatch(
          'input.size (the output must have it too)',
          `[${h}, ${w}]`,
          `an output of [${oh}, ${ow}] (output [${output}])`,
        );
      const problem = outputSpecProblem(card.output, classes);
      if (problem !== undefined)
        throw new CovsevInputError(onnxPath, `does not match its card ${cardPath}: the card's ${problem}`);
      const digest = createHash('sha256')
        .update(cardHashInput({ ...card, onnx: 'model.onnx' }))
        .update(bytes)
        .digest('hex');
      return new OnnxSegmenter(card, cardPath, onnxPath, session, shapes, classes, fixedBatch, digest);
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  hash(): string {
    return this.digest;
  }

  /** The providers onnxruntime runs on (`['cpu']`, or CUDA first). */
  get executionProviders(): readonly string[] {
    return this.session.executionProviders;
  }

  async predictSlices(input: Float32Array, count: number): Promise<Float32Array> {
    if (this.disposed) throw new Error(`predictSlices (${this.description}): the segmenter was disposed`);
    checkSliceInput(this, input, count);
    const [h, w] = this.card.input.size;
    const c = this.card.input.channels;
    const plane = h * w;
    const out = new Float32Array(count * plane);
    const step = this.fixedBatch ?? count;
    for (let start = 0; start < count; start += step) {
      const n = Math.min(step, count - start);
      const batch = this.fixedBatch ?? n;
      const nchw = new Float32Array(batch * c * plane);
      for (let i = 0; i < n; i++) {
        const slice = input.subarray((start + i) * plane, (start + i + 1) * plane);
        for (let ch = 0; ch < c; ch++) nchw.set(slice, (i * c + ch) * plane);
      }
      const result = (await this.session.run({ [this.shapes.inputName]: { data: nchw, dims: [batch, c, h, w] } }))[
        this.shapes.outputName
      ];
      if (result === undefined) throw new Error(`predictSlices (${this.onnxPath}): output '${this.shapes.outputName}' missing`);
      const expected = [batch, this.classes, h, w];
      if (result.dims.join() !== expected.join())
        throw new Error(`predictSlices (${this.onnxPath}): output is [${result.dims}], expected [${expected}]`);
      const probs = foregroundProbabilities(
        result.data.subarray(0, n * this.classes * plane),
        n,
        this.classes,
        plane,
        'nchw',
        this.card.output,
      );
      out.set(probs, start * plane);
    }
    return out;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.session.release();
  }
}

function graphShapes(session: OnnxSession, onnxPath: string): GraphShapes {
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  if (inputName === undefined || outputName === undefined)
    throw new CovsevInputError(onnxPath, 'has no graph input or no graph output');
  if (session.inputNames.length !== 1)
    throw new CovsevInputError(
      onnxPath,
      `has ${session.inputNames.length} graph inputs (${session.inputNames.join(', ')}); a segmentation model takes one image batch`,
    );
  const declared = (meta: (typeof session.inputMetadata)[number] | undefined, what: string): readonly Dim[] | undefined => {
    if (meta === undefined || !meta.isTensor) return undefined;
    if (meta.type !== 'float32')
      throw new CovsevInputError(onnxPath, `its ${what} '${meta.name}' is ${meta.type}; covsev feeds and reads float32`);
    return meta.shape.length > 0 ? [...meta.shape] : undefined;
  };
  return {
    inputName,
    outputName,
    input: declared(session.inputMetadata[0], 'input'),
    output: declared(session.outputMetadata[0], 'output'),
  };
}

/**
 * Opens the model a card describes: `cardPath` is its `model.json`, whose `onnx` names the ONNX
 * file relative to the card's folder. Checked, each problem a CovsevInputError naming the file:
 * the card (JSON, schema), the ONNX file (present, readable by onnxruntime, one float32 input),
 * and the two against each other: input rank 4, channels and size as the card's `input`, output
 * `[B, classes, H, W]` with `classes` fitting `output` (foreground channel, softmax >= 2), read
 * from the file's declared shapes or, where those are symbolic, from one dry run on zeros.
 */
export async function loadSegmenter(cardPath: string, options: OnnxSessionOptions = {}): Promise<OnnxSegmenter> {
  const card = await readModelCard(cardPath);
  if (card.onnx === undefined)
    throw new CovsevInputError(
      cardPath,
      'names no ONNX file ("onnx"); a covsev model with weights only is loaded with its trainer and exported with exportSegmentationOnnx',
    );
  return OnnxSegmenter.open(card, cardPath, resolve(dirname(cardPath), card.onnx), options);
}
