/**
 * What computes a step's gradients off this thread (`CmcDataParallel` on worker threads): the step
 * (trainStep.ts) depends on this interface, not on an implementation.
 */
import type { CmcBatch } from './batch.js';
import type { CmcGradientOptions, CmcGradients } from './gradients.js';

export interface GradientWorkers {
  /** The step's gradients, as `cmcGradients` gives them (the caller disposes them). */
  gradients(batch: CmcBatch, options: CmcGradientOptions): CmcGradients;
}
