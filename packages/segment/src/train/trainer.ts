/**
 * Stage 1's trainer (docs/method.md, "Segmentation", Training): one 2D model, lung (M1, on raw
 * slices) or lesion (M2, on slices multiplied by the ground-truth lung mask, eq. 1), trained on
 * the slices of COVID-19-CT-Seg scans with the Dice loss of eq. 3, through the engine's
 * `runTraining` (seeded streams, a checkpoint per epoch, resume after a crash, the control
 * channel, the event stream).
 *
 * The method's settings: batches of 8 slices; random crop, horizontal and vertical flips and
 * rotation (`data/augment.ts`); SGD with lr 1e-3, x0.1 at 30 % and at 80 % of the epochs
 * (`stepSchedule`); 100 epochs; the model that does best on validation kept. What the paper
 * leaves open and covsev chooses: momentum 0.9 (the engine's SGD default; PyTorch's is 0), no
 * weight decay, the crop and rotation ranges of `data/augment.ts`, the validation metric
 * (foreground IoU of all validation slices' pixels pooled, `valIoU`; `valMIoU` and `valDice`
 * beside it), a seeded 80/20 split by scan when none is given.
 *
 * Run folder (a training run folder of docs/formats.md, "Run folders", plus the model card):
 *
 * ```
 * <runDir>/model.json            the model card (modelCard.ts): task, architecture, input, output;
 *                                written (atomically) when the run starts, compared on resume
 * <runDir>/events.jsonl          the engine's events: step losses (`dice`), samples = slices,
 *                                epoch metrics `loss`, `valIoU`, `valMIoU`, `valDice`, lr
 * <runDir>/control.jsonl         stop / checkpoint commands (the engine's control channel)
 * <runDir>/checkpoints/epoch-<n>/   the engine's checkpoints (weights, SGD state, RNG states,
 *                                the run config: card, batch size, lr, the scans of each side)
 * <runDir>/checkpoints/best/     the epoch with the highest valIoU (with validation scans)
 * ```
 *
 * Initial weights (`init`): the paper starts the encoder from ImageNet. A torchvision checkpoint
 * as safetensors (`ENCODER_WEIGHT_MAPS`, engine README "Pretrained weights") is loaded into the
 * encoder on a fresh start; its SHA-256 is in the run config (`init`, only when given, so older
 * run folders resume) and the `run-start` event, its path in the event's `runtime`.
 *
 * Every random draw comes from the run's streams (`data`: the epoch's slice order; `augment`: the
 * augmentation; `init`: the weights), and a mid-epoch checkpoint stores the epoch's order, so a run
 * killed and resumed ends with the weights of an uninterrupted one. A NaN or infinite loss stops
 * the run before its optimiser step (the engine's `NonFiniteLossError`); the last good checkpoint
 * stays `latest.json`.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type BestEpoch,
  canonicalJson,
  explainHeapExhaustion,
  type JsonValue,
  loadRunInit,
  NonFiniteLossError,
  namedGrads,
  type PretrainedInit,
  type PretrainedResult,
  pretrainedRunConfig,
  type RngStreams,
  runTraining,
  SGD,
  stepSchedule,
  type TrainEvent,
  type TrainModel,
  weightsFileSha256,
} from '@covsev/engine';
import { SegmentationMetricAccumulator } from '@covsev/eval';
import { CovsevInputError } from '@covsev/io';
import type * as tf from '@tensorflow/tfjs';
import { SEGMENTATION_BATCH_SIZE, sliceBatch } from '../data/batch.js';
import { type CtSegScan, loadCtSegCohort, splitCtSegScans } from '../data/ctSegCohort.js';
import { buildSliceSet, type SliceSet } from '../data/slices.js';
import { ENCODER_WEIGHT_MAPS } from '../encoders/pretrained.js';
import { TfjsSegmenter } from '../infer/segmenter.js';
import { diceBceLoss, diceLoss } from '../losses/dice.js';
import { defaultInputSpec, type InputSpec, type ModelCard, type SegmentationTask } from '../modelCard.js';
import { EncoderDecoderModel } from '../models/common.js';
import type { SegmentationModel, SegmentationModelOptions } from '../models/contract.js';
import { createSegmentationModel, parseSegmentationModelConfig } from '../models/factory.js';
import { SEGMENTATION_CARD_FILE } from '../onnx/exportSegmentationOnnx.js';
import { readModelCard, writeModelCard } from '../onnx/modelCardFile.js';

/** The loss: eq. 3's Dice (the method), or Dice + binary cross entropy. */
export const SEGMENTATION_LOSSES = ['dice', 'dice-bce'] as const;
export type SegmentationLossName = (typeof SEGMENTATION_LOSSES)[number];

