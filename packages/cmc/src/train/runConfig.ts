/**
 * What a CMC training run stores as its config (checkpoints, the `run-start` event) and compares
 * on resume: a run resumed with another config is refused. `trainCmc` builds it through this
 * schema; the keys and their order are those stored before the schema existed, so existing run
 * folders resume.
 */
import { z } from 'zod';
import { CE_REDUCTIONS } from '../losses/weightedCrossEntropy.js';
import { RESNEST3D_CONFIGS, type ResNeSt3dName } from '../models/resnest3d.js';
import { CMC_VARIANTS, resolveCmcVariant } from './variants.js';

const positiveInt = z.number().int().positive();
const names = Object.keys(RESNEST3D_CONFIGS) as ResNeSt3dName[];

/** A custom backbone (`ResNeSt3dConfig` without `inChannels`). */
export const resNeSt3dConfigSchema = z.object({
  layers: z.tuple([positiveInt, positiveInt, positiveInt, positiveInt]),
  base: positiveInt,
  stemWidth: positiveInt,
  radix: positiveInt,
});

/** The network options (`CmcNetworkConfig` without `inChannels`): a registered backbone or a custom one. */
export const cmcNetworkOptionsSchema = z.object({
  backbone: z.union([z.enum(names), resNeSt3dConfigSchema]),
  classes: positiveInt.optional(),
  projectionDim: positiveInt.optional(),
});

export const cmcRunConfigSchema = z.object({
  network: cmcNetworkOptionsSchema,
  /** 1: CT; 2: [mask, CT]. */
  inChannels: z.union([z.literal(1), z.literal(2)]),
  /** Scans per step. */
  batchSize: z.number().int().min(2),
  /** Base learning rate (the schedule's x1). */
  lr: z.number().positive(),
  /** Training scans. */
  scans: positiveInt,
  /** Gradient worker threads (0: this thread). */
  workers: z.number().int().min(0),
  /** Volumes per backbone pass, when the run set it. */
  microBatch: z.union([z.number(), z.literal('auto'), z.literal('off')]).optional(),
  /**
   * The variant of Table 3, stored only where `inChannels` does not imply it (absent: `cmc` with
   * 1 channel, `infection-cmc` with 2), so the configs of runs made before variants are unchanged.
   */
  variant: z.enum(CMC_VARIANTS).optional(),
  /** The weighted CE's reduction, stored only when not the default `'mean'` (old runs resume). */
  ceReduction: z.enum(CE_REDUCTIONS).optional(),
  /**
   * Batch-norm statistics recomputed each epoch (`trainCmc`'s option), stored only when on (the
   * default is off). `false` is still read: runs made while the default was on stored it.
   */
  preciseBatchNorm: z.boolean().optional(),
  /**
   * The backbone's initial weights (`trainCmc`'s `init`), stored only when given: the file's
   * SHA-256 and the map, `partial` / `stemInit` when not the default (engine `pretrainedRunConfig`).
   */
  init: z
    .object({
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      map: z.string(),
      partial: z.literal(true).optional(),
      stemInit: z.literal('mean').optional(),
    })
    .strict()
    .optional(),
});

export type CmcRunConfig = z.infer<typeof cmcRunConfigSchema>;

/** A run's initial weights as a user gives them (engine `PretrainedInit`). */
export const pretrainedInitSchema = z
  .object({
    /** A safetensors file (the ResNeSt release's or timm's resnest50d, converted). */
    path: z.string().min(1),
    /** Pins the file's SHA-256: a mismatch stops the run before training. */
    sha256: z
      .string()
      .regex(/^(sha256:)?[0-9a-fA-F]{64}$/, 'a SHA-256 is 64 hex digits (optionally prefixed sha256:)')
      .optional(),
    /** Load what fits and report what was skipped (default strict). */
    partial: z.boolean().optional(),
    /** The stem's first conv (RGB in the file): `random` (default) or `mean`. */
    stemInit: z.enum(['random', 'mean']).optional(),
  })
  .strict();

/**
 * How to train a CMC classifier: the settings of `trainCmc` a user chooses (a command line, a
 * run config file), checked before training starts. The stored config above is derived from
 * them (plus the count of training scans).
 */
export const cmcTrainingSchema = cmcRunConfigSchema
  .pick({ network: true, batchSize: true, microBatch: true })
  .extend({
    /** Table 3's row (variants.ts); default `cmc` (`infection-cmc` with `inChannels: 2`). */
    variant: z.enum(CMC_VARIANTS).optional(),
    /** 1: CT; 2: [mask, CT]. Follows from the variant; given, it must agree with it. */
    inChannels: z.union([z.literal(1), z.literal(2)]).optional(),
    /** A class without a training scan: refused by name (default), or weighted as one scan. */
    emptyClasses: z.enum(['refuse', 'weight-one']).optional(),
    /**
     * The weighted CE's reduction (eq. 7): `'mean'` (default, eq. 8 as printed: over the views) or
     * `'weighted-mean'` (divided by the sum of the views' alpha, PyTorch's CrossEntropyLoss(weight)).
     */
    ceReduction: z.enum(CE_REDUCTIONS).optional(),
    /** Recompute the batch-norm statistics over the training scans each epoch (default true). */
    preciseBatchNorm: z.boolean().optional(),
    epochs: positiveInt,
    seed: z.number().int().min(0),
    /** Default 1e-4 (the paper's). */
    lr: z.number().positive().optional(),
    /** Adam's decoupled weight decay; default 1e-5. */
    weightDecay: z.number().min(0).optional(),
    /** Gradient worker threads (0: this thread). */
    workers: z.number().int().min(0).optional(),
    /** Threads making the augmented views one step ahead (0: this thread). */
    viewWorkers: z.number().int().min(0).optional(),
    /** ImageNet weights for the 3D ResNeSt backbone (inflated), loaded on a fresh start. */
    init: pretrainedInitSchema.optional(),
  })
  .strict()
  .superRefine((value, ctx) => {
    try {
      resolveCmcVariant(value);
    } catch (error) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['inChannels'], message: (error as Error).message });
    }
  });

export type CmcTraining = z.infer<typeof cmcTrainingSchema>;
