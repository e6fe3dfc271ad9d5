/**
 * From a scan's voxels to a segmentation model's input, and its output back to the scan
 * (docs/formats.md, "HU windows"; the model card, `modelCard.ts`):
 *
 * 1. Each voxel is brought to HU. A volume in HU is taken as it is; an 8-bit windowed volume
 *    (COV19-CT-DB's JPGs, the Radiopaedia NIfTIs) made from the window [low, high] maps back as
 *    `hu = low + g / 255 * (high - low)`. What the 8-bit window clipped (below `low`, above
 *    `high`) is lost: it comes back as `low` or `high`.
 * 2. The model's own window: `u = clip((hu - low) / (high - low), 0, 1)`.
 * 3. A lung-masked model (the lesion model, eq. 1 of docs/method.md) sees `u * lung`.
 * 4. The slice is resized to the model's size (bilinear, half-pixel centres) and normalised,
 *    `(u - mean) / std`.
 *
 * The model's foreground probabilities are resized back to the slice (bilinear) and thresholded
 * there (`probability >= threshold`).
 */
import { HU_WINDOWS, type HuWindow, type HuWindowName, makeVolume, resampleVolume, type Volume } from '@covsev/io';
import type { InputSpec } from '../modelCard.js';

/**
 * What a volume's numbers are: HU, or 8-bit values from an HU window (a window's name in
 * `HU_WINDOWS` of `@covsev/io`, or its bounds).
 */
export type VolumeIntensity = 'hu' | { readonly window: HuWindow | HuWindowName };

/** {@link VolumeIntensity} with the window resolved to its bounds. */
export type ResolvedIntensity = { readonly kind: 'hu' } | { readonly kind: 'windowed'; readonly window: HuWindow };

function windowBounds(window: HuWindow | HuWindowName, where: string): HuWindow {
  if (typeof window === 'string') {
    const named = (HU_WINDOWS as Record<string, HuWindow>)[window];
    if (named === undefined)
      throw new RangeError(`${where}: unknown HU window "${window}"; known: ${Object.keys(HU_WINDOWS).join(', ')}`);
    return named;
  }
  if (!(Number.isFinite(window.low) && Number.isFinite(window.high) && window.high > window.low))
    throw new RangeError(`${where}: an HU window needs finite low < high, got [${window.low}, ${window.high}]`);
  return { low: window.low, high: window.high };
}

/**
 * How to read `volume`'s numbers: `stated` (an option) where given, else the volume's own
 * `intensity`. A contradiction (a volume in HU said to be windowed, or the reverse), a windowed
 * volume without its window, or a volume that is neither (labels, normalised) is refused, naming
 * the volume's source.
 */
export function resolveIntensity(volume: Volume, stated?: VolumeIntensity): ResolvedIntensity {
  const name = volume.source ?? 'the volume';
  const where = `segmentVolume (${name})`;
  const own = volume.intensity;
  if (own !== 'hu' && own !== 'uint8-windowed' && own !== 'unknown')
    throw new TypeError(`${where}: needs CT in HU or 8-bit windowed CT, got intensity "${own}"`);
  if (stated === undefined) {
    if (own === 'hu') return { kind: 'hu' };
    const known = Object.keys(HU_WINDOWS).join(', ');
    throw new TypeError(
      own === 'uint8-windowed'
        ? `${where}: the volume is 8-bit windowed; say which window made it with the option intensity: { window } (a name: ${known}; or { low, high } in HU)`
        : `${where}: the volume does not say what its numbers are; give the option intensity: 'hu' or { window } (a name: ${known}; or { low, high })`,
    );
  }
  if (stated === 'hu') {
    if (own === 'uint8-windowed') throw new TypeError(`${where}: intensity 'hu' was given, but the volume is 8-bit windowed`);
    return { kind: 'hu' };
  }
  if (own === 'hu') throw new TypeError(`${where}: an 8-bit window was given, but the volume is in HU`);
  return { kind: 'windowed', window: windowBounds(stated.window, where) };
}

/**
 * HU of an 8-bit value `g` (0..255) made from `window`: `low + g / 255 * (high - low)`
 * (docs/formats.md, "HU windows").
 */
export function huFromWindowed(g: number, window: HuWindow): number {
  return window.low + (g / 255) * (window.high - window.low);
}

/** Step 1 and 2 for voxel values: `value -> clip((hu(value) - low) / (high - low), 0, 1)`. */
export function unitWindowFunction(intensity: ResolvedIntensity, model: HuWindow): (value: number) => number {
  const span = model.high - model.low;
  const unit = (hu: number): number => {
    const u = (hu - model.low) / span;
    return u < 0 ? 0 : u > 1 ? 1 : u;
  };
  if (intensity.kind === 'hu') return unit;
  const source = intensity.window;
  return (g) => unit(huFromWindowed(g, source));
}

/**
 * The model's input for slices `[z0, z0 + count)` of `volume` (steps 1-4 of the file comment):
 * `Float32Array [count, H, W]` with `[H, W] = spec.size`. `lung` (same shape as the volume, 0/1)
 * is required when `spec.lungMasked`.
 */
export function modelInputSlices(
  volume: Volume,
  z0: number,
  count: number,
  intensity: ResolvedIntensity,
  spec: InputSpec,
  lung?: Uint8Array,
): Float32Array {
  const [slices, rows, cols] = volume.shape;
  if (!(Number.isInteger(z0) && Number.isInteger(count) && z0 >= 0 && count >= 1 && z0 + count <= slices))
    throw new RangeError(`modelInputSlices: slices [${z0}, ${z0 + count}) outside the volume's 0..${slices - 1}`);
  if (spec.lungMasked && lung === undefined) throw new TypeError('modelInputSlices: a lung-masked model needs the lung mask');
  if (lung !== undefined && lung.length !== volume.data.length)
    throw new RangeError(`modelInputSlices: lung mask has ${lung.length} voxels, the volume ${volume.data.length}`);
  const plane = rows * cols;
  const base = z0 * plane;
  const unit = new Float32Array(count * plane);
  const src = volume.data;
  const toUnit = unitWindowFunction(intensity, spec.huWindow);
  if (src instanceof Uint8Array) {
    const lut = new Float32Array(256);
    for (let g = 0; g < 256; g++) lut[g] = toUnit(g);
    for (let i = 0; i < unit.length; i++) unit[i] = lut[src[base + i] as number] as number;
  } else {
    for (let i = 0; i < unit.length; i++) unit[i] = toUnit(src[base + i] as number);
  }
  if (spec.lungMasked && lung !== undefined) for (let i = 0; i < unit.length; i++) if (lung[base + i] === 0) unit[i] = 0;
  const [height, width] = spec.size;
  const resized = resizeSlices(unit, count, [rows, cols], [height, width]);
  const { mean, std } = spec.normalise;
  if (mean !== 0 || std !== 1) for (let i = 0; i < resized.length; i++) resized[i] = ((resized[i] as number) - mean) / std;
  return resized;
}

/**
 * Bilinear resize (half-pixel centres, PyTorch's `align_corners=False`) of `count` slices of
 * `from` = [rows, cols] to `to`; the input itself when the sizes agree.
 */
export function resizeSlices(
  data: Float32Array,
  count: number,
  from: readonly [number, number],
  to: readonly [number, number],
): Float32Array {
  if (from[0] === to[0] && from[1] === to[1]) return data;
  const volume = makeVolume({ data, shape: [count, from[0], from[1]], intensity: 'unknown' });
  return resampleVolume(volume, [count, to[0], to[1]], { mode: 'linear', output: 'float32' }).data as Float32Array;
}
