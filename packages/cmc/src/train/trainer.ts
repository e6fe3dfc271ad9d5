/**
 * The CMC trainer over a cohort: two augmented views per scan (docs/method.md, augmentation A), the
 * CMC training step, validation Macro F1 after each epoch, checkpoints and the event stream
 * through the engine's `runTraining` (resumes from the last checkpoint after a crash, and obeys
 * the run folder's control channel: `stop` and `checkpoint` between two steps).
 *
 * A mid-epoch checkpoint keeps the epoch's data order and, with view workers, the views drawn
 * one step ahead (their parameters), so a resume from it redraws nothing and ends with the
 * weights of an uninterrupted run. The best epoch by validation Macro F1 (ties: the lower
 * validation loss, then the earlier epoch) is kept as `checkpoints/best/`.
 *
 * Input: scans already on the classifier grid (`@covsev/io`'s `preprocessScan`), as uint8
 * windowed CT, plus a mask for the mask variants (`lung-cmc`: the lung mask, `infection-cmc`: the
 * infection mask), whose input is the two channels [mask, CT] (docs/method.md, pipeline). Masks
 * come in as data; the trainer never makes them.
 *
 * Variants (docs/method.md, "Variants (Table 3)"; variants.ts): `resnest`, `mixup`, `cmc` (the
 * default), `lung-cmc`, `infection-cmc`. A class without a training scan is refused by name
 * (`emptyClasses: 'weight-one'` weights it as one scan instead), and a NaN or infinite loss stops
 * the run before its optimiser step, the last good checkpoint kept (`NonFiniteLossError`).
 *
 * Initial weights (`init`): the paper starts the backbone from ImageNet. A 2D ResNeSt-50
 * checkpoint as safetensors is inflated into the 3D ResNeSt (`RESNEST50_MAP`) on a fresh start;
 * its SHA-256 is in the run config (`init`, only when given) and the `run-start` event, its path in
 * the event's `runtime`.
 */

import {
  Adam,
  type JsonValue,
  loadRunInit,
  type PretrainedInit,
  type PretrainedResult,
  pretrainedRunConfig,
  type RngStreams,
  recalibrateBatchNorm,
  runTraining,
  stepSchedule,
  type TrainEvent,
  type TrainModel,
  type Volume5,
  weightsFileSha256,
} from '@covsev/engine';
import { classificationReport, confusionMatrix, macroF1 } from '@covsev/eval';
import { type Rng, SEVERITY_CLASSES, type ViewParams } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import type { CmcScan } from '../input/cmcScan.js';
import { scansToInput } from '../input/modelInput.js';
import { drawMixup } from '../losses/mixup.js';
import { type CeReduction, DEFAULT_CE_REDUCTION, inverseFrequencyWeights } from '../losses/weightedCrossEntropy.js';
import { CmcNetwork, type CmcNetworkConfig } from '../models/cmcNetwork.js';
import { RESNEST50_MAP } from '../models/pretrained.js';
import { argmax, predictCmc } from '../predict/predict.js';
import { CmcDataParallel } from './dataParallel.js';
import { cmcRunConfigSchema } from './runConfig.js';
import { cmcTrainStep, stepEventLosses } from './trainStep.js';
import { type CmcVariant, cmcVariantSpec, resolveCmcVariant, storesCmcVariant } from './variants.js';
import { ViewPool } from './viewPool.js';
import { applyView, drawView, type View, type ViewJob } from './views.js';

