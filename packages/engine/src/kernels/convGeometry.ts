/**
 * The geometry of an NHWC 2D convolution, as the covsev backprop kernels need it: sizes,
 * strides and the four paddings resolved from tfjs' 'same' / 'valid' / number / explicit forms.
 */
import { backend_util, type Conv2DBackpropFilterAttrs, type Conv2DBackpropInputAttrs } from '@tensorflow/tfjs';

export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  /** Dilation of the filter taps (1 unless the geometry was resolved with `allowDilation`). */
  dilationH: number;
  dilationW: number;
}

type BackpropAttrs = Pick<Conv2DBackpropFilterAttrs & Conv2DBackpropInputAttrs, 'strides' | 'pad' | 'dimRoundingMode'> & {
  dataFormat?: string;
  dilations?: number | number[];
};

function rank4(kernel: string, what: string, shape: readonly number[]): [number, number, number, number] {
  if (shape.length !== 4) throw new Error(`covsev ${kernel}: ${what} must be rank 4, got shape [${shape.join(', ')}]`);
  return shape as [number, number, number, number];
}

/**
 * Resolves the geometry of the convolution x (*) filter -> y whose gradient `kernel` computes,
 * and checks that `dyShape` is that convolution's output shape.
 *
 * Raises: an Error naming the kernel and the attribute for anything the covsev kernels do not
 * support (NCHW, dilations other than 1 unless `allowDilation` (the onnxruntime forward takes
 * them), shapes that do not agree).
 */
export function convGeometry(
  kernel: string,
  xShape: readonly number[],
  filterShape: readonly number[],
  dyShape: readonly number[],
  attrs: BackpropAttrs,
  allowDilation = false,
): ConvGeometry {
  const dataFormat = attrs.dataFormat ?? 'NHWC';
  if (dataFormat !== 'NHWC') {
    throw new Error(`covsev ${kernel}: dataFormat '${dataFormat}' is not supported on wasm; use 'NHWC' (channels last)`);
  }
  const dil = attrs.dilations ?? 1;
  if (!allowDilation && (Array.isArray(dil) ? dil : [dil]).some((d) => d !== 1)) {
    throw new Error(`covsev ${kernel}: dilations [${String(dil)}] are not supported; only 1`);
  }
  const info = backend_util.computeConv2DInfo(
    rank4(kernel, 'x', xShape),
    rank4(kernel, 'filter', filterShape),
    attrs.strides,
    allowDilation ? (dil as number | [number, number]) : 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const dy = rank4(kernel, 'dy', dyShape);
  if (info.outShape.some((n, i) => n !== dy[i])) {
    throw new Error(
      `covsev ${kernel}: dy has shape [${dy.join(', ')}] but the convolution of [${xShape.join(', ')}] by ` +
        `[${filterShape.join(', ')}] gives [${info.outShape.join(', ')}]`,
    );
  }
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    kH: info.filterHeight,
    kW: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    padTop: info.padInfo.top,
    padBottom: info.padInfo.bottom,
    padLeft: info.padInfo.left,
    padRight: info.padInfo.right,
    dilationH: info.dilationHeight,
    dilationW: info.dilationWidth,
  };
}