export interface TrainSegmentationOptions {
  readonly runDir: string;
  /** A COVID-19-CT-Seg folder (`loadCtSegCohort`); or give `scans`. */
  readonly cohortDir?: string;
  readonly scans?: readonly CtSegScan[];
  /** Which scans train and which validate, by name; default a seeded split (`splitCtSegScans`, `valScans`). */
  readonly split?: { readonly train: readonly string[]; readonly val: readonly string[] };
  /** Validation scans of the seeded split; default 20 % (at least 1). */
  readonly valScans?: number;
  readonly task: SegmentationTask;
  readonly model: SegmentationModelOptions;
  /** The input: a size `[H, W]` (with the default window and normalisation, `defaultInputSpec`), or a whole spec. Default [256, 256]. */
  readonly input?: readonly [number, number] | InputSpec;
  /** Default 100. */
  readonly epochs?: number;
  /** Slices per step; default 8. */
  readonly batchSize?: number;
  /** Default 1e-3. */
  readonly lr?: number;
  /** SGD momentum; default 0.9 (the paper does not say). */
  readonly momentum?: number;
  /** Default 0. */
  readonly weightDecay?: number;
  /** Default 'dice' (eq. 3). */
  readonly loss?: SegmentationLossName;
  /** Training slices per epoch (drawn without repeats, then again); default all training slices. */
  readonly slicesPerEpoch?: number;
  /** Every k-th slice of each scan; default 1 (all). */
  readonly sliceStep?: number;
  readonly seed: number;
  /**
   * ImageNet weights for the encoder (the paper's start; a torchvision checkpoint as safetensors,
   * `ENCODER_WEIGHT_MAPS` of the encoder), loaded on a fresh start before the first step (a resume
   * restores its checkpoint). The file's SHA-256 goes into the run config, so a resume with another
   * file is refused; a pinned `sha256` that differs stops before training; a `partial` load says
   * what it skipped through `onWarning`. The CT stem (1 channel) follows `stemInit` (default random).
   */
  readonly init?: PretrainedInit;
  readonly onEvent?: (event: TrainEvent) => void;
  /** Told what recovery did (a corrupt checkpoint skipped) and what a partial `init` skipped; default `console.warn`. */
  readonly onWarning?: (message: string) => void;
  /** Obey `<runDir>/control.jsonl`; default true. */
  readonly control?: boolean;
}

export interface TrainSegmentationResult {
  readonly model: SegmentationModel;
  readonly card: ModelCard;
  readonly split: { readonly train: string[]; readonly val: string[] };
  /** Epochs completed by this call. */
  readonly epochsRun: number;
  /** True when a `stop` command ended the run early (a later call resumes it). */
  readonly stopped: boolean;
  /** The best epoch by valIoU so far (with validation scans). */
  readonly best?: BestEpoch;
  /** What `init` loaded, on a fresh start (absent on a resume: the checkpoint had the weights). */
  readonly pretrained?: PretrainedResult;
}

interface SegmentationTrainModel extends TrainModel {
  readonly net: SegmentationModel;
  readonly trainable: Map<string, tf.Variable>;
  readonly optimizer: SGD;
}

/** The model for people: "unet / resnet34 (width 0.0625), lung". */
export function describeSegmentationModel(card: ModelCard): string {
  const a = card.architecture;
  const arch = a === undefined ? `onnx ${card.onnx}` : `${a.arch} / ${a.encoder}${a.width === 1 ? '' : ` (width ${a.width})`}`;
  return `${arch}, ${card.task}`;
}

function resolveInput(task: SegmentationTask, input: TrainSegmentationOptions['input']): InputSpec {
  if (input === undefined) return defaultInputSpec(task);
  if (Array.isArray(input)) return defaultInputSpec(task, input as readonly [number, number]);
  const spec = input as InputSpec;
  if (spec.lungMasked !== (task === 'lesion'))
    throw new RangeError(
      `trainSegmentation: input.lungMasked is ${spec.lungMasked} for the ${task} task (the lesion model alone sees lung-masked slices, eq. 1)`,
    );
  return spec;
}

