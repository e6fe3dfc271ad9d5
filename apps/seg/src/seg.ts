/**
 * `pnpm seg -- train|eval|predict|inspect ...`: parses the command line and calls `@covsev/segment`
 * (`loadCtSegCohort`, `trainSegmentation`, `openSegmenter`, `evaluateOnCohort`, `formatTable2`,
 * `segmentScans`, `inspectEncoderWeights`). No segmentation logic lives here: options in, a function
 * called, lines printed.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
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
import { formatBackendInfo, formatWeightsInspection, initBackend, type StemInit } from '@covsev/engine';
import type { TrainEvent } from '@covsev/events';
import { CovsevInputError, compareScanNames, HU_WINDOWS, type HuWindowName } from '@covsev/io';
import {
  ARCH_NAMES,
  type ArchName,
  describeSegmentationModel,
  ENCODER_NAMES,
  type EncoderName,
  evaluateOnCohort,
  formatTable2,
  inspectEncoderWeights,
  loadCtSegCohort,
  openSegmenter,
  type ScanToSegment,
  SEGMENTATION_LOSSES,
  SEGMENTATION_TASKS,
  type SegmentationLossName,
  type SegmentationTask,
  type Segmenter,
  segmentScans,
  trainSegmentation,
} from '@covsev/segment';

export const USAGE = `usage: pnpm seg -- <command> [options]   (pnpm seg -- <command> --help for its options)
  train    train a lung or lesion model on a COVID-19-CT-Seg folder into a run folder (best model also as ONNX)
  eval     Table 2 (mIoU and foreground IoU, lung and infection) of trained models on held-out scans
  predict  lung and infection masks (NIfTI + PNG overlays) for a folder of scans, the input of stage 2
  inspect  a safetensors checkpoint's tensors and the encoder layer each maps to (ImageNet weights for --init)`;

export const TRAIN_USAGE = `usage: pnpm seg -- train --task lung|lesion --cohort DIR --run DIR [options]
  --task T              lung (M1, raw slices) or lesion (M2, lung-masked slices, eq. 1)
  --cohort DIR          a COVID-19-CT-Seg folder: ct_scans/, lung_mask/, infection_mask/ (NIfTI)
  --run DIR             the run folder (events.jsonl, checkpoints, model.json, onnx/); a second call resumes
  --arch A              ${ARCH_NAMES.join('|')} (default unetplusplus)
  --encoder E           ${ENCODER_NAMES.join('|')} (default resnet34)
  --width W             channel multiplier in (0, 1], 1 = the published sizes (default 1)
  --size N              slices are resized to N x N (default 256)
  --epochs E            (default 100)
  --batch B             slices per step (default 8)
  --lr X                SGD learning rate, x0.1 at 30 % and 80 % of the epochs (default 1e-3)
  --loss L              ${SEGMENTATION_LOSSES.join('|')} (default dice, eq. 3)
  --val-scans N         scans held out for validation (default 20 %, at least 1)
  --slice-step K        every K-th slice of each scan (default 1)
  --slices-per-epoch N  training slices per epoch (default all)
  --seed S              (default 0)
  --init FILE           start the encoder from ImageNet weights: a torchvision resnet34 / densenet121
                        checkpoint as .safetensors (convert a .pth: packages/engine/README.md); its
                        SHA-256 goes into the run config, so a resume needs the same file
  --init-sha256 HEX     refuse the --init file unless its SHA-256 is HEX (64 hex digits)
  --partial             load what of --init fits and list what was skipped (default: strict, all or nothing)
  --stem-init M         random|mean: the CT stem (1 channel) from the RGB one: kept random (default) or
                        the RGB kernel averaged (engine README, "The stem's first conv")`;

export const EVAL_USAGE = `usage: pnpm seg -- eval --cohort DIR [--lung RUN] [--lesion RUN] [options]
  --cohort DIR          a COVID-19-CT-Seg folder (the scans to score)
  --lung RUN            a lung training run (pnpm seg -- train --task lung)
  --lesion RUN          a lesion training run (pnpm seg -- train --task lesion)
  --scans A,B,...       score only these scans (default: the validation scans the lung run held out, else the lesion run's)
  --checkpoint C        best|latest (default best)`;

export const PREDICT_USAGE = `usage: pnpm seg -- predict --scans DIR --out DIR [options]
  --scans DIR           a folder of scans: NIfTI files (HU), JPG slice folders (8-bit, see --window) or DICOM series folders
  --out DIR             lung/<scan>.nii.gz, infection/<scan>.nii.gz, overlays/<scan>.png, records/ (the cache)
  --lung M              classical (no weights), a training run folder, or an ONNX model's model.json (default classical)
  --lesion M            a lesion training run folder or an ONNX model's model.json (default: lung only)
  --window NAME         the HU window 8-bit JPG scans were made with: ${Object.keys(HU_WINDOWS).join('|')} (default cov19ctdb)
  --engine E            onnx|tfjs for a training run's model (default onnx: the run's exported model)
  --checkpoint C        best|latest for a training run's model with --engine tfjs (default best)
  --batch N             slices per model call (default 16)
  --no-cache            recompute every scan (default: masks already made by the same models are reused)
  --no-overlays         no PNG overlays`;

export const INSPECT_USAGE = `usage: pnpm seg -- inspect FILE.safetensors [options]
  FILE.safetensors      a torchvision checkpoint converted to safetensors
  --encoder E           ${ENCODER_NAMES.join('|')} (default resnet34)
  --width W             the encoder's channel multiplier in (0, 1] (default 1, torchvision's sizes)
  --stem-init M         random|mean (default random), as train --stem-init
  Lists every tensor (name, dtype, shape) and the encoder layer it maps to (or dropped, no match,
  wrong shape), then whether train --init would load it strictly; exit 1 when it would not.`;

type Print = (line: string) => void;

/** A finite number in (0, 1]. */
const widthValue: ValueCheck<number> = (text, flag) => {
  const n = numberIn(0, 1)(text, flag);
  if (n <= 0) throw new UsageError(`${flag} must be in (0, 1], got ${text}`);
  return n;
};

