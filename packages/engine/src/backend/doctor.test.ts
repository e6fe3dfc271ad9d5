import { describe, expect, it } from 'vitest';
import {
  cudaReasons,
  type DoctorProbes,
  type DoctorSystem,
  diagnoseBackends,
  diagnoseThisMachine,
  formatDoctorReport,
} from './doctor.js';
import type { BackendInfo } from './select.js';

/** A simulated Linux machine: files, folders and linker entries as given. */
function machine(
  files: Record<string, string>,
  dirs: Record<string, string[]>,
  linker: string[] = [],
  env: Record<string, string> = {},
): DoctorSystem {
  return {
    env,
    node: '20.20.2',
    platform: 'linux',
    arch: 'x64',
    cpuModel: 'Test CPU',
    cores: 8,
    cpuFlags: ['sse4_2', 'avx', 'avx2', 'fma'],
    memoryBytes: 32 * 2 ** 30,
    exists: (p) => p in files || p in dirs,
    readText: (p) => files[p],
    list: (d) => dirs[d] ?? [],
    linkerLibraries: () => linker,
  };
}

const wasmInfo: BackendInfo = {
  name: 'wasm',
  tfjsBackend: 'wasm',
  version: '4.22.0',
  backendPackage: '@tensorflow/tfjs-backend-wasm@4.22.0',
  simd: true,
  threads: 1,
  gpu: false,
  kernels: ['Conv2D'],
  convolutions: 'onnxruntime 1.30.0 (MLAS, 1 thread)',
  source: 'auto',
  skipped: [
    { name: 'tensorflow-gpu', reason: '@tensorflow/tfjs-node-gpu@4.22.0 is installed without its native addon' },
    { name: 'tensorflow', reason: '@tensorflow/tfjs-node@4.22.0 is installed without its native addon' },
  ],
};

/** Probes with tfjs-node-gpu installed with its addon, the engine falling back to wasm all the same. */
function probes(info: BackendInfo = wasmInfo, gpuPackage: string | null = null): DoctorProbes {
  return {
    chooseBackend: async () => ({ info, line: `covsev engine: ${info.name}` }),
    onnxCpuProblem: () => undefined,
    nativeProblem: (pkg) => (pkg === '@tensorflow/tfjs-node-gpu' ? gpuPackage : 'not checked'),
    onnxBinDir: () => '/ort/bin',
  };
}

const GOOD_DRIVER = {
  '/proc/driver/nvidia/version': 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.54.03  Tue Jun 6 22:20:39 UTC 2023\n',
  '/dev/nvidia0': '',
};
/** The CUDA path's reasons alone (`diagnoseBackends` adds the package's and the engine's). */
const gpuReasons = async (system: DoctorSystem) => cudaReasons(system).map((r) => r.reason);