function positiveInteger(name: string, value: number): number {
  if (!(Number.isInteger(value) && value >= 1))
    throw new RangeError(`trainSegmentation: ${name} must be an integer >= 1, got ${value}`);
  return value;
}

/** The scans on each side, by name (an explicit split checked against the scans, else the seeded one). */
function resolveSplit(scans: readonly CtSegScan[], options: TrainSegmentationOptions): { train: string[]; val: string[] } {
  const names = scans.map((s) => s.name);
  if (options.split === undefined)
    return splitCtSegScans(names, {
      seed: options.seed,
      ...(options.valScans === undefined ? {} : { valScans: options.valScans }),
    });
  const train = [...options.split.train];
  const val = [...options.split.val];
  for (const name of [...train, ...val])
    if (!names.includes(name))
      throw new RangeError(`trainSegmentation: split names scan ${name}, which is not among the scans (${names.join(', ')})`);
  const both = train.filter((n) => val.includes(n));
  if (both.length > 0)
    throw new RangeError(`trainSegmentation: scans ${both.join(', ')} are both in train and val (split by scan)`);
  return { train, val };
}

/** The scans read (or given), split by scan, and prepared as slice sets of the task. */
async function prepareSliceSets(
  options: TrainSegmentationOptions,
  input: InputSpec,
  sliceStep: number,
): Promise<{ split: { train: string[]; val: string[] }; trainSet: SliceSet; valSet?: SliceSet }> {
  let scans: readonly CtSegScan[];
  if (options.scans !== undefined) scans = options.scans;
  else if (options.cohortDir !== undefined) scans = await loadCtSegCohort(options.cohortDir);
  else throw new RangeError('trainSegmentation: give cohortDir (a COVID-19-CT-Seg folder) or scans');
  if (scans.length === 0) throw new RangeError('trainSegmentation: no scans');
  const split = resolveSplit(scans, options);
  if (split.train.length === 0) throw new RangeError('trainSegmentation: no training scans');
  const byName = new Map(scans.map((s) => [s.name, s]));
  const pick = (names: readonly string[]) => names.map((n) => byName.get(n) as CtSegScan);
  const trainSet = buildSliceSet(pick(split.train), options.task, input, { sliceStep });
  if (split.val.length === 0) return { split, trainSet };
  return { split, trainSet, valSet: buildSliceSet(pick(split.val), options.task, input, { sliceStep }) };
}

