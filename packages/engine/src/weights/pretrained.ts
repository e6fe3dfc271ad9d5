/**
 * Pretrained weights from the PyTorch world (torchvision, timm, the ResNeSt release) into covsev
 * modules: a safetensors file, pinned by SHA-256, renamed by a {@link WeightMap}, 2D kernels
 * inflated to 1 x k x k, the stem's first conv re-made for covsev's 1 or 2 input channels, then
 * loaded strictly (or partially) by `loadTorchStateDict`. covsev never downloads: the caller brings
 * the file and records the hash this returns.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { CovsevInputError } from '@covsev/io/core';
import type { Module } from '../module.js';
import { type LoadReport, loadTorchStateDict, type TorchTensor, torchTargets } from '../torchWeights.js';
import { decodeSafetensors, type SafetensorsTensor } from './safetensors.js';

/** How a checkpoint's names become covsev's (data, like smp's encoder registries). */
export interface WeightMap {
  /** `torchvision-resnet34`, `resnest50`, ... */
  readonly name: string;
  /** Where such checkpoints come from, in words. */
  readonly source: string;
  /** covsev's name for a checkpoint key, or null for keys covsev has no layer for (`fc.*`). */
  rename(key: string): string | null;
  /** covsev's name of the first convolution (its input channels, maybe its kernel, differ). */
  readonly stem?: string;
  /** Reshape 4D conv kernels `[out, in, kh, kw]` to `[out, in, 1, kh, kw]` (a 2D network into covsev's 1 x k x k convs). */
  readonly inflate?: boolean;
}

/**
 * The stem's first conv when the file's does not fit covsev's (RGB against 1 or 2 channels, or a
 * 3 x 3 kernel against covsev's 7 x 7 ResNeSt stem):
 * - `random` (default): kept as initialised. CT in Hounsfield windows and the infection mask are
 *   not ImageNet-normalised RGB, and the mask channel has no RGB counterpart; the paper's code
 *   re-created the first conv for its input channels, and a fresh stem costs one layer.
 * - `mean`: the RGB kernel averaged over its 3 input channels, repeated over covsev's input
 *   channels, zero-padded at the centre when covsev's kernel is larger (a centred 3 x 3 inside a
 *   7 x 7 with padding 3 is the same convolution as the 3 x 3 with padding 1).
 */
export type StemInit = 'random' | 'mean';

export interface PretrainedOptions {
  readonly map: WeightMap;
  /** Expected SHA-256 of the file (hex, optionally `sha256:`-prefixed): a mismatch stops before the model is touched. */
  readonly sha256?: string;
  /** Load what fits and report the rest, instead of refusing the file. Default false (strict). */
  readonly partial?: boolean;
  readonly stemInit?: StemInit;
}

/** A file's tensors after a map: the state dict to load, and what happened on the way. */
export interface MappedWeights {
  readonly state: Map<string, TorchTensor>;
  /** checkpoint key -> covsev name (or null: dropped), in file order. */
  readonly names: ReadonlyArray<readonly [string, string | null]>;
  /** What became of the stem conv: `loaded` as is, re-made by `mean`, kept `random`, or `absent`. */
  readonly stem: 'loaded' | 'mean' | 'random' | 'absent';
}

export interface PretrainedResult {
  readonly path: string;
  /** The file's SHA-256 (hex), to record with the run. */
  readonly sha256: string;
  readonly map: string;
  readonly report: LoadReport;
  /** Checkpoint keys dropped by the map (heads covsev has no layer for). */
  readonly dropped: string[];
  readonly stem: MappedWeights['stem'];
}

/** `[out, in, kh, kw]` -> `[out, in, 1, kh, kw]`; other shapes unchanged. */
export function inflate2dKernel(tensor: TorchTensor): TorchTensor {
  const s = tensor.shape;
  return s.length === 4
    ? { shape: [s[0] as number, s[1] as number, 1, s[2] as number, s[3] as number], data: tensor.data }
    : tensor;
}

/**
 * The `mean` stem: `[out, inRgb, (1,) k, k]` averaged over its inputs, centre-padded to the
 * target kernel and repeated over the target's input channels; `target` is PyTorch's 2D shape.
 */
export function meanStemKernel(tensor: TorchTensor, target: readonly number[], name: string, path: string): TorchTensor {
  const s = tensor.shape.length === 5 ? [tensor.shape[0], tensor.shape[1], tensor.shape[3], tensor.shape[4]] : [...tensor.shape];
  const [o, ci, k, kw] = s as [number, number, number, number];
  const [to, tci, tk] = target as [number, number, number, number];
  if (s.length !== 4 || k !== kw || o !== to || k > tk || (tk - k) % 2 !== 0)
    throw new CovsevInputError(
      path,
      `tensor '${name}': stemInit 'mean' cannot make a [${target.join(', ')}] stem from [${tensor.shape.join(', ')}] (needs the same outputs and a square kernel no larger, centred)`,
    );
  const pad = (tk - k) / 2;
  const out = new Float32Array(to * tci * tk * tk);
  for (let oi = 0; oi < o; oi++)
    for (let y = 0; y < k; y++)
      for (let x = 0; x < k; x++) {
        let sum = 0;
        for (let c = 0; c < ci; c++) sum += tensor.data[((oi * ci + c) * k + y) * k + x] as number;
        for (let c = 0; c < tci; c++) out[((oi * tci + c) * tk + y + pad) * tk + x + pad] = sum / ci;
      }
  return { shape: [to, tci, tk, tk], data: out };
}