/** A finite number > 0. */
const positiveNumber: ValueCheck<number> = (text, flag) => {
  const n = numberIn(0, Number.MAX_VALUE)(text, flag);
  if (n <= 0) throw new UsageError(`${flag} must be a positive number, got ${text}`);
  return n;
};

const checkpointChoice = oneOf(['best', 'latest']);

/** Starts the engine (the fastest backend that loads, `COVSEV_BACKEND` to choose) and says which. */
async function startEngine(print: Print): Promise<void> {
  const info = await initBackend({ log: () => {} });
  print(`   ${formatBackendInfo(info)}`);
}

/** Progress lines with ETA from the trainer's events. */
function trainingPrinter(print: Print): (event: TrainEvent) => void {
  let progress: ProgressReporter | undefined;
  let stepsPerEpoch = 0;
  let slices = 0;
  let started = 0;
  return (event) => {
    if (event.type === 'run-start') {
      stepsPerEpoch = event.stepsPerEpoch;
      started = performance.now();
      const init = describePretrainedInit(event.config, event.runtime);
      if (init !== undefined) print(`   ${init}${event.resumedFrom === undefined ? '' : ' (the checkpoint has the weights)'}`);
      print(
        `   ${event.startEpoch > 0 ? `resuming at epoch ${event.startEpoch + 1}` : 'starting'}: ${event.epochs} epochs x ${event.stepsPerEpoch} steps`,
      );
      if (event.startEpoch < event.epochs) progress = createProgress('train', event.epochs * stepsPerEpoch);
    } else if (event.type === 'step') {
      slices += event.samples ?? 0;
      const rate = slices / Math.max(1e-9, (performance.now() - started) / 1000);
      progress?.update(
        event.epoch * stepsPerEpoch + event.step + 1,
        `epoch ${event.epoch + 1} loss ${event.losses.total?.toFixed(3) ?? ''} ${rate.toFixed(1)} slices/s`,
      );
    } else if (event.type === 'epoch') {
      const iou = event.metrics.valIoU;
      progress?.update(
        (event.epoch + 1) * stepsPerEpoch,
        `epoch ${event.epoch + 1}: loss ${event.metrics.loss?.toFixed(3)}, val IoU ${typeof iou === 'number' ? iou.toFixed(4) : '-'}`,
      );
    } else if (event.type === 'run-end') {
      progress?.finish();
      progress = undefined;
    }
  };
}