/** Trains (or resumes) a lung or lesion model in `runDir`; see the file comment. */
export async function trainSegmentation(options: TrainSegmentationOptions): Promise<TrainSegmentationResult> {
  const { runDir, task } = options;
  if (task !== 'lung' && task !== 'lesion')
    throw new RangeError(`trainSegmentation: task must be 'lung' or 'lesion', got ${JSON.stringify(task)}`);
  const architecture = parseSegmentationModelConfig(options.model);
  if (architecture.inChannels !== 1)
    throw new RangeError(`trainSegmentation: CT slices have 1 channel, the model takes ${architecture.inChannels}`);
  if (architecture.classes !== 1)
    throw new RangeError(
      `trainSegmentation: a binary mask is one sigmoid channel (classes 1), got classes ${architecture.classes}`,
    );
  const input = resolveInput(task, options.input);
  if (input.channels !== architecture.inChannels)
    throw new RangeError(
      `trainSegmentation: input.channels is ${input.channels}, the model takes ${architecture.inChannels} channel(s)`,
    );
  const epochs = positiveInteger('epochs', options.epochs ?? 100);
  const batchSize = positiveInteger('batchSize', options.batchSize ?? SEGMENTATION_BATCH_SIZE);
  if (batchSize < 2)
    throw new RangeError(`trainSegmentation: batchSize must be at least 2 (batch norm needs two values), got ${batchSize}`);
  const lr = options.lr ?? 1e-3;
  const momentum = options.momentum ?? 0.9;
  const weightDecay = options.weightDecay ?? 0;
  const lossName = options.loss ?? 'dice';
  if (!SEGMENTATION_LOSSES.includes(lossName))
    throw new RangeError(`trainSegmentation: unknown loss ${JSON.stringify(lossName)}; known: ${SEGMENTATION_LOSSES.join(', ')}`);
  const sliceStep = positiveInteger('sliceStep', options.sliceStep ?? 1);

  const card: ModelCard = {
    format: 'covsev-segmentation-model',
    version: 1,
    task,
    architecture,
    input,
    output: { activation: 'sigmoid', foreground: 0, threshold: 0.5 },
  };
  // Before any data is read: a run folder of another model is refused at once.
  await checkCardForResume(runDir, card);
  // The initial weights' hash, for the config (a wrong pin stops here, before the run folder is touched).
  const init = options.init;
  const initMap = ENCODER_WEIGHT_MAPS[architecture.encoder];
  const initSha256 = init === undefined ? undefined : await weightsFileSha256(init.path, init.sha256);

  // The scans themselves are not kept: only their prepared slices (a cohort's CT can be large).
  const { split, trainSet, valSet } = await prepareSliceSets(options, input, sliceStep);
  const slicesPerEpoch = positiveInteger('slicesPerEpoch', options.slicesPerEpoch ?? trainSet.images.length);
  const stepsPerEpoch = Math.floor(slicesPerEpoch / batchSize);
  if (stepsPerEpoch < 1)
    throw new RangeError(`trainSegmentation: ${slicesPerEpoch} slices per epoch make no batch of ${batchSize}`);

  const config = {
    card: card as unknown as JsonValue,
    batchSize,
    lr,
    momentum,
    weightDecay,
    loss: lossName,
    slicesPerEpoch,
    sliceStep,
    train: split.train,
    val: split.val,
    // Only with init, so runs made before the option resume.
    ...(init === undefined || initSha256 === undefined ? {} : { init: pretrainedRunConfig(init, initSha256, initMap) }),
  } satisfies Record<string, JsonValue>;
  const onWarning = options.onWarning ?? ((message: string) => console.warn(`covsev: ${message}`));
  let pretrained: PretrainedResult | undefined;

  const lossOf = (logits: tf.Tensor4D, target: tf.Tensor4D): tf.Scalar =>
    lossName === 'dice' ? diceLoss(logits, target, { mode: 'binary' }) : diceBceLoss(logits, target, { mode: 'binary' });

  /** The epoch's slice order (every training slice once, then again, up to slicesPerEpoch). */
  let order: number[] = [];
  const drawOrder = (rngs: RngStreams): number[] => {
    const out: number[] = [];
    while (out.length < slicesPerEpoch) out.push(...rngs.data.permutation(trainSet.images.length));
    return out.slice(0, slicesPerEpoch);
  };

  const result = await runTraining<SegmentationTrainModel>({
    runDir,
    epochs,
    stepsPerEpoch,
    seed: options.seed,
    config,
    label: describeSegmentationModel(card),
    kind: 'segmentation',
    samplesPerStep: batchSize,
    schedule: stepSchedule({ baseLr: lr, epochs }),
    trainerState: {
      save: (): JsonValue => ({ order }),
      restore: (state: JsonValue): void => {
        const s = state as { order?: number[] };
        if (Array.isArray(s.order)) order = s.order;
      },
    },
    ...(options.control === undefined ? {} : { control: options.control }),
    ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
    onWarning,
    ...(init === undefined ? {} : { runtime: { init: init.path } }),
    init: async ({ rngs }) => {
      const net = createSegmentationModel(architecture, { rng: rngs.init });
      if (input.size[0] % net.sizeDivisor !== 0 || input.size[1] % net.sizeDivisor !== 0)
        throw new RangeError(
          `trainSegmentation: input size ${input.size[0]} x ${input.size[1]} must divide by ${net.sizeDivisor} for ${net.name}`,
        );
      // The card goes down once the model is known to fit its input (the run's first file after the event log).
      await mkdir(runDir, { recursive: true });
      await writeModelCard(join(runDir, SEGMENTATION_CARD_FILE), card);
      const trainable = new Map(net.parameters().map(({ name, variable }) => [name, variable]));
      const variables = new Map(trainable);
      for (const { name, variable } of net.buffers()) variables.set(name, variable);
      return { net, trainable, variables, optimizer: new SGD(trainable, { lr, momentum, weightDecay }) };
    },
    ...(init === undefined
      ? {}
      : {
          // ImageNet weights into the encoder, once, on a fresh start (pinned to the hash in the config).
          fresh: async ({ model }) => {
            if (!(model.net instanceof EncoderDecoderModel))
              throw new RangeError(`trainSegmentation: init loads into an encoder; ${model.net.name} has none`);
            pretrained = await loadRunInit(model.net.encoder, init, initMap, initSha256 as string, onWarning);
          },
        }),
    trainStep: ({ model, step, rngs }) => {
      if (step === 0 || order.length !== slicesPerEpoch) order = drawOrder(rngs);
      const indices = order.slice(step * batchSize, (step + 1) * batchSize);
      const batch = sliceBatch(trainSet, indices, { augment: rngs.augment });
      try {
        let step: { value: tf.Scalar; grads: Record<string, tf.Tensor> };
        try {
          step = namedGrads(model.trainable, () => lossOf(model.net.logits(batch.x, { training: true }), batch.y));
        } catch (error) {
          const [n, h, w] = batch.x.shape;
          throw explainHeapExhaustion(
            error,
            `a ${describeSegmentationModel(card)} training step of ${n} slices of ${h}x${w}`,
            'fewer slices per step (batchSize), a smaller input size or a narrower network (width)',
          );
        }
        const { value, grads } = step;
        try {
          const loss = value.dataSync()[0] as number;
          // Checked before the optimiser step, so the weights stay those of the last good step.
          if (!Number.isFinite(loss)) throw new NonFiniteLossError({ [lossName]: loss }, undefined, true);
          model.optimizer.step(grads);
          return { losses: { [lossName]: loss }, samples: indices.length };
        } finally {
          value.dispose();
          for (const g of Object.values(grads)) g.dispose();
        }
      } finally {
        batch.x.dispose();
        batch.y.dispose();
      }
    },
    ...(valSet === undefined
      ? {}
      : {
          monitor: { metric: 'valIoU', mode: 'max' },
          evaluate: async ({ model }) => {
            const scores = await scoreSliceSet(model.net, card, valSet);
            return { valIoU: scores.iou, valMIoU: scores.miou, valDice: scores.dice };
          },
        }),
  });
  return {
    model: result.model.net,
    card,
    split,
    epochsRun: result.epochsRun,
    stopped: result.stopped,
    ...(result.best === undefined ? {} : { best: result.best }),
    ...(pretrained === undefined ? {} : { pretrained }),
  };
}

