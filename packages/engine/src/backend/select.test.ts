import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { COVSEV_KERNEL_NAMES, ONNX_CONV_RUNTIME_VERSION, onnxConvStatus } from '../kernels/index.js';
import { packageDir, tfjsCoreDir } from './packages.js';
import { BACKEND_ENV, formatBackendInfo, getBackendInfo, initBackend, probeBackend } from './select.js';

describe('initBackend on this machine (no native addon, wasm with SIMD)', () => {
  it('picks wasm with covsev kernels and says why it skipped the native backends', async () => {
    const lines: string[] = [];
    const info = await initBackend({ env: {}, log: (l) => lines.push(l) });
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.simd).toBe(true);
    expect(info.threads).toBe(1);
    expect(info.kernels).toEqual(expect.arrayContaining(['Conv2DBackpropFilter', 'Conv2DBackpropInput']));
    expect(info.skipped.map((s) => s.name)).toEqual(['tensorflow-gpu', 'tensorflow']);
    expect(info.skipped[0]?.reason).toMatch(/tfjs-node-gpu.*tfjs_binding\.node/);
    expect(getBackendInfo()).toBe(info);
    expect(lines).toHaveLength(1);
    expect(info.convolutions).toBe(`onnxruntime ${ONNX_CONV_RUNTIME_VERSION} (MLAS, 1 thread)`);
    expect(info.simdKernels).toBe('on');
    expect(lines[0]).toBe(
      `covsev engine: wasm (SIMD, 1 thread, covsev kernels: ${COVSEV_KERNEL_NAMES.join(', ')}, SIMD kernels on, ` +
        `convolutions: onnxruntime ${ONNX_CONV_RUNTIME_VERSION} (MLAS, 1 thread)); ` +
        'skipped tensorflow-gpu, tensorflow (see getBackendInfo().skipped)',
    );
  });

  it('puts the wasm convolutions on XNNPACK or onnxruntime as asked, and refuses an unknown engine', async () => {
    expect((await initBackend({ env: { COVSEV_CONV: 'xnnpack' }, log: false })).convolutions).toBe('XNNPACK');
    expect(onnxConvStatus().enabled).toBe(false);
    const two = await initBackend({ env: { COVSEV_CONV: 'xnnpack' }, convolutions: 'onnxruntime', convThreads: 2, log: false });
    expect(two.convolutions).toBe(`onnxruntime ${ONNX_CONV_RUNTIME_VERSION} (MLAS, 2 threads)`);
    expect(onnxConvStatus()).toMatchObject({ enabled: true, threads: 2 });
    await expect(initBackend({ env: { COVSEV_CONV: 'mlas' }, log: false })).rejects.toThrow(
      /convolutions 'mlas' are not an engine; valid: onnxruntime, xnnpack/,
    );
    await initBackend({ env: {}, log: false });
    expect(onnxConvStatus()).toMatchObject({ enabled: true, threads: 1 });
  });

  it(`${BACKEND_ENV}=cpu picks cpu`, async () => {
    const info = await initBackend({ env: { [BACKEND_ENV]: 'cpu' }, log: false });
    expect(info.name).toBe('cpu');
    expect(info.source).toBe('env');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('the prefer option overrides the environment', async () => {
    const info = await initBackend({ prefer: 'wasm', env: { [BACKEND_ENV]: 'cpu' }, log: false });
    expect(info.name).toBe('wasm');
    expect(info.source).toBe('option');
  });

  it("requesting 'tensorflow' fails naming the missing addon and what is available", async () => {
    const attempt = initBackend({ prefer: 'tensorflow', log: false });
    await expect(attempt).rejects.toThrow(/backend 'tensorflow' was requested/);
    await expect(initBackend({ prefer: 'tensorflow', log: false })).rejects.toThrow(
      /@tensorflow\/tfjs-node@4\.22\.0 is installed without its native addon .*tfjs_binding\.node.*Available here: wasm, cpu\./,
    );
    await expect(initBackend({ env: { [BACKEND_ENV]: 'tensorflow-gpu' }, log: false })).rejects.toThrow(
      /COVSEV_BACKEND=tensorflow-gpu.*@tensorflow\/tfjs-node-gpu/,
    );
  });

  it('rejects an unknown name, listing the valid ones', async () => {
    await expect(initBackend({ env: { [BACKEND_ENV]: 'webgl' }, log: false })).rejects.toThrow(
      /COVSEV_BACKEND='webgl' is not a backend; valid: tensorflow-gpu, tensorflow, wasm, cpu, auto/,
    );
  });

  it('probes without importing', () => {
    expect(probeBackend('wasm')).toBeNull();
    expect(probeBackend('tensorflow')).toMatch(/without its native addon/);
    expect(tf.findBackendFactory('tensorflow')).toBeNull();
  });

  it('tfjs-node, tfjs-node-gpu, the wasm backend and covsev share one tfjs-core', () => {
    const ours = tfjsCoreDir();
    expect(ours).toMatch(/tfjs-core/);
    for (const pkg of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
      const dir = packageDir(pkg);
      expect(dir, pkg).toBeDefined();
      expect(tfjsCoreDir(join(dir ?? '', 'package.json')), pkg).toBe(ours);
    }
    const wasm = packageDir('@tensorflow/tfjs-backend-wasm') ?? '';
    expect(packageDir('@tensorflow/tfjs-core', join(wasm, 'package.json'))).toBe(ours);
  });

  it('formats the one line', () => {
    expect(
      formatBackendInfo({
        name: 'tensorflow-gpu',
        tfjsBackend: 'tensorflow',
        version: '4.22.0',
        backendPackage: '@tensorflow/tfjs-node-gpu@4.22.0',
        simd: null,
        threads: 2,
        gpu: true,
        kernels: [],
        source: 'auto',
        skipped: [],
      }),
    ).toBe('covsev engine: tensorflow-gpu (CUDA device, 2 threads)');
  });
});