export interface TrainCmcOptions {
  readonly runDir: string;
  readonly train: readonly CmcScan[];
  readonly val?: readonly CmcScan[];
  readonly network: Omit<CmcNetworkConfig, 'inChannels'>;
  /**
   * Which row of Table 3 (variants.ts): `resnest` (weighted CE), `mixup` (+ mixup), `cmc`
   * (contrastive + mixup + CE joined by s1, s2; the default), `lung-cmc` ([lung mask, CT]),
   * `infection-cmc` ([infection mask, CT]). Absent: `cmc`, or `infection-cmc` with `inChannels: 2`.
   */
  readonly variant?: CmcVariant;
  /**
   * 1: CT; 2: [mask, CT] (every scan then needs a mask). Follows from the variant; given, it must
   * agree with it (a contradiction is refused).
   */
  readonly inChannels?: 1 | 2;
  /**
   * A class without a training scan: 'refuse' (the default) stops with the empty classes named;
   * 'weight-one' weights each as if it had one scan (alpha of eq. 7 stays finite).
   */
  readonly emptyClasses?: 'refuse' | 'weight-one';
  /**
   * How the weighted cross entropy (eq. 7) averages its terms: `'mean'` (the default: over the 2N
   * views, eq. 8 as printed) or `'weighted-mean'` (divided by the sum of the views' class weights,
   * as PyTorch's `CrossEntropyLoss(weight=alpha)` in the authors' code). Stored in the run config
   * only when not the default, so runs made before the option resume.
   */
  readonly ceReduction?: CeReduction;
  /**
   * Recompute the batch-norm running statistics at the end of every epoch, before validation and
   * the checkpoint, as the plain mean over the training scans (un-augmented, `batchSize` scans
   * per pass; `recalibrateBatchNorm`). Default false: the statistics are training's exponential
   * average of the last few dozen steps' augmented and mixed views, as in PyTorch and the paper.
   * On, the validation Macro F1 of a finished run swung less between neighbouring epochs, but
   * `pnpm bench:cmc` graded the held-out scans worse with it in 4 of 5 Table 3 variants
   * (infection-aware CMC 74.2 against 87.4 % Macro F1; docs/method.md, "Training"). Stored in the
   * run config only when true.
   */
  readonly preciseBatchNorm?: boolean;
  readonly epochs: number;
  /** Scans per step (each gives two views); at least 2 (batch norm needs two values). */
  readonly batchSize: number;
  readonly seed: number;
  readonly lr?: number;
  readonly weightDecay?: number;
  /** Volumes per backbone pass; 'auto' (default): what fits the wasm heap; 'off' (`CmcStepOptions.microBatch`). */
  readonly microBatch?: number | 'auto' | 'off';
  /**
   * Worker threads computing each step's gradients (`CmcDataParallel`); 0 or absent: this thread.
   * The result does not depend on it: the workers run the micro-batches this thread would.
   */
  readonly workers?: number;
  /**
   * Worker threads making the augmented views (`ViewPool`), one step ahead of training; 0 or
   * absent: this thread, in turn with the steps. The views are the same bytes either way.
   */
  readonly viewWorkers?: number;
  /**
   * ImageNet weights for the 3D ResNeSt backbone (the paper's start): a ResNeSt-50 checkpoint (the
   * release's or timm's resnest50d) as safetensors, `RESNEST50_MAP`, its 2D kernels inflated to
   * 1 x k x k and the stem by `stemInit` (default random). Loaded on a fresh start before the first
   * step (a resume restores its checkpoint). The file's SHA-256 is stored in the run config (only
   * when given), so a resume with another file is refused; a pinned `sha256` that differs stops
   * before training; a `partial` load says what it skipped through `onWarning`.
   */
  readonly init?: PretrainedInit;
  readonly onEvent?: (event: TrainEvent) => void;
  /** Told what recovery did (a corrupt checkpoint skipped) and what a partial `init` skipped; default `console.warn`. */
  readonly onWarning?: (message: string) => void;
  /** Obey `<runDir>/control.jsonl` (stop, checkpoint); default true. */
  readonly control?: boolean;
}

/**
 * The model for people: "resnest-tiny-3d, 1 channel(s)" (a custom backbone by its layers and
 * width), then the variant where `inChannels` does not imply it: "resnest-tiny-3d, 1 channel(s),
 * ResNeSt + mixup".
 */
export function describeCmcModel(network: Omit<CmcNetworkConfig, 'inChannels'>, inChannels: 1 | 2, variant?: CmcVariant): string {
  const b = network.backbone;
  const backbone = typeof b === 'string' ? b : `ResNeSt-3D [${b.layers.join(', ')}], base ${b.base}`;
  const named = variant !== undefined && storesCmcVariant(variant) ? `, ${cmcVariantSpec(variant).title}` : '';
  return `${backbone}, ${inChannels} channel(s)${named}`;
}

/**
 * Training scans per class (Mild, Moderate, Severe, Critical) for alpha (eq. 7). An empty class
 * is refused by name, or (`'weight-one'`) counted as one scan.
 */
