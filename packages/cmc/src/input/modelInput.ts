/**
 * The classifier's model input, eq. (2) of the paper (docs/method.md, "Pipeline" and "Classifier"):
 * infection-aware CMC takes the two channels [infection mask, CT]; plain CMC takes CT alone. The
 * CT is scaled as the method says (uint8 x / 255, then (x - 0.3529) / 0.2983); the mask is 0/1.
 */
import { type Volume5, volumeFromNcdhw } from '@covsev/engine';
import type { Shape3, Volume } from '@covsev/io';

/** The classifier's input scaling (docs/method.md): uint8 slices x / 255, then (x - mean) / std. */
export const CMC_INTENSITY = { mean: 0.3529, std: 0.2983 } as const;

/** The classifier's input grid for GPU users (docs/method.md): 64 slices of 256 x 256. */
export const CMC_FULL_SHAPE: Shape3 = [64, 256, 256];

/** The network input of scans: NCDHW [N, C, D, H, W], CT scaled by the method's mean/std, mask 0/1. */
export function scansToInput(
  views: readonly { image: Volume<Uint8Array>; mask?: Volume<Uint8Array> }[],
  inChannels: 1 | 2,
): Volume5 {
  const { data, dims } = scansToNcdhw(views, inChannels);
  return volumeFromNcdhw(data, dims);
}

/**
 * `scansToInput`'s values as a plain NCDHW array with its dims `[N, C, D, H, W]` (what an exported
 * ONNX model takes).
 */
export function scansToNcdhw(
  views: readonly { image: Volume<Uint8Array>; mask?: Volume<Uint8Array> }[],
  inChannels: 1 | 2,
): { data: Float32Array; dims: [number, number, number, number, number] } {
  const first = views[0];
  if (first === undefined) throw new RangeError('no scans');
  const [d, h, w] = first.image.shape;
  const plane = d * h * w;
  const data = new Float32Array(views.length * inChannels * plane);
  const a = 1 / 255 / CMC_INTENSITY.std;
  const b = -CMC_INTENSITY.mean / CMC_INTENSITY.std;
  views.forEach((v, i) => {
    if (v.image.data.length !== plane)
      throw new RangeError(`scan ${i} is [${v.image.shape}], the first is [${first.image.shape}]`);
    const base = i * inChannels * plane;
    if (inChannels === 2) {
      if (v.mask === undefined) throw new RangeError(`scan ${i} has no infection mask, needed for 2-channel input`);
      if (v.mask.data.length !== plane)
        throw new RangeError(`scan ${i}: its mask is [${v.mask.shape}] but its CT is [${v.image.shape}]`);
      for (let j = 0; j < plane; j++) data[base + j] = (v.mask.data[j] as number) > 0 ? 1 : 0;
    }
    const ct = base + (inChannels - 1) * plane;
    for (let j = 0; j < plane; j++) data[ct + j] = (v.image.data[j] as number) * a + b;
  });
  return { data, dims: [views.length, inChannels, d, h, w] };
}