/** Slices per forward pass when predicting. */
const PREDICT_BATCH = 16;

/**
 * Thresholded predictions of every slice of `set` (the card's output spec) on `set`'s grid,
 * scored against its targets with all pixels pooled.
 */
export async function scoreSliceSet(model: SegmentationModel, card: ModelCard, set: SliceSet) {
  const segmenter = new TfjsSegmenter(model, card);
  const [rows, cols] = set.size;
  const plane = rows * cols;
  const accumulator = new SegmentationMetricAccumulator();
  const threshold = card.output.threshold;
  for (let start = 0; start < set.images.length; start += PREDICT_BATCH) {
    const count = Math.min(PREDICT_BATCH, set.images.length - start);
    const input = new Float32Array(count * plane);
    for (let k = 0; k < count; k++) input.set(set.images[start + k] as Float32Array, k * plane);
    const probs = await segmenter.predictSlices(input, count);
    for (let k = 0; k < count; k++) {
      const pred = new Uint8Array(plane);
      for (let i = 0; i < plane; i++) pred[i] = (probs[k * plane + i] as number) >= threshold ? 1 : 0;
      accumulator.update(pred, set.masks[start + k] as Uint8Array);
    }
  }
  return accumulator.aggregate();
}

/**
 * Refuses to resume a run folder whose `model.json` describes another model (task, architecture
 * or input), naming the file and both cards.
 */
async function checkCardForResume(runDir: string, card: ModelCard): Promise<void> {
  const path = join(runDir, SEGMENTATION_CARD_FILE);
  if (!existsSync(path)) return;
  const stored = await readModelCard(path);
  if (canonicalJson(stored as unknown as JsonValue) === canonicalJson(card as unknown as JsonValue)) return;
  throw new CovsevInputError(
    path,
    `this run trains ${describeSegmentationModel(stored)} ${JSON.stringify(stored)}; asked to resume it as ${describeSegmentationModel(card)} ${JSON.stringify(card)}: use a new run folder, or the run's own settings`,
  );
}
