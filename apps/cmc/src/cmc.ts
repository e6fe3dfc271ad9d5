/**
 * `pnpm cmc -- train|predict|cam|inspect ...`: parses the command line and calls `@covsev/pipeline`
 * (`classifyCohort`, `loadTrainedClassifier`, `scanFolders`, `readMasksOnGrid`,
 * `readMaskOnGrid`, `preprocessScans`, `predictScans`) and `@covsev/cmc` (`classActivationVolume`,
 * `writeCamMontage`, `inspectResNeStWeights`). No pipeline logic lives here: options in, a function called, lines printed.
 */
import { basename } from 'node:path';
import {
  type CliStreams,
  createProgress,
  describePretrainedInit,
  integerIn,
  nonNegativeInteger,
  numberIn,
  oneOf,
  type ProgressReporter,
  parseCliArgs,
  path,
  positiveInteger,
  pretrainedInitOption,
  runCli,
  runSubcommand,
  safetensorsPath,
  sha256Digest,
  stemInitChoice,
  UsageError,
  type ValueCheck,
} from '@covsev/cli';
import {
  type CamLayer,
  CE_REDUCTIONS,
  type CeReduction,
  CMC_VARIANTS,
  type CmcVariant,
  classActivationVolume,
  cmcVariantSpec,
  inspectResNeStWeights,
  RESNEST3D_CONFIGS,
  type ResNeSt3dName,
  writeCamMontage,
} from '@covsev/cmc';
import { formatWeightsInspection, initBackend } from '@covsev/engine';
import type { StageEvent, TrainEvent } from '@covsev/events';
import { SEVERITY_CLASSES, type Shape3 } from '@covsev/io';
import {
  classifyCohort,
  describeRunStart,
  type LoadedClassifier,
  loadTrainedClassifier,
  parseClassifierRun,
  partTablePath,
  predictScans,
  preprocessScans,
  readMaskOnGrid,
  readMasksOnGrid,
  runFolder,
  scanFolders,
  shardFromEnv,
  shardOf,
} from '@covsev/pipeline';

export const USAGE = `usage: pnpm cmc -- <command> [options]   (pnpm cmc -- <command> --help for its options)
  train    train the CMC classifier on a COV19-CT-DB cohort into a run folder (then predict val/test, submission)
  predict  a prediction table for a folder of scans, from a trained run
  cam      a class activation map montage (PNG) of one scan, from a trained run
  inspect  a safetensors ResNeSt-50 checkpoint's tensors and the 3D ResNeSt layer each maps to (for --init)`;

export const TRAIN_USAGE = `usage: pnpm cmc -- train --cohort DIR --run DIR [options]
  --cohort DIR          a COV19-CT-DB cohort (label CSVs, train/ val/ test/)
  --run DIR             the run folder (cache, runs/cmc checkpoints, predictions, submission); a second call resumes
  --variant V           ${CMC_VARIANTS.join('|')} (default cmc); lung-cmc and infection-cmc need --masks
  --masks DIR           one mask NIfTI per scan, <DIR>/<scan>.nii.gz, on any grid (nearest-neighbour onto --grid)
  --grid DxHxW          the classifier grid [slices x rows x cols] (default 64x256x256)
  --backbone NAME       ${Object.keys(RESNEST3D_CONFIGS).join('|')} (default resnest50-3d)
  --epochs E            (default 100, the paper's)
  --batch B             scans per step, >= 2 (default 8)
  --lr X                base learning rate (default 1e-4, the paper's, for ImageNet-initialised weights;
                        from random weights on a small cohort 1e-3 and about 20 epochs learn: docs/method.md)
  --seed S              (default 0)
  --workers W           gradient worker threads, 0: the main thread (default 0)
  --empty-classes M     refuse|weight-one: a grade without training scans (default refuse)
  --ce R                mean|weighted-mean: the weighted CE's reduction (default mean, eq. 8 as printed;
                        weighted-mean divides by the batch's summed class weights, as the authors' code)
  --precise-bn on|off   recompute batch-norm statistics over the training scans after each epoch
                        (default off: training's running averages, as PyTorch; docs/method.md "Training")
  --tta N               augmented passes per scan when predicting val/test, 0: plain pass (default 3)
  --engine E            onnx|tfjs for those predictions (default onnx)
  --init FILE           start the backbone from ImageNet weights: the ResNeSt release's resnest50 or
                        timm's resnest50d as .safetensors (convert a .pth: packages/engine/README.md),
                        2D kernels inflated to 1 x k x k; its SHA-256 goes into the run config, so a
                        resume needs the same file (fine-tune at the default --lr 1e-4, the paper's)
  --init-sha256 HEX     refuse the --init file unless its SHA-256 is HEX (64 hex digits)
  --partial             load what of --init fits and list what was skipped (default: strict, all or nothing)
  --stem-init M         random|mean: the stem's first conv (1 or 2 channels, 7 x 7) from the file's RGB
                        one: kept random (default) or the RGB kernel averaged and centred`;

