/**
 * A segmenter runs one segmentation model on slices already in its input space (see
 * `modelInput.ts`) and returns the foreground probability of every pixel, as its model card says
 * to read the output (`output.activation`, `output.foreground`). Two implementations share the
 * contract: {@link TfjsSegmenter} (a covsev model in memory, tfjs) and `OnnxSegmenter` (an ONNX
 * file and its card, onnxruntime; `../onnx/onnxSegmenter.ts`).
 */
import { createHash } from 'node:crypto';
import { disposeModule } from '@covsev/engine';
import * as tf from '@tensorflow/tfjs';
import type { ModelCard, OutputSpec } from '../modelCard.js';
import type { SegmentationModel } from '../models/contract.js';

export interface Segmenter {
  readonly card: ModelCard;
  /** What it runs, for messages: the card's path, or the model's name. */
  readonly description: string;
  /**
   * SHA-256 (hex) of the weights (or the ONNX file's bytes) and the card: two segmenters with the
   * same hash give the same masks. The mask cache keys on it.
   */
  hash(): string;
  /**
   * Foreground probabilities of `count` slices: `input` is `Float32Array [count, H, W]` in the
   * model's input space (windowed, masked, resized to `card.input.size`, normalised), one grey
   * channel (copied into each of `card.input.channels`); the result is `[count, H, W]` in 0..1.
   */
  predictSlices(input: Float32Array, count: number): Promise<Float32Array>;
  /** Frees the model's session (or a tfjs model's variables, when the segmenter owns it). */
  dispose(): Promise<void>;
}

/** Checks `input` against the card before a run (a RangeError naming the segmenter). */
export function checkSliceInput(segmenter: Pick<Segmenter, 'card' | 'description'>, input: Float32Array, count: number): void {
  const [h, w] = segmenter.card.input.size;
  if (!(Number.isInteger(count) && count >= 1) || input.length !== count * h * w)
    throw new RangeError(
      `predictSlices (${segmenter.description}): ${input.length} values for ${count} slices of ${h} x ${w} (${count * h * w} expected)`,
    );
}

/** Where an output's `classes` channels cannot hold the card's foreground. */
export function outputSpecProblem(output: OutputSpec, classes: number): string | undefined {
  if (output.foreground >= classes)
    return `output.foreground is ${output.foreground}, but the model has ${classes} output channel${classes === 1 ? '' : 's'}`;
  if (output.activation === 'softmax' && classes < 2)
    return `output.activation is softmax, but the model has 1 output channel (a softmax needs 2 or more)`;
  return undefined;
}

/**
 * Foreground probabilities of logits laid out as `[n, classes, H * W]` (`channelStride` = H * W,
 * NCHW) or `[n, H * W, classes]` (`channelStride` = 1, NHWC): sigmoid of the foreground channel,
 * or that channel of the softmax over channels.
 */
export function foregroundProbabilities(
  logits: ArrayLike<number>,
  n: number,
  classes: number,
  pixels: number,
  layout: 'nchw' | 'nhwc',
  output: OutputSpec,
): Float32Array {
  if (logits.length !== n * classes * pixels)
    throw new RangeError(`foregroundProbabilities: ${logits.length} logits for ${n} x ${classes} x ${pixels}`);
  const out = new Float32Array(n * pixels);
  const fg = output.foreground;
  const stride = layout === 'nchw' ? pixels : 1;
  for (let b = 0; b < n; b++) {
    const base = b * classes * pixels;
    for (let p = 0; p < pixels; p++) {
      const at = layout === 'nchw' ? base + p : base + p * classes;
      const f = logits[at + fg * stride] as number;
      if (output.activation === 'sigmoid') {
        out[b * pixels + p] = 1 / (1 + Math.exp(-f));
        continue;
      }
      let max = -Infinity;
      for (let c = 0; c < classes; c++) max = Math.max(max, logits[at + c * stride] as number);
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp((logits[at + c * stride] as number) - max);
      out[b * pixels + p] = Math.exp(f - max) / sum;
    }
  }
  return out;
}

/** SHA-256 of a card as canonical JSON (keys sorted), so key order in a file does not matter. */
export function cardHashInput(card: ModelCard): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v as object)
              .sort()
              .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(sorted(card));
}

/**
 * A covsev {@link SegmentationModel} run with tfjs in eval mode (the path for a model in memory;
 * an exported copy runs faster through `OnnxSegmenter`). The card says how to read its logits;
 * `card.architecture`, where set, must equal the model's config.
 */
export class TfjsSegmenter implements Segmenter {
  readonly description: string;

  constructor(
    readonly model: SegmentationModel,
    readonly card: ModelCard,
    /** `owner: true` when the segmenter owns the model: `dispose` then frees its variables. */
    private readonly options: { readonly owner?: boolean } = {},
  ) {
    this.description = `${model.name} (tfjs)`;
    const problem = tfjsCardProblem(model, card);
    if (problem !== undefined) throw new RangeError(`TfjsSegmenter (${model.name}): ${problem}`);
  }

  hash(): string {
    const h = createHash('sha256').update(cardHashInput(this.card));
    const named = [...this.model.parameters(), ...this.model.buffers()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const { name, variable } of named) {
      const data = variable.dataSync() as Float32Array;
      h.update(`${name}[${variable.shape}]`).update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    return h.digest('hex');
  }

  async predictSlices(input: Float32Array, count: number): Promise<Float32Array> {
    checkSliceInput(this, input, count);
    const [h, w] = this.card.input.size;
    const channels = this.card.input.channels;
    const logits = tf.tidy(() => {
      let x = tf.tensor4d(input, [count, h, w, 1]);
      if (channels > 1) x = tf.tile(x, [1, 1, 1, channels]);
      return this.model.logits(x, { training: false });
    });
    try {
      const [, , , classes] = logits.shape;
      const data = (await logits.data()) as Float32Array;
      return foregroundProbabilities(data, count, classes, h * w, 'nhwc', this.card.output);
    } finally {
      logits.dispose();
    }
  }

  async dispose(): Promise<void> {
    if (this.options.owner === true) disposeModule(this.model);
  }
}

/** Why `card` cannot describe `model`, or undefined. */
export function tfjsCardProblem(model: SegmentationModel, card: ModelCard): string | undefined {
  const config = model.config;
  const stated = card.architecture;
  if (stated !== undefined) {
    const differs = (Object.keys(config) as (keyof typeof config)[]).filter((k) => stated[k] !== config[k]);
    if (differs.length > 0)
      return `the card's architecture differs from the model's in ${differs.map((k) => `${k} (card ${stated[k]}, model ${config[k]})`).join(', ')}`;
  }
  if (card.input.channels !== config.inChannels)
    return `the card's input.channels is ${card.input.channels}, the model takes ${config.inChannels}`;
  const [h, w] = card.input.size;
  if (h % model.sizeDivisor !== 0 || w % model.sizeDivisor !== 0)
    return `the card's input.size [${h}, ${w}] does not divide by the model's size divisor ${model.sizeDivisor}`;
  return outputSpecProblem(card.output, config.classes);
}