/** Renames, inflates and re-makes the stem of a file's tensors for `model` (also what `inspect` shows). */
export function mapWeights(
  model: Module,
  tensors: readonly SafetensorsTensor[],
  map: WeightMap,
  stemInit: StemInit = 'random',
  path = map.name,
): MappedWeights {
  const shapes = new Map(torchTargets(model).map((t) => [t.name, t.torchShape]));
  const state = new Map<string, TorchTensor>();
  const names: Array<readonly [string, string | null]> = [];
  let stem: MappedWeights['stem'] = 'absent';
  for (const t of tensors) {
    const to = map.rename(t.name);
    names.push([t.name, to]);
    if (to === null) continue;
    if (state.has(to))
      throw new CovsevInputError(
        path,
        `tensor '${t.name}': map ${map.name} sends it to '${to}', which another tensor already took`,
      );
    const data = t.data instanceof BigInt64Array ? Float64Array.from(t.data, Number) : t.data;
    let tensor: TorchTensor = { shape: t.shape, data };
    if (map.inflate && t.dtype !== 'I64') tensor = inflate2dKernel(tensor);
    if (to === map.stem) {
      const target = shapes.get(to);
      const squeeze = (s: readonly number[]) => s.filter((d) => d !== 1).join(',');
      if (target && squeeze(target) !== squeeze(tensor.shape)) {
        stem = stemInit;
        if (stemInit === 'random') continue;
        tensor = meanStemKernel(tensor, target, t.name, path);
      } else stem = 'loaded';
    }
    state.set(to, tensor);
  }
  return { state, names, stem };
}

/**
 * Refuses a file whose SHA-256 (`actual`, hex) is not the pinned one (hex, any case, optionally
 * `sha256:`-prefixed), naming the file and both hashes; a pin that is not 64 hex digits is refused too.
 */
export function checkPinnedSha256(path: string, actual: string, pin: string): void {
  const want = pin
    .trim()
    .toLowerCase()
    .replace(/^sha256:/, '');
  if (!/^[0-9a-f]{64}$/.test(want)) throw new CovsevInputError(path, `the pinned SHA-256 '${pin}' is not 64 hex digits`);
  if (want !== actual)
    throw new CovsevInputError(path, `SHA-256 mismatch: the file is ${actual}, the run pins ${want}; the model was not touched`);
}

/**
 * The SHA-256 (hex) of a weights file, read as a stream, checked against `pin` when given: what a
 * trainer records in its run config before training starts (and pins `loadPretrained` to).
 */
export async function weightsFileSha256(path: string, pin?: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (cause) {
    throw new CovsevInputError(path, `cannot read the weights file (${(cause as Error).message})`, { cause });
  }
  const sha256 = hash.digest('hex');
  if (pin !== undefined) checkPinnedSha256(path, sha256, pin);
  return sha256;
}

/** Hex SHA-256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Loads a safetensors checkpoint into `model` (a whole network, or the part the map describes,
 * such as a segmentation model's `encoder` or the CMC network's `backbone`). Checks the SHA-256
 * first when one is pinned, then maps and loads: strict by default (a `StateDictMismatchError`
 * listing every fault, nothing assigned), or `partial`. `num_batches_tracked`, which older
 * checkpoints lack, and a `random` stem are left as initialised and listed in `report.kept`.
 */
export async function loadPretrained(model: Module, path: string, options: PretrainedOptions): Promise<PretrainedResult> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new CovsevInputError(path, `cannot read the weights file (${(cause as Error).message})`, { cause });
  }
  const sha256 = sha256Hex(bytes);
  if (options.sha256 !== undefined) checkPinnedSha256(path, sha256, options.sha256);
  const file = decodeSafetensors(bytes, path);
  const stemInit = options.stemInit ?? 'random';
  const mapped = mapWeights(model, file.tensors, options.map, stemInit, path);
  const stem = options.map.stem;
  const report = loadTorchStateDict(model, mapped.state, {
    source: path,
    partial: options.partial,
    optional: (name) => name.endsWith('num_batches_tracked') || (name === stem && mapped.stem === 'random'),
  });
  return {
    path,
    sha256,
    map: options.map.name,
    report,
    dropped: mapped.names.filter(([, to]) => to === null).map(([from]) => from),
    stem: mapped.stem,
  };
}