async function train(argv: readonly string[], print: Print): Promise<number> {
  const { values } = parseCliArgs(argv, {
    usage: TRAIN_USAGE,
    options: {
      task: { type: 'string', parse: oneOf<SegmentationTask>(SEGMENTATION_TASKS), required: true, valueName: 'T' },
      cohort: { type: 'string', parse: path, required: true, valueName: 'DIR' },
      run: { type: 'string', parse: path, required: true, valueName: 'DIR' },
      arch: { type: 'string', parse: oneOf<ArchName>(ARCH_NAMES), default: 'unetplusplus' as ArchName },
      encoder: { type: 'string', parse: oneOf<EncoderName>(ENCODER_NAMES), default: 'resnet34' as EncoderName },
      width: { type: 'string', parse: widthValue, default: 1 },
      size: { type: 'string', parse: integerIn(8, 4096), default: 256 },
      epochs: { type: 'string', parse: positiveInteger, default: 100 },
      batch: { type: 'string', parse: positiveInteger, default: 8 },
      lr: { type: 'string', parse: positiveNumber, default: 1e-3 },
      loss: { type: 'string', parse: oneOf<SegmentationLossName>(SEGMENTATION_LOSSES), default: 'dice' as SegmentationLossName },
      'val-scans': { type: 'string', parse: positiveInteger },
      'slice-step': { type: 'string', parse: positiveInteger, default: 1 },
      'slices-per-epoch': { type: 'string', parse: positiveInteger },
      seed: { type: 'string', parse: nonNegativeInteger, default: 0 },
      init: { type: 'string', parse: safetensorsPath, valueName: 'FILE' },
      'init-sha256': { type: 'string', parse: sha256Digest, valueName: 'HEX' },
      partial: { type: 'boolean' },
      'stem-init': { type: 'string', parse: stemInitChoice },
    },
  });
  const init = pretrainedInitOption(values);
  const t0 = performance.now();
  const scans = await loadCtSegCohort(values.cohort);
  print(`train: ${values.task} model on ${scans.length} scans of ${values.cohort}`);
  await startEngine(print);
  const result = await trainSegmentation({
    runDir: values.run,
    scans,
    task: values.task,
    model: { arch: values.arch, encoder: values.encoder, width: values.width },
    input: [values.size, values.size],
    epochs: values.epochs,
    batchSize: values.batch,
    lr: values.lr,
    loss: values.loss,
    sliceStep: values['slice-step'],
    seed: values.seed,
    ...(values['val-scans'] === undefined ? {} : { valScans: values['val-scans'] }),
    ...(values['slices-per-epoch'] === undefined ? {} : { slicesPerEpoch: values['slices-per-epoch'] }),
    ...(init === undefined ? {} : { init }),
    onEvent: trainingPrinter(print),
    onWarning: (message) => print(`   warning: ${message}`),
  });
  print(
    `   ${describeSegmentationModel(result.card)}; train ${result.split.train.join(', ')}; val ${result.split.val.join(', ')}`,
  );
  if (result.stopped) {
    print(`train: stopped through the control channel; rerun the same command to resume (${values.run})`);
    return 0;
  }
  const choice = result.best === undefined ? 'latest' : 'best';
  // Exported to ONNX now (<run>/onnx/<checkpoint>/), the path pnpm seg -- predict takes.
  const exported = await openSegmenter(values.run, { checkpoint: choice });
  await exported.dispose();
  const best = result.best === undefined ? '' : `; best epoch ${result.best.epoch + 1}, val IoU ${result.best.value.toFixed(4)}`;
  print(`train: ${result.epochsRun} epoch(s) run${best}; the ${choice} model exported to ONNX: ${exported.description}`);
  print(`train done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

async function evaluate(argv: readonly string[], print: Print): Promise<number> {
  const { values } = parseCliArgs(argv, {
    usage: EVAL_USAGE,
    options: {
      cohort: { type: 'string', parse: path, required: true, valueName: 'DIR' },
      lung: { type: 'string', parse: path, valueName: 'RUN' },
      lesion: { type: 'string', parse: path, valueName: 'RUN' },
      scans: { type: 'string' },
      checkpoint: { type: 'string', parse: checkpointChoice, default: 'best' as 'best' | 'latest' },
    },
  });
  if (values.lung === undefined && values.lesion === undefined) throw new UsageError('give --lung RUN, --lesion RUN or both');
  await startEngine(print);
  const names = values.scans
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const result = await evaluateOnCohort({
    cohortDir: values.cohort,
    ...(values.lung === undefined ? {} : { lungRunDir: values.lung }),
    ...(values.lesion === undefined ? {} : { lesionRunDir: values.lesion }),
    ...(names === undefined ? {} : { names }),
    checkpoint: values.checkpoint,
  });
  print(`eval: ${result.scans.length} held-out scans (${result.scans.join(', ')}), checkpoint ${values.checkpoint}`);
  for (const line of formatTable2(result.rows).split('\n')) print(line);
  return 0;
}

/** The scans of a folder: NIfTI files, and folders (JPG slices or a DICOM series), in natural order. */
function scansIn(dir: string, window: HuWindowName): ScanToSegment[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CovsevInputError(dir, 'is not a folder of scans');
  const scans: ScanToSegment[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isFile() && /\.nii(\.gz)?$/i.test(entry.name)) {
      scans.push({ name: entry.name.replace(/\.nii(\.gz)?$/i, ''), path: full });
    } else if (entry.isDirectory()) {
      const jpg = readdirSync(full).some((f) => /\.jpe?g$/i.test(f));
      scans.push({ name: entry.name, path: full, ...(jpg ? { intensity: { window: window } } : {}) });
    }
  }
  if (scans.length === 0) throw new CovsevInputError(dir, 'holds no scans (NIfTI files, JPG slice folders or DICOM folders)');
  return scans.sort((a, b) => compareScanNames(a.name, b.name));
}

/** `classical`, a training run folder, a model folder or a model.json (`openSegmenter`), checked to be a `task` model. */
async function segmenterFor(
  ref: string,
  task: SegmentationTask,
  flag: string,
  engine: 'onnx' | 'tfjs',
  checkpoint: 'best' | 'latest',
): Promise<Segmenter> {
  const segmenter = await openSegmenter(ref, { engine, checkpoint });
  if (segmenter.card.task !== task) {
    await segmenter.dispose();
    throw new UsageError(`${flag} ${ref}: that is a ${segmenter.card.task} model, ${flag} needs a ${task} model`);
  }
  return segmenter;
}

async function predict(argv: readonly string[], print: Print): Promise<number> {
  const { values } = parseCliArgs(argv, {
    usage: PREDICT_USAGE,
    options: {
      scans: { type: 'string', parse: path, required: true, valueName: 'DIR' },
      out: { type: 'string', parse: path, required: true, valueName: 'DIR' },
      lung: { type: 'string', default: 'classical' },
      lesion: { type: 'string', parse: path, valueName: 'M' },
      window: { type: 'string', parse: oneOf(Object.keys(HU_WINDOWS) as HuWindowName[]), default: 'cov19ctdb' as HuWindowName },
      engine: { type: 'string', parse: oneOf(['onnx', 'tfjs']), default: 'onnx' as 'onnx' | 'tfjs' },
      checkpoint: { type: 'string', parse: checkpointChoice, default: 'best' as 'best' | 'latest' },
      batch: { type: 'string', parse: positiveInteger, default: 16 },
      'no-cache': { type: 'boolean' },
      'no-overlays': { type: 'boolean' },
    },
  });
  const scans = scansIn(values.scans, values.window);
  await startEngine(print);
  const lung =
    values.lung === 'classical'
      ? 'classical'
      : await segmenterFor(values.lung, 'lung', '--lung', values.engine, values.checkpoint);
  const lesion =
    values.lesion === undefined
      ? undefined
      : await segmenterFor(values.lesion, 'lesion', '--lesion', values.engine, values.checkpoint);
  print(
    `predict: ${scans.length} scans; lung ${lung === 'classical' ? 'classical (no weights)' : lung.description}${lesion ? `; lesion ${lesion.description}` : '; no lesion model'}`,
  );
  let progress: ProgressReporter | undefined;
  let current = '';
  try {
    const result = await segmentScans(scans, {
      out: values.out,
      lung,
      ...(lesion === undefined ? {} : { lesion }),
      batchSize: values.batch,
      cache: values['no-cache'] !== true,
      overlays: values['no-overlays'] !== true,
      onProgress: (p) => {
        if (p.scan !== current) {
          progress?.finish();
          progress = createProgress(`${p.scan} (${p.index + 1}/${p.scans})`, p.total);
          current = p.scan;
        }
        progress?.update(p.done, p.stage);
      },
      onScan: (report) => {
        progress?.finish();
        progress = undefined;
        current = '';
        print(`   ${report.message}`);
        for (const warning of report.warnings) print(`   warning: ${warning}`);
      },
      onWarning: (message) => print(`   warning: ${message}`),
    });
    print(
      `predict: ${result.computed} segmented, ${result.cached} from the cache -> ${join(values.out, 'lung')}${lesion ? `, ${join(values.out, 'infection')}` : ''} (the --masks of pnpm cmc)`,
    );
  } finally {
    if (lung !== 'classical') await lung.dispose();
    await lesion?.dispose();
  }
  return 0;
}

async function inspect(argv: readonly string[], print: Print): Promise<number> {
  const { values, positionals } = parseCliArgs(argv, {
    usage: INSPECT_USAGE,
    positionals: true,
    options: {
      encoder: { type: 'string', parse: oneOf<EncoderName>(ENCODER_NAMES), default: 'resnet34' as EncoderName },
      width: { type: 'string', parse: widthValue, default: 1 },
      'stem-init': { type: 'string', parse: stemInitChoice, default: 'random' as StemInit },
    },
  });
  if (positionals.length !== 1)
    throw new UsageError(
      `inspect takes one FILE.safetensors, got ${positionals.length === 0 ? 'none' : positionals.join(' ')} (see --help)`,
    );
  const file = safetensorsPath(positionals[0] as string, 'FILE');
  await initBackend({ log: () => {} });
  const inspection = await inspectEncoderWeights(file, {
    encoder: values.encoder,
    width: values.width,
    stemInit: values['stem-init'],
  });
  for (const line of formatWeightsInspection(inspection)) print(line);
  return inspection.strict ? 0 : 1;
}

const COMMANDS = { train, eval: evaluate, predict, inspect } as const;

/** `pnpm seg` without `runCli`: throws `UsageError` / `HelpRequested` / `CovsevInputError`. */
export function main(argv: readonly string[], print: Print = console.log): Promise<number> {
  return runSubcommand(argv, COMMANDS, USAGE, print);
}

/** `main` through `runCli`: the exit status (2 for a bad option or bad input, 0 after --help). */
export function seg(argv: readonly string[], streams?: CliStreams, exit: (code: number) => void = () => {}): Promise<number> {
  return runCli('seg', (a) => main(a, streams?.out ?? console.log), {
    argv,
    exit,
    ...(streams === undefined ? {} : { streams }),
  });
}