describe('diagnoseBackends: the CUDA reasons on simulated machines', () => {
  it('a CUDA 12 machine: libcudart.so.11.0 and cuDNN 8 missing, each named with what was found and the apt commands', async () => {
    const system = machine(GOOD_DRIVER, {
      '/usr/local': ['cuda-12.2'],
      '/usr/local/cuda-12.2/lib64': ['libcudart.so.12', 'libcudnn.so.9'],
    });
    const report = await diagnoseBackends(system, probes());
    const gpu = report.backends.find((b) => b.name === 'tensorflow-gpu');
    expect(gpu?.usable).toBe(false);
    expect(gpu?.reasons.map((r) => r.reason)).toEqual([
      'missing libcudart.so.11.0 (the CUDA 11.2 runtime tfjs-node-gpu 4.22.0 loads); found libcudart.so.12: another CUDA, which it cannot use (both can be installed side by side)',
      'missing libcudnn.so.8 (cuDNN 8.1 for CUDA 11.2); found libcudnn.so.9, another major version',
    ]);
    expect(gpu?.reasons[0]?.fix).toContain('sudo apt-get install cuda-cudart-11-2 cuda-libraries-11-2');
    expect(gpu?.reasons[1]?.fix).toContain('sudo apt-get install libcudnn8=8.1.1.33-1+cuda11.2');
    expect(formatDoctorReport(report)).toContain('[RUNS] wasm');
  });

  it('finds the libraries through the linker or LD_LIBRARY_PATH; then the driver and the device decide', async () => {
    const libs = ['libcudart.so.11.0', 'libcudnn.so.8'];
    expect(await gpuReasons(machine(GOOD_DRIVER, {}, libs))).toEqual([]);
    expect(await gpuReasons(machine(GOOD_DRIVER, { '/opt/cuda/lib': libs }, [], { LD_LIBRARY_PATH: '/opt/cuda/lib' }))).toEqual(
      [],
    );
    const old = {
      ...GOOD_DRIVER,
      '/proc/driver/nvidia/version': 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  418.87.01  Thu Aug 8\n',
    };
    expect(await gpuReasons(machine(old, {}, libs))).toEqual([
      'NVIDIA driver 418.87.01 is too old for CUDA 11 (at least 450.80.02)',
    ]);
    expect(await gpuReasons(machine({}, {}, libs))).toEqual(['no NVIDIA driver loaded (/proc/driver/nvidia/version is missing)']);
    const noDevice = { '/proc/driver/nvidia/version': GOOD_DRIVER['/proc/driver/nvidia/version'] };
    expect(await gpuReasons(machine(noDevice, {}, libs))).toEqual([
      'no GPU device is visible (/dev/nvidia0 is missing: in a container, the GPU was not passed in)',
    ]);
    expect(await gpuReasons(machine(GOOD_DRIVER, {}, libs, { CUDA_VISIBLE_DEVICES: '-1' }))).toEqual([
      'CUDA_VISIBLE_DEVICES="-1" hides every GPU',
    ]);
  });

  it('names a missing package or addon first, and a load failure the engine met when the machine looked right', async () => {
    const libs = ['libcudart.so.11.0', 'libcudnn.so.8'];
    const notInstalled = await diagnoseBackends(
      machine(GOOD_DRIVER, {}, libs),
      probes(wasmInfo, '@tensorflow/tfjs-node-gpu is not installed (it is an optional dependency)'),
    );
    const gpu = notInstalled.backends.find((b) => b.name === 'tensorflow-gpu');
    expect(gpu?.found).toBe(false);
    expect(gpu?.reasons[0]?.fix[0]).toBe('pnpm add --filter @covsev/engine @tensorflow/tfjs-node-gpu@4.22.0');
    const loadFailed = await diagnoseBackends(machine(GOOD_DRIVER, {}, libs), probes());
    expect(loadFailed.backends.find((b) => b.name === 'tensorflow-gpu')?.reasons.map((r) => r.reason)).toEqual([
      '@tensorflow/tfjs-node-gpu@4.22.0 is installed without its native addon',
    ]);
    // The GPU backend chosen and on a device: nothing to fix, it runs.
    const onGpu = await diagnoseBackends(
      machine(GOOD_DRIVER, {}, libs),
      probes({ ...wasmInfo, name: 'tensorflow-gpu', gpu: true, skipped: [] }),
    );
    expect(onGpu.wouldRun).toBe('tensorflow-gpu');
    expect(onGpu.backends.find((b) => b.name === 'tensorflow-gpu')).toMatchObject({ usable: true, reasons: [] });
  });
});

describe('diagnoseThisMachine', () => {
  it('on this CPU machine: wasm runs, onnxruntime CPU loads, the native and CUDA backends are skipped with their reasons', async () => {
    const report = await diagnoseThisMachine();
    expect(report.wouldRun).toBe('wasm');
    const by = new Map(report.backends.map((b) => [b.name, b]));
    expect(by.get('wasm')?.usable).toBe(true);
    expect(by.get('onnxruntime-cpu')).toMatchObject({ found: true, usable: true, reasons: [] });
    for (const name of ['tensorflow-gpu', 'tensorflow', 'onnxruntime-cuda'] as const) {
      expect(by.get(name)?.usable).toBe(false);
      expect(by.get(name)?.reasons.length).toBeGreaterThan(0);
    }
    expect(
      by
        .get('tensorflow-gpu')
        ?.reasons.map((r) => r.reason)
        .join('\n'),
    ).toMatch(/tfjs-node-gpu/);
    expect(by.get('onnxruntime-cuda')?.reasons[0]?.reason).toMatch(/no CUDA provider/);
    const text = formatDoctorReport(report);
    expect(text).toMatch(/^Node \d+\.\d+\.\d+ on linux x64$/m);
    expect(text).toContain('covsev trains here on: wasm');
  });
});
