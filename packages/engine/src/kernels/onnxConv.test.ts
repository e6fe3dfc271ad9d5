import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convGeometry } from './convGeometry.js';
import { disableOnnxConv, enableOnnxConv, ONNX_CONV_RUNTIME_VERSION, onnxConvRuns, onnxConvStatus } from './onnxConv.js';
import { registerCovsevKernels } from './register.js';

beforeAll(async () => {
  registerCovsevKernels();
  await tf.setBackend('wasm');
});
afterAll(() => disableOnnxConv());

describe('onnxruntime convolutions', () => {
  it(
    'switch on with onnxruntime-node ' +
      ONNX_CONV_RUNTIME_VERSION +
      ', build one session per distinct convolution, and switch off',
    () => {
      expect(enableOnnxConv({ threads: 1 })).toEqual({ enabled: true, threads: 1, sessions: 0 });
      const x = tf.randomNormal([2, 9, 9, 3]) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, 3, 4]) as tf.Tensor4D;
      const first = tf.conv2d(x, w, 1, 'same');
      const again = tf.conv2d(x, w, 1, 'same');
      expect(onnxConvStatus().sessions).toBe(1);
      tf.conv2d(x, w, 2, 'same').dispose();
      expect(onnxConvStatus().sessions).toBe(2);
      disableOnnxConv();
      const xnnpack = tf.conv2d(x, w, 1, 'same');
      expect(onnxConvStatus().enabled).toBe(false);
      const a = first.dataSync();
      const b = xnnpack.dataSync();
      expect(again.dataSync()).toEqual(a);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
      expect(worst).toBeLessThan(1e-4);
      tf.dispose([x, w, first, again, xnnpack]);
      expect(() => enableOnnxConv({ threads: 0 })).toThrow(/whole number >= 1, got 0/);
    },
  );

  it('leave to XNNPACK the numeric paddings whose output size tfjs takes from the rows for both axes', () => {
    enableOnnxConv();
    const attrs = { strides: [2, 1] as [number, number], pad: 1 as const, dimRoundingMode: 'floor' as const };
    const info = tf.backend_util.computeConv2DInfo([1, 7, 20, 1], [1, 1, 1, 3], attrs.strides, 1, attrs.pad, 'floor');
    // tfjs: 11 columns out of 20 + 2 padding at stride 1 (it used the row stride 2); ONNX says 22.
    expect(info.outWidth).toBe(11);
    const quirk = convGeometry('test', [1, 7, 20, 1], [1, 1, 1, 3], info.outShape, attrs);
    expect(onnxConvRuns(quirk)).toBe(false);
    const plain = convGeometry('test', [1, 8, 8, 2], [3, 3, 2, 3], [1, 8, 8, 3], { strides: 1, pad: 'same' });
    expect(onnxConvRuns(plain)).toBe(true);
    disableOnnxConv();
    expect(onnxConvRuns(plain)).toBe(false);
  });
});
