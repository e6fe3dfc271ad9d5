import { makeVolume, type Volume } from '../volume.js';

/** The classifier's input scaling (method.md): uint8 slices x / 255, then (x - mean) / std. */
export const CMC_INTENSITY = { mean: 0.3529, std: 0.2983 } as const;

export interface NormaliseOptions {
  readonly mean?: number;
  readonly std?: number;
  /** Multiplies the raw values first; 1/255 for 8-bit input (the default). */
  readonly scale?: number;
}

/**
 * `(x * scale - mean) / std` voxel-wise, as Float32 (`normalised`). Defaults are the method's:
 * scale 1/255, mean 0.3529, std 0.2983.
 */
export function normaliseIntensity(volume: Volume, options: NormaliseOptions = {}): Volume<Float32Array> {
  const mean = options.mean ?? CMC_INTENSITY.mean;
  const std = options.std ?? CMC_INTENSITY.std;
  const scale = options.scale ?? 1 / 255;
  if (!(std > 0)) throw new RangeError(`normalisation std must be > 0, got ${std}`);
  const src = volume.data;
  const out = new Float32Array(src.length);
  const a = scale / std;
  const b = -mean / std;
  for (let i = 0; i < src.length; i++) out[i] = (src[i] as number) * a + b;
  return makeVolume({
    data: out,
    shape: volume.shape,
    spacing: volume.spacing,
    affine: volume.affine,
    intensity: 'normalised',
    ...(volume.source === undefined ? {} : { source: volume.source }),
  });
}
