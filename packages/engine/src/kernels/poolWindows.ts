/** A pooling's windows in the argument order of covsev's SIMD pooling-gradient kernels (`simd.ts`). */
import type { backend_util } from '@tensorflow/tfjs';

/** [batch, h, w, ch] input, [oh, ow] output, [fh, fw] window, [sh, sw] strides, top and left padding. */
export type PoolWindows = [
  batch: number,
  h: number,
  w: number,
  ch: number,
  oh: number,
  ow: number,
  fh: number,
  fw: number,
  sh: number,
  sw: number,
  top: number,
  left: number,
];

export function poolWindows(info: backend_util.Conv2DInfo): PoolWindows {
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.effectiveFilterHeight,
    info.effectiveFilterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  ];
}