export const PREDICT_USAGE = `usage: pnpm cmc -- predict --run DIR --scans DIR --out PRED.csv [options]
  --run DIR             a trained run folder (pnpm cmc -- train)
  --scans DIR           a folder of scan folders (e.g. the cohort's test/)
  --out PRED.csv        the prediction table (name,category,p_mild,p_moderate,p_severe,p_critical)
  --tta N               augmented passes per scan, 0: the plain pass (default 3)
  --engine E            onnx|tfjs (default onnx)
  --checkpoint C        latest|best (default latest; best: the best validation epoch)
  --masks DIR           one mask NIfTI per scan, needed by lung-cmc / infection-cmc runs
  --num-parts N         predict one part of N (contiguous blocks of the scans in name order) into
                        <PRED>.part-K-of-N.csv, resumable (pnpm submit -- merge joins the parts; docs/sharding.md);
                        default SLURM_ARRAY_TASK_COUNT
  --part-id K           which part, 0..N-1 (default SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN, or
                        JOB_COMPLETION_INDEX in a Kubernetes Indexed Job, which needs --num-parts)`;

export const CAM_USAGE = `usage: pnpm cmc -- cam --run DIR --scan DIR --out PNG [options]
  --run DIR             a trained run folder (pnpm cmc -- train)
  --scan DIR            one scan folder (JPG slices)
  --out PNG             the montage: CT slices, the CAM as a heat overlay, the mask outline
  --class C             ${SEVERITY_CLASSES.join('|')} (default: the predicted class)
  --mask NIFTI          the scan's mask (outline; the input channel of lung-cmc / infection-cmc runs)
  --layer L             1-4: the backbone layer the map is taken on (default 4, the paper's CAM; 1-3:
                        Grad-CAM on a finer grid: layer 4 is 1/8 of the slices and 1/32 of the rows and
                        columns, layer L 1/2^(L-1) of the slices and 1/2^(L+1) of the rows and columns)
  --checkpoint C        latest|best (default latest)`;

export const INSPECT_USAGE = `usage: pnpm cmc -- inspect FILE.safetensors [options]
  FILE.safetensors      a ResNeSt-50 checkpoint (the release's or timm's resnest50d) converted to safetensors
  --backbone NAME       ${Object.keys(RESNEST3D_CONFIGS).join('|')} (default resnest50-3d)
  --in-channels C       1 (CT) or 2 ([mask, CT]: lung-cmc, infection-cmc) (default 1)
  --stem-init M         random|mean (default random), as train --stem-init
  Lists every tensor (name, dtype, shape) and the 3D ResNeSt layer it maps to (or dropped, no match,
  wrong shape), then whether train --init would load it strictly; exit 1 when it would not.`;

/** `DxHxW` (three positive integers), e.g. `64x256x256`. */
export const gridShape: ValueCheck<Shape3> = (text, flag) => {
  const parts = text.trim().split(/x/i);
  if (parts.length !== 3 || parts.some((p) => !/^\d+$/.test(p)))
    throw new UsageError(`${flag} expects DxHxW (slices x rows x cols, e.g. 64x256x256), got "${text}"`);
  const shape = parts.map(Number);
  if (shape.some((n) => n < 1 || !Number.isSafeInteger(n)))
    throw new UsageError(`${flag} must be three positive integers DxHxW, got "${text}"`);
  return shape as unknown as Shape3;
};