export function classCounts(labels: readonly number[], emptyClasses: 'refuse' | 'weight-one' = 'refuse'): number[] {
  const counts = [0, 1, 2, 3].map((c) => labels.filter((l) => l === c).length);
  const empty = counts.flatMap((n, c) => (n === 0 ? [SEVERITY_CLASSES[c] as string] : []));
  if (empty.length === 0) return counts;
  if (emptyClasses === 'weight-one') return counts.map((n) => Math.max(1, n));
  throw new RangeError(
    `no training scan of class ${empty.join(', ')} (counts ${SEVERITY_CLASSES.map((name, c) => `${name} ${counts[c]}`).join(', ')}): ` +
      `the class weights of eq. 7 (1 / count) need every class; add scans of ${empty.length === 1 ? 'it' : 'them'}, ` +
      `or set emptyClasses: 'weight-one' to weight an empty class as one scan`,
  );
}

/** Mean cross-entropy of predicted class probabilities against the true classes. */
function crossEntropy(probs: readonly (readonly number[])[], truth: readonly number[]): number {
  let sum = 0;
  probs.forEach((p, i) => {
    sum -= Math.log(Math.max(p[truth[i] as number] as number, 1e-12));
  });
  return sum / probs.length;
}

export interface TrainCmcResult {
  readonly model: CmcNetwork;
  /** Epochs completed by this call. */
  readonly epochsRun: number;
  /** True when a `stop` command of the control channel ended the run early (a later call resumes it). */
  readonly stopped: boolean;
  /** What `init` loaded, on a fresh start (absent on a resume: the checkpoint had the weights). */
  readonly pretrained?: PretrainedResult;
}

interface CmcTrainModel extends TrainModel {
  readonly model: CmcNetwork;
  readonly optimizer: Adam;
}

