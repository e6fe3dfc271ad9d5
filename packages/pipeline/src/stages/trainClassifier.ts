/**
 * Stage "train-classifier": the CMC classifier (stage 2 of the method, docs/method.md) trained
 * on the cohort's train split and validated on its val split after every epoch. The training
 * run lives in `<run>/runs/cmc` (checkpoints, its own events.jsonl): a crash resumes from the
 * last checkpoint, a finished run is restored instead of trained again.
 *
 * Inputs on the classifier grid: the CT of each scan and, for the mask variants (`variant:
 * 'infection-cmc'`, eq. 2, or `inChannels: 2`; `'lung-cmc'`), its infection (lung) mask. Masks
 * come in as data (`masks`), so this stage never depends on how they were made. The variant
 * (`resnest`, `mixup`, `cmc`, `lung-cmc`, `infection-cmc`) goes to `trainCmc` with the rest.
 */
import { type CmcNetwork, type CmcScan, type CmcTraining, cmcVariantSpec, resolveCmcVariant, trainCmc } from '@covsev/cmc';
import { formatBackendInfo, initBackend } from '@covsev/engine';
import type { RunStartEvent, TrainEvent } from '@covsev/events';
import type { Volume } from '@covsev/io';
import { classIdOf } from '../grades.js';
import { beginStage, type StageContext } from '../stage.js';
import type { CohortScan } from './loadCohort.js';

/** How to train: the classifier run's settings (`cmcTrainingSchema`, within `classifierRunSchema`). */
export type ClassifierTraining = CmcTraining;

export interface TrainClassifierInputs {
  readonly train: readonly CohortScan[];
  readonly val?: readonly CohortScan[];
  /** Every scan on the classifier grid (`preprocessScans`). */
  readonly volumes: ReadonlyMap<string, Volume<Uint8Array>>;
  /** Masks on the same grid, by scan name: infection masks (lung masks for `lung-cmc`), needed with 2 input channels. */
  readonly masks?: ReadonlyMap<string, Volume<Uint8Array>>;
  /** The training run's folder (`runFolder(run).classifierRun`). */
  readonly runDir: string;
  /** Every training event (steps, epochs, checkpoints) as it is written. */
  readonly onTrainEvent?: (event: TrainEvent) => void;
  /** Names the classifier in the stage's events (`detail.model`) when a run trains several. */
  readonly model?: string;
}

export interface TrainedClassifier {
  readonly model: CmcNetwork;
  /** Epochs trained by this call (0 when the run had already finished). */
  readonly epochsRun: number;
  /**
   * True when a `stop` command (`sendControl`, the run folder's control channel) ended training
   * early: the model is the one at the stop, and the next call resumes the run from there.
   */
  readonly stopped: boolean;
  readonly runDir: string;
  readonly inChannels: 1 | 2;
}

/** The classifier's view of cohort scans: grid volumes, masks and class ids. */
export function classifierScans(
  scans: readonly CohortScan[],
  volumes: ReadonlyMap<string, Volume<Uint8Array>>,
  masks?: ReadonlyMap<string, Volume<Uint8Array>>,
): CmcScan[] {
  return scans.map((s) => {
    const image = volumes.get(s.name);
    if (image === undefined) throw new RangeError(`scan ${s.name} was not preprocessed`);
    const mask = masks?.get(s.name);
    return {
      name: s.name,
      image,
      ...(mask === undefined ? {} : { mask }),
      ...(s.category === undefined ? {} : { label: classIdOf(s.category) }),
    };
  });
}

/**
 * What a `run-start` event means for people, or undefined for a fresh start: "resumed from
 * <checkpoint> (epoch 3 of 5)", or "restored from <checkpoint> (all 5 epochs done)" for a
 * finished run, preceded by a line per corrupt checkpoint passed over.
 */
export function describeRunStart(event: RunStartEvent): string[] {
  const lines = (event.skippedCheckpoints ?? []).map((s) => `skipped a corrupt checkpoint, moved to ${s.movedTo}: ${s.reason}`);
  if (event.resumedFrom !== undefined) {
    const step = event.startStepInEpoch === undefined ? '' : `, step ${event.startStepInEpoch + 1} of ${event.stepsPerEpoch}`;
    lines.push(
      event.startEpoch < event.epochs
        ? `resumed from ${event.resumedFrom} (epoch ${event.startEpoch + 1} of ${event.epochs}${step})`
        : `restored from ${event.resumedFrom} (all ${event.epochs} ${event.epochs === 1 ? 'epoch' : 'epochs'} done)`,
    );
  }
  return lines;
}

/**
 * Trains (or resumes, or restores) the classifier. A resume (or restore) is said in the stage's
 * events: a `stage-progress` at the epoch it starts from, its `item` the `describeRunStart` line,
 * and `startEpoch` in the `stage-end` summary.
 */
export async function trainClassifier(
  inputs: TrainClassifierInputs,
  training: ClassifierTraining,
  context: StageContext = {},
): Promise<TrainedClassifier> {
  // The fastest backend present (tfjs-node-gpu, tfjs-node, wasm with covsev's kernels, cpu).
  const backend = formatBackendInfo(await initBackend({ log: () => {} }));
  // The variant and its input channels (a contradiction between them is refused here).
  const { variant, inChannels } = resolveCmcVariant(training);
  const stage = beginStage(context, 'train-classifier', training.epochs, {
    ...(inputs.model === undefined ? {} : { model: inputs.model }),
    runDir: inputs.runDir,
    backend,
    inChannels,
    ...(training.variant === undefined ? {} : { variant }),
    trainScans: inputs.train.length,
    valScans: inputs.val?.length ?? 0,
  });
  const mask = cmcVariantSpec(variant).mask;
  if (inChannels === 2 && inputs.masks === undefined)
    throw new RangeError(
      `the ${cmcVariantSpec(variant).title} classifier (inChannels 2) needs ${mask === 'lung' ? 'a lung' : 'an infection'} mask per scan`,
    );
  let startEpoch = 0;
  let epochsDone = 0;
  const { model, epochsRun, stopped } = await trainCmc({
    ...training,
    runDir: inputs.runDir,
    train: classifierScans(inputs.train, inputs.volumes, inputs.masks),
    // What a partial `init` skipped (and a corrupt checkpoint passed over), said as the stage goes.
    onWarning: (message) => stage.progress(startEpoch, `warning: ${message}`),
    val: classifierScans(inputs.val ?? [], inputs.volumes, inputs.masks),
    onEvent: (event) => {
      if (event.type === 'run-start') {
        startEpoch = event.startEpoch;
        for (const line of describeRunStart(event)) stage.progress(event.startEpoch, line);
      }
      if (event.type === 'epoch') {
        epochsDone++;
        stage.progress(event.epoch + 1, `epoch ${event.epoch + 1}`);
      }
      if (event.type === 'control' && event.command === 'stop' && event.status === 'done')
        stage.progress(startEpoch + epochsDone, `stopped by a control command; ${event.path ?? ''} resumes it`);
      inputs.onTrainEvent?.(event);
    },
  });
  stage.end([inputs.runDir], { epochsRun, startEpoch, ...(stopped ? { stopped: 1 } : {}) });
  return { model, epochsRun, stopped, runDir: inputs.runDir, inChannels };
}