/** A finite number > 0. */
const positiveNumber: ValueCheck<number> = (text, flag) => {
  const n = numberIn(0, Number.MAX_VALUE)(text, flag);
  if (n <= 0) throw new UsageError(`${flag} must be a positive number, got ${text}`);
  return n;
};

const checkpointChoice = oneOf(['latest', 'best']);
const engineChoice = oneOf(['onnx', 'tfjs']);

type Print = (line: string) => void;

/** Progress lines from the stages' and the trainer's events (ETA from `createProgress`). */
function progressPrinter(print: Print): { onEvent: (e: StageEvent) => void; onTrainEvent: (e: TrainEvent) => void } {
  let progress: ProgressReporter | undefined;
  let training: ProgressReporter | undefined;
  let stepsPerEpoch = 0;
  return {
    onEvent: (event) => {
      if (event.type === 'stage-start') {
        if (event.stage === 'preprocess') progress = createProgress('preprocess', event.total ?? 0);
        if (event.stage === 'train-classifier') print(`train-classifier: ${String(event.detail?.backend ?? '')}`);
        if (event.stage === 'predict')
          print(`predict: ${event.total ?? 0} scans${event.detail?.out ? ` -> ${event.detail.out}` : ''}`);
      } else if (event.type === 'stage-progress') {
        if (event.stage === 'preprocess')
          progress?.update(event.done, `${event.item ?? ''}${event.cached === true ? ' (cache)' : ''}`);
        if (event.stage === 'train-classifier' && event.item !== undefined && !event.item.startsWith('epoch '))
          print(`   ${event.item}`);
      } else if (event.type === 'stage-end') {
        if (event.stage === 'load-cohort') {
          const n = event.summary ?? {};
          print(`load-cohort: train ${n.train} scans, val ${n.val}, test ${n.test}`);
        }
        if (event.stage === 'preprocess') {
          progress?.finish(`${event.summary?.cacheHits} cache hits of ${event.summary?.scans}`);
          progress = undefined;
        }
        for (const warning of event.warnings ?? []) print(`   warning: ${warning}`);
      }
    },
    onTrainEvent: (event) => {
      if (event.type === 'run-start') {
        const init = describePretrainedInit(event.config, event.runtime);
        if (init !== undefined) print(`   ${init}${event.resumedFrom === undefined ? '' : ' (the checkpoint has the weights)'}`);
        for (const line of describeRunStart(event)) print(`   ${line}`);
        stepsPerEpoch = event.stepsPerEpoch;
        if (event.startEpoch < event.epochs) training = createProgress('train', event.epochs * stepsPerEpoch);
      } else if (event.type === 'step') {
        training?.update(
          event.epoch * stepsPerEpoch + event.step + 1,
          `epoch ${event.epoch + 1} loss ${event.losses.total?.toFixed(3) ?? ''}`,
        );
      } else if (event.type === 'epoch') {
        const f1 = event.metrics.valMacroF1;
        training?.update(
          (event.epoch + 1) * stepsPerEpoch,
          `epoch ${event.epoch + 1}: loss ${event.metrics.loss?.toFixed(3)}, val Macro F1 ${typeof f1 === 'number' ? f1.toFixed(3) : '-'}`,
        );
      } else if (event.type === 'run-end') {
        training?.finish();
        training = undefined;
      }
    },
  };
}

