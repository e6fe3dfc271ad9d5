/**
 * A training run's initial weights (issue 13): the file a trainer loads into its encoder or
 * backbone on a fresh start, what the run stores of it (compared on resume) and what it says of a
 * partial load. `trainSegmentation` and `trainCmc` take a {@link PretrainedInit} as `init`.
 */

import type { Module } from '../module.js';
import { formatLoadReport } from '../torchWeights.js';
import type { JsonObject } from '../train/json.js';
import { loadPretrained, type PretrainedResult, type StemInit, type WeightMap } from './pretrained.js';

/** Where a run's initial weights come from. */
export interface PretrainedInit {
  /** A safetensors file (a PyTorch checkpoint converted; engine README, "Pretrained weights"). */
  readonly path: string;
  /** Pins the file's SHA-256 (hex, optionally `sha256:`-prefixed): a mismatch stops the run before training. */
  readonly sha256?: string;
  /** Load what fits and report what was skipped, instead of refusing the file (default strict). */
  readonly partial?: boolean;
  /** The stem's first conv when the file's does not fit (default `random`). */
  readonly stemInit?: StemInit;
}

/**
 * What a run stores of its initial weights, in its config and `run-start` event: the file's
 * SHA-256 and the map, plus `partial` / `stemInit` when not the default. Not the path: a resume
 * may find the same file elsewhere, another file is refused by its hash.
 */
export function pretrainedRunConfig(init: PretrainedInit, sha256: string, map: WeightMap): JsonObject {
  return {
    sha256,
    map: map.name,
    ...(init.partial === true ? { partial: true } : {}),
    ...(init.stemInit === 'mean' ? { stemInit: 'mean' } : {}),
  };
}

/** What a partial load skipped, in a paragraph naming the file; undefined when everything fitted. */
export function describeSkippedWeights(result: PretrainedResult): string | undefined {
  const { missing, unexpected, mismatched } = result.report;
  if (missing.length + unexpected.length + mismatched.length === 0) return undefined;
  return `${result.path}: partial load (${result.map}): ${result.report.loaded.length} tensors loaded, ${missing.length} missing, ${unexpected.length} unexpected, ${mismatched.length} with the wrong shape skipped\n${formatLoadReport(result.report)}`;
}

/**
 * Loads a run's initial weights into `target` (an encoder, a backbone) on a fresh start, pinned to
 * the SHA-256 the run recorded; what a partial load skipped goes to `onWarning`.
 */
export async function loadRunInit(
  target: Module,
  init: PretrainedInit,
  map: WeightMap,
  sha256: string,
  onWarning: (message: string) => void,
): Promise<PretrainedResult> {
  const result = await loadPretrained(target, init.path, {
    map,
    sha256,
    ...(init.partial === undefined ? {} : { partial: init.partial }),
    ...(init.stemInit === undefined ? {} : { stemInit: init.stemInit }),
  });
  const skipped = describeSkippedWeights(result);
  if (skipped !== undefined) onWarning(skipped);
  return result;
}
