import type { Rng } from '@covsev/io';

/**
 * Weight initialisers, drawn from a seeded {@link Rng} (never Math.random), named after
 * `torch.nn.init`:
 *
 * - `kaimingUniform` (a = sqrt(5)) is PyTorch's default for Conv*d and Linear weights:
 *   U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)), i.e. b = 1 / sqrt(fan_in).
 * - the default bias is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) ({@link torchDefaultBias}).
 * - `kaimingNormal` with mode fan_out and gain sqrt(2) is what ResNet / ResNeSt apply to their convs.
 * - `normal` N(mean, std) is the CMC classifier's N(0, 0.001).
 *
 * Fans as torch computes them from the weight shape: conv fan_in = in_channels / groups * kh * kw,
 * fan_out = out_channels * kh * kw; Linear fan_in = in_features, fan_out = out_features.
 */
export type WeightInit =
  | { readonly kind: 'kaimingUniform'; readonly a?: number }
  | { readonly kind: 'kaimingNormal'; readonly mode?: 'fanIn' | 'fanOut'; readonly nonlinearity?: 'relu' | 'linear' }
  | { readonly kind: 'normal'; readonly std: number; readonly mean?: number }
  | { readonly kind: 'uniform'; readonly bound: number }
  | { readonly kind: 'constant'; readonly value: number };

/** PyTorch's default weight initialiser for Conv*d and Linear. */
export const TORCH_DEFAULT_WEIGHT_INIT: WeightInit = { kind: 'kaimingUniform', a: Math.sqrt(5) };

/** PyTorch's default bias initialiser: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
export function torchDefaultBias(fanIn: number): WeightInit {
  return { kind: 'uniform', bound: fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0 };
}

/** `size` values drawn from `init`, in draw order. */
export function initValues(init: WeightInit, size: number, fans: { fanIn: number; fanOut: number }, rng: Rng): Float32Array {
  const out = new Float32Array(size);
  switch (init.kind) {
    case 'kaimingUniform': {
      const a = init.a ?? Math.sqrt(5);
      const bound = Math.sqrt(2 / (1 + a * a)) * Math.sqrt(3 / fans.fanIn);
      for (let i = 0; i < size; i++) out[i] = rng.range(-bound, bound);
      return out;
    }
    case 'kaimingNormal': {
      const gain = (init.nonlinearity ?? 'relu') === 'relu' ? Math.SQRT2 : 1;
      const fan = (init.mode ?? 'fanIn') === 'fanIn' ? fans.fanIn : fans.fanOut;
      const std = gain / Math.sqrt(fan);
      for (let i = 0; i < size; i++) out[i] = rng.normal(0, std);
      return out;
    }
    case 'normal':
      for (let i = 0; i < size; i++) out[i] = rng.normal(init.mean ?? 0, init.std);
      return out;
    case 'uniform':
      for (let i = 0; i < size; i++) out[i] = rng.range(-init.bound, init.bound);
      return out;
    case 'constant':
      return out.fill(init.value);
  }
}
