import { makeVolume, type Volume } from '../volume.js';

export interface NormaliseOptions {
  readonly mean: number;
  readonly std: number;
  /** Multiplies the raw values first; 1/255 for 8-bit input (the default). */
  readonly scale?: number;
}

/**
 * `(x * scale - mean) / std` voxel-wise, as Float32 (`normalised`); scale 1/255 unless given. The
 * model's mean and std are the caller's (the classifier's: `CMC_INTENSITY` of `@covsev/cmc`).
 */
export function normaliseIntensity(volume: Volume, options: NormaliseOptions): Volume<Float32Array> {
  const { mean, std } = options;
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
