/**
 * What a safetensors checkpoint holds and where each tensor would go in a covsev model (the
 * `inspect` commands of `pnpm seg` and `pnpm cmc`): every tensor's name, dtype and shape, the
 * covsev layer its map sends it to (or `dropped`, `no match`, `wrong shape`, a stem kept random),
 * and whether a strict load into the model would succeed, with the faults as `formatLoadReport`
 * lists them.
 */

import type { Module } from '../module.js';
import { formatLoadReport, type LoadReport, loadTorchStateDict, StateDictMismatchError } from '../torchWeights.js';
import { type MappedWeights, mapWeights, type StemInit, type WeightMap, weightsFileSha256 } from './pretrained.js';
import { readSafetensors, type SafetensorsDtype } from './safetensors.js';

/** Where one tensor of the file goes. */
export interface InspectedTensor {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** covsev's name, or null when the map drops the tensor (an ImageNet head). */
  readonly target: string | null;
  /** `loads`, `dropped` (by the map), `no match` (no such covsev layer), `wrong shape`, `stem kept` (random stem). */
  readonly status: 'loads' | 'dropped' | 'no match' | 'wrong shape' | 'stem kept';
}

export interface WeightsInspection {
  readonly path: string;
  readonly sha256: string;
  readonly map: string;
  readonly model: string;
  readonly tensors: readonly InspectedTensor[];
  /** What a load would do (a strict one's faults: `missing`, `unexpected`, `mismatched`). */
  readonly report: LoadReport;
  /** True when a strict load into the model would succeed. */
  readonly strict: boolean;
  readonly stem: MappedWeights['stem'];
  /** covsev's name of the stem's first conv (the map's `stem`). */
  readonly stemName?: string;
}

/**
 * Maps the file's tensors onto `model` and tries a strict load. `model` is a throwaway of the
 * target architecture: when the load fits, its weights are those of the file.
 */
export async function inspectWeights(
  model: Module,
  path: string,
  map: WeightMap,
  stemInit: StemInit = 'random',
): Promise<WeightsInspection> {
  const sha256 = await weightsFileSha256(path);
  const file = await readSafetensors(path);
  const mapped = mapWeights(model, file.tensors, map, stemInit, path);
  let report: LoadReport;
  try {
    report = loadTorchStateDict(model, mapped.state, {
      source: path,
      optional: (name) => name.endsWith('num_batches_tracked') || (name === map.stem && mapped.stem === 'random'),
    });
  } catch (error) {
    if (!(error instanceof StateDictMismatchError)) throw error;
    report = error.report;
  }
  const unexpected = new Set(report.unexpected);
  const mismatched = new Set(report.mismatched.map((m) => m.name));
  const tensors = file.tensors.map((t, i): InspectedTensor => {
    const target = mapped.names[i]?.[1] ?? null;
    const status =
      target === null
        ? 'dropped'
        : unexpected.has(target)
          ? 'no match'
          : mismatched.has(target)
            ? 'wrong shape'
            : target === map.stem && mapped.stem === 'random'
              ? 'stem kept'
              : 'loads';
    return { name: t.name, dtype: t.dtype, shape: t.shape, target, status };
  });
  const strict = report.missing.length + report.unexpected.length + report.mismatched.length === 0;
  return {
    path,
    sha256,
    map: map.name,
    model: model.name,
    tensors,
    report,
    strict,
    stem: mapped.stem,
    ...(map.stem === undefined ? {} : { stemName: map.stem }),
  };
}

/** The inspection for people: a header, one line per tensor, and the verdict on a strict load. */
export function formatWeightsInspection(inspection: WeightsInspection): string[] {
  const i = inspection;
  const lines = [`${i.path}: ${i.tensors.length} tensors, sha256 ${i.sha256}, map ${i.map}, into ${i.model}`];
  const width = Math.max(...i.tensors.map((t) => t.name.length), 4);
  for (const t of i.tensors) {
    const where =
      t.status === 'dropped'
        ? 'dropped'
        : t.status === 'loads'
          ? `-> ${t.target}${t.target === i.stemName && i.stem === 'mean' ? ' (stem: mean of its input channels)' : ''}`
          : `-> ${t.target} (${t.status})`;
    lines.push(`  ${t.name.padEnd(width)}  ${t.dtype.padEnd(4)}  [${t.shape.join(', ')}]  ${where}`);
  }
  const stem = i.stem === 'absent' || i.stem === 'loaded' ? '' : ` (stem: ${i.stem})`;
  if (i.strict) lines.push(`strict load into ${i.model}: would succeed, ${i.report.loaded.length} tensors${stem}`);
  else {
    const faults = i.report.missing.length + i.report.unexpected.length + i.report.mismatched.length;
    lines.push(
      `strict load into ${i.model}: would fail (${faults} faults; --partial loads the ${i.tensors.filter((t) => t.status === 'loads').length} that fit)`,
    );
    lines.push(...formatLoadReport(i.report).split('\n'));
  }
  return lines;
}