/** Trains (or resumes) a CMC model; returns it with the last validation metrics. */
export async function trainCmc(options: TrainCmcOptions): Promise<TrainCmcResult> {
  const { train, batchSize } = options;
  const { variant, inChannels } = resolveCmcVariant(options);
  const spec = cmcVariantSpec(variant);
  if (!(batchSize >= 2)) throw new RangeError(`batchSize must be at least 2 (batch norm needs two values), got ${batchSize}`);
  if (train.length < batchSize) throw new RangeError(`${train.length} training scans for a batch of ${batchSize}`);
  const labels = train.map((s, i) => {
    if (s.label === undefined || !Number.isInteger(s.label) || s.label < 0 || s.label > 3)
      throw new RangeError(`training scan ${s.name ?? i} has no class id 0..3`);
    return s.label;
  });
  if (spec.mask !== undefined) {
    const missing = [...train, ...(options.val ?? [])].find((s) => s.mask === undefined);
    if (missing !== undefined)
      throw new RangeError(
        `variant '${variant}' (${spec.title}) takes [${spec.mask} mask, CT]: every scan needs its ${spec.mask} mask ` +
          `(CmcScan.mask, on the classifier grid), scan ${missing.name} has none`,
      );
    const misfit = [...train, ...(options.val ?? [])].find(
      (s) => s.mask !== undefined && !sameShape(s.mask.shape, s.image.shape),
    );
    if (misfit !== undefined)
      throw new RangeError(
        `scan ${misfit.name}: its ${spec.mask} mask is ${misfit.mask?.shape.join('x')} but its CT is ${misfit.image.shape.join('x')}; ` +
          'put the mask on the classifier grid first (nearest neighbour, as the pipeline does)',
      );
  }
  // Class weights from the training counts (eq. 7); an empty class is refused by name (or weighted as one scan).
  const alpha = inverseFrequencyWeights(classCounts(labels, options.emptyClasses));
  const stepsPerEpoch = Math.floor(train.length / batchSize);
  let order: number[] = [];
  const lr = options.lr ?? 1e-4;
  const workers = options.workers ?? 0;
  const ceReduction = options.ceReduction ?? DEFAULT_CE_REDUCTION;
  const preciseBatchNorm = options.preciseBatchNorm ?? false;
  if (ceReduction !== 'mean' && ceReduction !== 'weighted-mean')
    throw new RangeError(`ceReduction must be 'mean' or 'weighted-mean', got ${JSON.stringify(ceReduction)}`);
  if (!Number.isInteger(workers) || workers < 0) throw new RangeError(`workers must be a whole number >= 0, got ${workers}`);
  // The initial weights' hash, for the config (a wrong pin stops here, before the run folder is touched).
  const init = options.init;
  const initSha256 = init === undefined ? undefined : await weightsFileSha256(init.path, init.sha256);
  // What the run stores and a resume compares (keys in the order stored before the schema).
  const config = cmcRunConfigSchema.parse({
    network: options.network,
    inChannels,
    batchSize,
    lr,
    scans: train.length,
    workers,
    ...(options.microBatch === undefined ? {} : { microBatch: options.microBatch }),
    // Only where inChannels does not imply it, so runs made before variants resume.
    ...(storesCmcVariant(variant) ? { variant } : {}),
    // Only when not the default, so runs made before the option resume.
    ...(ceReduction === DEFAULT_CE_REDUCTION ? {} : { ceReduction }),
    // Only when on: runs made before the option, and runs with it off (the default), store nothing.
    ...(preciseBatchNorm ? { preciseBatchNorm } : {}),
    // Only when given, so runs made before the option resume.
    ...(init === undefined || initSha256 === undefined ? {} : { init: pretrainedRunConfig(init, initSha256, RESNEST50_MAP) }),
  });
  const onWarning = options.onWarning ?? ((message: string) => console.warn(`covsev: ${message}`));
  let pretrained: PretrainedResult | undefined;
  let parallel: CmcDataParallel | undefined;
  const viewWorkers = options.viewWorkers ?? 0;
  const views = viewWorkers > 0 ? ViewPool.start(viewWorkers) : undefined;
  /** A step's scans and their two views per scan (all first views, then all second views). */
  interface StepViews {
    readonly step: number;
    readonly picked: CmcScan[];
    readonly params: ViewParams[];
    readonly views: Promise<View[]>;
  }
  let ahead: StepViews | undefined;
  const pickStep = (step: number): CmcScan[] =>
    order.slice(step * batchSize, (step + 1) * batchSize).map((i) => train[i] as CmcScan);
  const makeStep = (step: number, picked: CmcScan[], jobs: ViewJob[]): StepViews => {
    const made = views === undefined ? Promise.resolve(jobs.map(applyView)) : views.apply(jobs);
    made.catch(() => {}); // awaited by its step; a run that stops first must not leave it unhandled
    return { step, picked, params: jobs.map((j) => j.params), views: made };
  };
  const drawStep = (step: number, rng: Rng): StepViews => {
    const picked = pickStep(step);
    return makeStep(
      step,
      picked,
      [0, 1].flatMap(() => picked.map((s) => drawView(s, rng))),
    );
  };
  /** A step whose views were drawn before a checkpoint (their parameters stored in it). */
  const redoStep = (step: number, params: ViewParams[]): StepViews => {
    const picked = pickStep(step);
    const jobs = [0, 1].flatMap((_, v) =>
      picked.map((s, i): ViewJob => {
        const p = params[v * picked.length + i] as ViewParams;
        return s.mask === undefined ? { image: s.image, params: p } : { image: s.image, mask: s.mask, params: p };
      }),
    );
    return makeStep(step, picked, jobs);
  };
  /** The epoch's order and the views drawn ahead, for mid-epoch checkpoints (JSON). */
  const trainerState = {
    save: (): JsonValue => ({
      order,
      ahead: ahead === undefined ? null : { step: ahead.step, params: ahead.params as unknown as JsonValue[] },
    }),
    restore: (state: JsonValue): void => {
      const s = state as { order?: number[]; ahead?: { step: number; params: ViewParams[] } | null };
      if (Array.isArray(s.order)) order = s.order;
      ahead = s.ahead == null || order.length === 0 ? undefined : redoStep(s.ahead.step, s.ahead.params);
    },
  };
  try {
    return await runCmcTraining();
  } finally {
    await Promise.all([parallel?.close(), views?.close()]);
  }

  async function runCmcTraining(): Promise<TrainCmcResult> {
    const result = await runTraining<CmcTrainModel>({
      runDir: options.runDir,
      epochs: options.epochs,
      stepsPerEpoch,
      seed: options.seed,
      config,
      runtime: { workers, viewWorkers, ...(init === undefined ? {} : { init: init.path }) },
      label: describeCmcModel(options.network, inChannels, variant),
      kind: 'classifier',
      trainerState,
      ...(options.control === undefined ? {} : { control: options.control }),
      schedule: stepSchedule({ baseLr: lr, epochs: options.epochs }),
      ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
      onWarning,
      init: async ({ rngs }: { rngs: RngStreams }) => {
        const model = new CmcNetwork({ ...options.network, inChannels }, rngs.init);
        const variables = new Map(model.parameters().map(({ name, variable }) => [name, variable]));
        for (const { name, variable } of model.buffers()) variables.set(name, variable);
        const trainable = new Map(model.parameters().map(({ name, variable }) => [name, variable]));
        if (workers > 0) parallel = await CmcDataParallel.start(model, { workers });
        return { model, variables, optimizer: new Adam(trainable, { lr, weightDecay: options.weightDecay ?? 1e-5 }) };
      },
      ...(init === undefined
        ? {}
        : {
            // ImageNet weights into the backbone, once, on a fresh start (pinned to the hash in the config).
            fresh: async ({ model }: { model: CmcTrainModel }) => {
              pretrained = await loadRunInit(model.model.backbone, init, RESNEST50_MAP, initSha256 as string, onWarning);
            },
          }),
      trainStep: async ({ model, step, rngs }) => {
        if (step === 0) {
          order = rngs.data.permutation(train.length);
          ahead = undefined;
        }
        // This step's views (made ahead by the pool during the last step), then the next step's
        // drawn now, in serial order, and made while this step trains; never across an epoch's
        // end, where the checkpoint saves the augment stream.
        const current = ahead?.step === step ? ahead : drawStep(step, rngs.augment);
        ahead = views !== undefined && step + 1 < stepsPerEpoch ? drawStep(step + 1, rngs.augment) : undefined;
        const made = await current.views;
        const picked = current.picked;
        const stepViews = [made.slice(0, picked.length), made.slice(picked.length)].map((v) => scansToInput(v, inChannels)) as [
          Volume5,
          Volume5,
        ];
        try {
          const losses = cmcTrainStep(
            model.model,
            model.optimizer,
            { views: stepViews, labels: picked.map((s) => s.label as number) },
            {
              alpha,
              variant,
              ceReduction,
              ...(spec.mixup
                ? { mixup: [drawMixup(rngs.mixup, picked.length), drawMixup(rngs.mixup, picked.length)] as const }
                : {}),
              ...(options.microBatch === undefined ? {} : { microBatch: options.microBatch }),
              ...(parallel === undefined ? {} : { dataParallel: parallel }),
            },
          );
          // Samples: the volumes the step trained on (two views per scan).
          return { losses: stepEventLosses(losses, variant), samples: made.length };
        } finally {
          for (const v of stepViews) v.tensor.dispose();
        }
      },
      ...(preciseBatchNorm
        ? {
            // The running statistics from every training scan, before validation and the checkpoint.
            afterEpoch: ({ model }) => {
              recalibrateCmcStatistics(model.model, train, inChannels, batchSize);
            },
          }
        : {}),
      ...(options.val === undefined || options.val.length === 0
        ? {}
        : {
            // The best epoch: the highest validation Macro F1, ties by the lower validation loss.
            monitor: { metric: 'valMacroF1', mode: 'max', tieBreak: { metric: 'valLoss', mode: 'min' } },
            evaluate: ({ model }) => {
              const val = options.val as readonly CmcScan[];
              const probs = predictCmc(model.model, val, inChannels);
              const truth = val.map((s) => s.label as number);
              const confusion = confusionMatrix(truth, probs.map(argmax), 4);
              const report = classificationReport(confusion, { classNames: SEVERITY_CLASSES });
              return {
                metrics: { valMacroF1: macroF1(confusion), valLoss: crossEntropy(probs, truth) },
                report: {
                  classNames: [...SEVERITY_CLASSES],
                  perClassF1: report.perClass.map((c) => c.f1),
                  confusion: confusion.map((row) => [...row]),
                },
              };
            },
          }),
    });
    return {
      model: result.model.model,
      epochsRun: result.epochsRun,
      stopped: result.stopped,
      ...(pretrained === undefined ? {} : { pretrained }),
    };
  }
}

/**
 * The network's batch-norm statistics recomputed as the plain mean over `scans` (un-augmented,
 * `batchSize` scans per training-mode pass, no gradient; a final pass of a single scan is left
 * out, batch norm needs two values): what `trainCmc` does after every epoch (`preciseBatchNorm`).
 * Returns the number of passes.
 */
export function recalibrateCmcStatistics(
  model: CmcNetwork,
  scans: readonly CmcScan[],
  inChannels: 1 | 2,
  batchSize: number,
): number {
  const passes = scans.length % batchSize === 1 ? Math.floor(scans.length / batchSize) : Math.ceil(scans.length / batchSize);
  recalibrateBatchNorm(model, passes, (i) => {
    const input = scansToInput(scans.slice(i * batchSize, (i + 1) * batchSize), inChannels);
    try {
      tf.tidy(() => {
        model.apply(input, { training: true });
      });
    } finally {
      input.tensor.dispose();
    }
  });
  return passes;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((n, i) => n === b[i]);