async function train(argv: readonly string[], print: Print): Promise<number> {
  const { values } = parseCliArgs(argv, {
    usage: TRAIN_USAGE,
    options: {
      cohort: { type: 'string', parse: path, required: true, valueName: 'DIR' },
      run: { type: 'string', parse: path, required: true, valueName: 'DIR' },
      variant: { type: 'string', parse: oneOf<CmcVariant>(CMC_VARIANTS), default: 'cmc' as CmcVariant },
      masks: { type: 'string', parse: path, valueName: 'DIR' },
      grid: { type: 'string', parse: gridShape, default: [64, 256, 256] as Shape3 },
      backbone: {
        type: 'string',
        parse: oneOf(Object.keys(RESNEST3D_CONFIGS) as ResNeSt3dName[]),
        default: 'resnest50-3d' as ResNeSt3dName,
      },
      epochs: { type: 'string', parse: positiveInteger, default: 100 },
      batch: { type: 'string', parse: integerIn(2, 100_000), default: 8 },
      lr: { type: 'string', parse: positiveNumber, default: 1e-4 },
      seed: { type: 'string', parse: nonNegativeInteger, default: 0 },
      workers: { type: 'string', parse: integerIn(0, 256), default: 0 },
      'empty-classes': { type: 'string', parse: oneOf(['refuse', 'weight-one']), default: 'refuse' as 'refuse' | 'weight-one' },
      ce: { type: 'string', parse: oneOf(CE_REDUCTIONS), default: 'mean' as CeReduction },
      'precise-bn': { type: 'string', parse: oneOf(['on', 'off']), default: 'off' as 'on' | 'off' },
      tta: { type: 'string', parse: integerIn(0, 1000), default: 3 },
      engine: { type: 'string', parse: engineChoice, default: 'onnx' as 'onnx' | 'tfjs' },
      init: { type: 'string', parse: safetensorsPath, valueName: 'FILE' },
      'init-sha256': { type: 'string', parse: sha256Digest, valueName: 'HEX' },
      partial: { type: 'boolean' },
      'stem-init': { type: 'string', parse: stemInitChoice },
    },
  });
  const init = pretrainedInitOption(values);
  const spec = cmcVariantSpec(values.variant);
  if (spec.mask !== undefined && values.masks === undefined)
    throw new UsageError(
      `--variant ${values.variant} takes [${spec.mask} mask, CT]: give --masks DIR (one ${spec.mask} mask NIfTI per scan)`,
    );
  if (spec.mask === undefined && values.masks !== undefined)
    throw new UsageError(`--masks: --variant ${values.variant} takes the CT alone (masks go with lung-cmc or infection-cmc)`);
  const config = parseClassifierRun(
    {
      cohort: values.cohort,
      run: values.run,
      grid: values.grid,
      training: {
        network: { backbone: values.backbone },
        variant: values.variant,
        epochs: values.epochs,
        batchSize: values.batch,
        lr: values.lr,
        seed: values.seed,
        workers: values.workers,
        emptyClasses: values['empty-classes'],
        ...(values.ce === 'mean' ? {} : { ceReduction: values.ce }),
        ...(values['precise-bn'] === 'off' ? {} : { preciseBatchNorm: true }),
        ...(init === undefined ? {} : { init }),
      },
    },
    'the command line',
  );
  const t0 = performance.now();
  const result = await classifyCohort({
    ...config,
    ...(values.masks === undefined ? {} : { masksDir: values.masks }),
    tta: { passes: values.tta, seed: 0 },
    engine: values.engine,
    ...progressPrinter(print),
  });
  const paths = runFolder(config.run);
  if (result.stopped) {
    print(`train: stopped through the control channel; rerun the same command to resume (${paths.classifierRun})`);
    return 0;
  }
  print(
    `train: ${result.classifier.epochsRun} epoch(s) run, checkpoints in ${paths.classifierRun}; val Macro F1 ${result.valMacroF1.toFixed(3)} (${result.valPredictions.length} scans)`,
  );
  if (result.testPredictions.length > 0) print(`   ${paths.predictions('test')}; ${result.submission?.files.join(', ') ?? ''}`);
  print(`train done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

/** `--masks` / `--mask` against what the run's classifier takes. */
function checkMaskOption(loaded: LoadedClassifier, given: boolean, flag: string, valueName: string): void {
  const mask = cmcVariantSpec(loaded.variant).mask;
  if (mask !== undefined && !given)
    throw new UsageError(`${flag} ${valueName} is required: the run's classifier (${loaded.variant}) takes [${mask} mask, CT]`);
}

/**
 * `--num-parts` / `--part-id`, each defaulting from the environment (`shardFromEnv`: a Slurm
 * array task, a Kubernetes Indexed Job); undefined when neither is given nor set.
 */
function shardOption(numParts: number | undefined, partId: number | undefined): { numParts: number; partId: number } | undefined {
  let env: ReturnType<typeof shardFromEnv>;
  try {
    env = shardFromEnv(process.env);
  } catch (error) {
    throw new UsageError(`--part-id (from the environment): ${(error as Error).message}`);
  }
  const n = numParts ?? env?.numParts;
  const k = partId ?? env?.partId;
  if (k === undefined && n === undefined) return undefined;
  if (n === undefined)
    throw new UsageError(
      `--num-parts N is required with a part id (${partId === undefined ? `${env?.source === 'kubernetes' ? 'JOB_COMPLETION_INDEX' : 'SLURM_ARRAY_TASK_ID'} ${k}` : `--part-id ${k}`})`,
    );
  if (k === undefined) throw new UsageError(`--part-id K is required with --num-parts ${n} (or run as an array job task)`);
  if (k >= n) throw new UsageError(`--part-id ${k} must be below --num-parts ${n} (parts are 0..${n - 1})`);
  return { numParts: n, partId: k };
}

async function predict(argv: readonly string[], print: Print): Promise<number> {
  const { values } = parseCliArgs(argv, {
    usage: PREDICT_USAGE,
    options: {
      run: { type: 'string', parse: path, required: true, valueName: 'DIR' },
      scans: { type: 'string', parse: path, required: true, valueName: 'DIR' },
      out: { type: 'string', parse: path, required: true, valueName: 'PRED.csv' },
      tta: { type: 'string', parse: integerIn(0, 1000), default: 3 },
      engine: { type: 'string', parse: engineChoice, default: 'onnx' as 'onnx' | 'tfjs' },
      checkpoint: { type: 'string', parse: checkpointChoice, default: 'latest' as 'latest' | 'best' },
      masks: { type: 'string', parse: path, valueName: 'DIR' },
      'num-parts': { type: 'string', parse: positiveInteger, valueName: 'N' },
      'part-id': { type: 'string', parse: nonNegativeInteger, valueName: 'K' },
    },
  });
  const shard = shardOption(values['num-parts'], values['part-id']);
  const out = shard === undefined ? values.out : partTablePath(values.out, shard.partId, shard.numParts);
  const loaded = await loadTrainedClassifier(values.run, { checkpoint: values.checkpoint });
  checkMaskOption(loaded, values.masks !== undefined, '--masks', 'DIR');
  print(`predict: ${loaded.variant} classifier from ${loaded.checkpoint} (epoch ${loaded.epoch}), grid ${loaded.grid.join('x')}`);
  const all = await scanFolders(values.scans);
  const names = all.map((s) => s.name);
  const part = shard === undefined ? undefined : new Set(shardOf(names, shard));
  const scans = part === undefined ? all : all.filter((s) => part.has(s.name));
  if (shard !== undefined) print(`predict: part ${shard.partId} of ${shard.numParts}: ${scans.length} of ${all.length} scans`);
  const { onEvent } = progressPrinter(print);
  const context = { runDir: values.run, onEvent };
  const { volumes } =
    scans.length === 0
      ? { volumes: new Map() }
      : await preprocessScans(scans, { grid: loaded.grid, cacheDir: runFolder(values.run).cache }, context);
  const masks = values.masks === undefined ? undefined : await readMasksOnGrid(scans, values.masks, loaded.grid);
  const rows = await predictScans(
    {
      classifier: loaded,
      scans,
      volumes,
      ...(masks === undefined ? {} : { masks }),
      out,
      tta: { passes: values.tta, seed: 0 },
      engine: values.engine,
      ...(shard === undefined ? {} : { resume: true }),
    },
    context,
  );
  print(`predict: ${rows.length} scans -> ${out} (tta ${values.tta === 0 ? 'off' : `${values.tta} passes`}, ${values.engine})`);
  return 0;
}

async function cam(argv: readonly string[], print: Print): Promise<number> {
  const { values } = parseCliArgs(argv, {
    usage: CAM_USAGE,
    options: {
      run: { type: 'string', parse: path, required: true, valueName: 'DIR' },
      scan: { type: 'string', parse: path, required: true, valueName: 'DIR' },
      out: { type: 'string', parse: path, required: true, valueName: 'PNG' },
      class: { type: 'string', parse: oneOf(SEVERITY_CLASSES) },
      mask: { type: 'string', parse: path, valueName: 'NIFTI' },
      layer: { type: 'string', parse: integerIn(1, 4), default: 4 },
      checkpoint: { type: 'string', parse: checkpointChoice, default: 'latest' as 'latest' | 'best' },
    },
  });
  const layer = values.layer as CamLayer;
  const loaded = await loadTrainedClassifier(values.run, { checkpoint: values.checkpoint });
  checkMaskOption(loaded, values.mask !== undefined, '--mask', 'NIFTI');
  const scan = { name: basename(values.scan), split: 'test' as const, folder: values.scan };
  const { volumes } = await preprocessScans([scan], { grid: loaded.grid, cacheDir: runFolder(values.run).cache });
  const image = volumes.get(scan.name);
  if (image === undefined) throw new Error(`scan ${scan.name} was not preprocessed`);
  const mask = values.mask === undefined ? undefined : await readMaskOnGrid(values.mask, values.scan, loaded.grid);
  const classId = values.class === undefined ? undefined : SEVERITY_CLASSES.indexOf(values.class);
  const activation = classActivationVolume(
    loaded.model,
    { image, ...(mask === undefined ? {} : { mask }) },
    { inChannels: loaded.inChannels, layer, ...(classId === undefined ? {} : { classId }) },
  );
  await writeCamMontage(values.out, image, activation, {
    ...(mask === undefined ? {} : { mask }),
    slices: Math.min(8, image.shape[0]),
    columns: 4,
  });
  print(
    `cam: ${values.out} (${layer === 4 ? 'CAM, layer 4' : `Grad-CAM, layer ${layer}`}, grid ${activation.lowRes.shape.join('x')}; class ${SEVERITY_CLASSES[activation.classId]}; predicted ${SEVERITY_CLASSES[activation.predicted]}, p ${activation.probability.toFixed(3)})`,
  );
  return 0;
}

async function inspect(argv: readonly string[], print: Print): Promise<number> {
  const { values, positionals } = parseCliArgs(argv, {
    usage: INSPECT_USAGE,
    positionals: true,
    options: {
      backbone: {
        type: 'string',
        parse: oneOf(Object.keys(RESNEST3D_CONFIGS) as ResNeSt3dName[]),
        default: 'resnest50-3d' as ResNeSt3dName,
      },
      'in-channels': { type: 'string', parse: integerIn(1, 2), default: 1 },
      'stem-init': { type: 'string', parse: stemInitChoice, default: 'random' as 'random' | 'mean' },
    },
  });
  if (positionals.length !== 1)
    throw new UsageError(
      `inspect takes one FILE.safetensors, got ${positionals.length === 0 ? 'none' : positionals.join(' ')} (see --help)`,
    );
  const file = safetensorsPath(positionals[0] as string, 'FILE');
  await initBackend({ log: () => {} });
  const inspection = await inspectResNeStWeights(file, {
    backbone: values.backbone,
    inChannels: values['in-channels'] as 1 | 2,
    stemInit: values['stem-init'],
  });
  for (const line of formatWeightsInspection(inspection)) print(line);
  return inspection.strict ? 0 : 1;
}

const COMMANDS = { train, predict, cam, inspect } as const;

/** `pnpm cmc` without `runCli`: throws `UsageError` / `HelpRequested` / `CovsevInputError`. */
export function main(argv: readonly string[], print: Print = console.log): Promise<number> {
  return runSubcommand(argv, COMMANDS, USAGE, print);
}

/** `main` through `runCli`: the exit status (2 for a bad option or bad input, 0 after --help). */
export function cmc(argv: readonly string[], streams?: CliStreams, exit: (code: number) => void = () => {}): Promise<number> {
  return runCli('cmc', (a) => main(a, streams?.out ?? console.log), {
    argv,
    exit,
    ...(streams === undefined ? {} : { streams }),
  });
}
