/**
 * `pnpm run doctor`'s diagnosis: what this machine can run covsev's models on, and for every
 * backend that it cannot, the exact reason and the commands that fix it on Debian / Ubuntu.
 *
 * The checks read the machine through a `DoctorSystem` (files, the dynamic linker's library list,
 * the environment), so that the CUDA reasons can be tested with simulated machines; the backend
 * that would run comes from the engine's own choice (`initBackend`), so the doctor never
 * disagrees with a training run.
 *
 * What the CUDA path needs (tfjs-node-gpu 4.22.0, which bundles libtensorflow 2.9.1 built for
 * CUDA 11.2 and cuDNN 8.1): `libcudart.so.11.0` (the CUDA 11 runtime; a CUDA 12 system has
 * `libcudart.so.12` only and fails on it), `libcudnn.so.8`, an NVIDIA driver of at least 450.80.02
 * (CUDA 11's minor-version compatibility; 460.27.03 is 11.2's own), and a visible device.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { enableOnnxConv } from '../kernels/index.js';
import { ONNX_CUDA_PROVIDER_LIBRARY, onnxRuntimeBinDir } from '../onnx/session.js';
import { probeNative } from './packages.js';
import { BACKEND_ORDER, type BackendInfo, type BackendName, formatBackendInfo, initBackend } from './select.js';

/** The machine as the doctor reads it; `realSystem()` is this one. */
export interface DoctorSystem {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly node: string;
  readonly platform: string;
  readonly arch: string;
  readonly cpuModel: string;
  readonly cores: number;
  /** CPU feature flags (`/proc/cpuinfo`: avx2, fma, avx512f, ...). */
  readonly cpuFlags: readonly string[];
  readonly memoryBytes: number;
  exists(path: string): boolean;
  readText(path: string): string | undefined;
  /** File names in a folder (empty when it is not one). */
  list(dir: string): readonly string[];
  /** Shared libraries the dynamic linker knows (`ldconfig -p`), e.g. `libcudart.so.11.0`. */
  linkerLibraries(): readonly string[];
}

/** This machine. */
export function realSystem(): DoctorSystem {
  const cpuinfo = safeRead('/proc/cpuinfo') ?? '';
  const flags = /^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.split(/\s+/) ?? [];
  return {
    env: process.env,
    node: process.versions.node,
    platform: process.platform,
    arch: process.arch,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    cpuFlags: flags,
    memoryBytes: totalmem(),
    exists: (path) => existsSync(path),
    readText: safeRead,
    list: (dir) => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    },
    linkerLibraries: () => {
      try {
        const out = execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        return [...out.matchAll(/^\s*(\S+)\s+\(/gm)].map((m) => m[1] as string);
      } catch {
        return [];
      }
    },
  };
}

function safeRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Why a backend cannot run, and what fixes it. */
export interface DoctorReason {
  readonly reason: string;
  /** Commands (or one instruction) for Debian / Ubuntu, in order. */
  readonly fix: readonly string[];
}

/** The backends the doctor looks at: the engine's four tfjs backends and onnxruntime's two providers. */
export type DoctorBackend = BackendName | 'onnxruntime-cpu' | 'onnxruntime-cuda';

export interface BackendDiagnosis {
  readonly name: DoctorBackend;
  /** What it is, for a person. */
  readonly title: string;
  /** The package is installed with its native parts (tfjs-node's addon, onnxruntime's provider library). */
  readonly found: boolean;
  /** It loaded (or, for backends that were not tried, looks loadable). */
  readonly usable: boolean;
  /** Nothing when usable; else every reason found, each with its fix. */
  readonly reasons: readonly DoctorReason[];
  /** Versions, threads, what runs the convolutions. */
  readonly detail?: string;
}

export interface DoctorReport {
  readonly node: string;
  readonly platform: string;
  readonly cpu: { readonly model: string; readonly cores: number; readonly features: readonly string[] };
  readonly memoryGiB: number;
  readonly backends: readonly BackendDiagnosis[];
  /** The backend covsev trains on here (`initBackend`'s choice). */
  readonly wouldRun: BackendName;
  /** That backend's one-line description. */
  readonly wouldRunLine: string;
}

/** What the doctor learns by running the engine's backend choice and onnxruntime; injectable for tests. */
export interface DoctorProbes {
  /** The engine's choice (`initBackend`), with the backends it skipped and why. */
  chooseBackend(): Promise<{ info: BackendInfo; line: string }>;
  /** onnxruntime's CPU provider: undefined when it runs, else why not. */
  onnxCpuProblem(): string | undefined;
  /** Whether the tfjs-node(-gpu) package is installed with its addon (the engine's probe). */
  nativeProblem(pkg: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu'): string | null;
  /** onnxruntime-node's folder of native binaries, when installed. */
  onnxBinDir(): string | undefined;
}

/** CUDA 11's minor-version compatibility floor (the CUDA 11.x release notes). */
export const MIN_DRIVER_CUDA11 = '450.80.02';
/** The versions that work together on the CUDA path (docs: the README's GPU section). */
export const CUDA_PATH = {
  tfjsNodeGpu: '4.22.0',
  libtensorflow: '2.9.1',
  cuda: '11.2',
  cudnn: '8.1',
  cudart: 'libcudart.so.11.0',
  cudnnLib: 'libcudnn.so.8',
} as const;

const CPU_FEATURES = ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512_vnni', 'amx_tile'];

/** Folders the CUDA libraries are usually in, besides what the linker and LD_LIBRARY_PATH know. */
function libraryDirs(system: DoctorSystem): string[] {
  const fromEnv = (system.env.LD_LIBRARY_PATH ?? '').split(':').filter((d) => d !== '');
  const cudaRoots = system.list('/usr/local').filter((d) => /^cuda(-\d+(\.\d+)?)?$/.test(d));
  return [
    ...fromEnv,
    ...cudaRoots.flatMap((d) => [join('/usr/local', d, 'lib64'), join('/usr/local', d, 'targets', 'x86_64-linux', 'lib')]),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib64',
  ];
}

/** Every shared library name findable on this machine matching `prefix` (`libcudart.so`). */
function findLibraries(system: DoctorSystem, prefix: string): string[] {
  const names = new Set<string>();
  for (const lib of system.linkerLibraries()) if (lib.startsWith(prefix)) names.add(lib);
  for (const dir of libraryDirs(system)) for (const f of system.list(dir)) if (f.startsWith(prefix)) names.add(f);
  return [...names].sort();
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const CUDA_REPO = [
  "# NVIDIA's CUDA apt repository (Ubuntu 20.04 shown; use your release's folder: ubuntu2204, debian11, ...):",
  'wget https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2004/x86_64/cuda-keyring_1.1-1_all.deb',
  'sudo dpkg -i cuda-keyring_1.1-1_all.deb && sudo apt-get update',
];

/** The CUDA path's reasons: runtime, cuDNN, driver, device (each independent; all are listed). */
export function cudaReasons(system: DoctorSystem): DoctorReason[] {
  const reasons: DoctorReason[] = [];
  const cudart = findLibraries(system, 'libcudart.so');
  if (!cudart.includes(CUDA_PATH.cudart)) {
    const others = cudart.filter((l) => /^libcudart\.so\.\d/.test(l));
    reasons.push({
      reason:
        `missing ${CUDA_PATH.cudart} (the CUDA ${CUDA_PATH.cuda} runtime tfjs-node-gpu ${CUDA_PATH.tfjsNodeGpu} loads)` +
        (others.length > 0
          ? `; found ${others.join(', ')}: another CUDA, which it cannot use (both can be installed side by side)`
          : ''),
      fix: [
        ...CUDA_REPO,
        'sudo apt-get install cuda-cudart-11-2 cuda-libraries-11-2',
        'export LD_LIBRARY_PATH=/usr/local/cuda-11.2/lib64:$LD_LIBRARY_PATH',
      ],
    });
  }
  const cudnn = findLibraries(system, 'libcudnn.so');
  if (!cudnn.some((l) => l === CUDA_PATH.cudnnLib || l.startsWith(`${CUDA_PATH.cudnnLib}.`))) {
    const others = cudnn.filter((l) => /^libcudnn\.so\.\d/.test(l));
    reasons.push({
      reason:
        `missing ${CUDA_PATH.cudnnLib} (cuDNN ${CUDA_PATH.cudnn} for CUDA ${CUDA_PATH.cuda})` +
        (others.length > 0 ? `; found ${others.join(', ')}, another major version` : ''),
      fix: [...CUDA_REPO, 'sudo apt-get install libcudnn8=8.1.1.33-1+cuda11.2'],
    });
  }
  const driverText = system.readText('/proc/driver/nvidia/version');
  const driver = driverText === undefined ? undefined : /Kernel Module\s+(?:for\s+\S+\s+)?(\d+(?:\.\d+)+)/.exec(driverText)?.[1];
  if (driverText === undefined) {
    reasons.push({
      reason: 'no NVIDIA driver loaded (/proc/driver/nvidia/version is missing)',
      fix: ['sudo ubuntu-drivers autoinstall   # Ubuntu; Debian: sudo apt-get install nvidia-driver', 'sudo reboot'],
    });
  } else if (driver !== undefined && compareVersions(driver, MIN_DRIVER_CUDA11) < 0) {
    reasons.push({
      reason: `NVIDIA driver ${driver} is too old for CUDA 11 (at least ${MIN_DRIVER_CUDA11})`,
      fix: ['sudo apt-get install nvidia-driver-470   # or newer (Ubuntu: sudo ubuntu-drivers autoinstall)', 'sudo reboot'],
    });
  }
  const visible = system.env.CUDA_VISIBLE_DEVICES;
  if (visible !== undefined && (visible.trim() === '' || visible.trim() === '-1')) {
    reasons.push({
      reason: `CUDA_VISIBLE_DEVICES=${JSON.stringify(visible)} hides every GPU`,
      fix: ['unset CUDA_VISIBLE_DEVICES   # or name a device: export CUDA_VISIBLE_DEVICES=0'],
    });
  } else if (driverText !== undefined && !system.exists('/dev/nvidia0')) {
    reasons.push({
      reason: 'no GPU device is visible (/dev/nvidia0 is missing: in a container, the GPU was not passed in)',
      fix: ['docker run --gpus all ...   # with the NVIDIA Container Toolkit; check with nvidia-smi'],
    });
  }
  return reasons;
}

const REBUILD_FIX = (pkg: string) => [
  `# in pnpm-workspace.yaml, move "${pkg}" from ignoredBuiltDependencies to onlyBuiltDependencies, then:`,
  `pnpm rebuild ${pkg}   # its install script downloads libtensorflow ${CUDA_PATH.libtensorflow}: needs network`,
];

function nativeReasons(problem: string | null, pkg: string): DoctorReason[] {
  if (problem === null) return [];
  const notInstalled = problem.includes('is not installed');
  return [
    {
      reason: problem,
      fix: notInstalled
        ? [`pnpm add --filter @covsev/engine ${pkg}@${CUDA_PATH.tfjsNodeGpu}`, ...REBUILD_FIX(pkg)]
        : REBUILD_FIX(pkg),
    },
  ];
}

/** The engine's reason for skipping `name` when it tried to load it, if it did. */
function skippedBecause(info: BackendInfo, name: BackendName): string | undefined {
  return info.skipped.find((s) => s.name === name)?.reason;
}

/** Diagnoses every backend (see the file's comment). */
export async function diagnoseBackends(system: DoctorSystem, probes: DoctorProbes): Promise<DoctorReport> {
  const { info, line } = await probes.chooseBackend();
  const chosenIndex = BACKEND_ORDER.indexOf(info.name);
  const tfjsBackend = (name: BackendName, title: string, reasons: DoctorReason[], found: boolean): BackendDiagnosis => {
    const chosen = info.name === name;
    // A backend after the chosen one was not tried: it is usable if nothing speaks against it.
    const usable = chosen || (reasons.length === 0 && BACKEND_ORDER.indexOf(name) > chosenIndex);
    return { name, title, found, usable, reasons: usable ? [] : reasons, ...(chosen ? { detail: line } : {}) };
  };

  const gpuProblem = probes.nativeProblem('@tensorflow/tfjs-node-gpu');
  const gpuReasons = [...nativeReasons(gpuProblem, '@tensorflow/tfjs-node-gpu'), ...cudaReasons(system)];
  const gpuSkip = skippedBecause(info, 'tensorflow-gpu');
  if (gpuReasons.length === 0 && gpuSkip !== undefined)
    gpuReasons.push({ reason: gpuSkip, fix: REBUILD_FIX('@tensorflow/tfjs-node-gpu') });
  if (info.name === 'tensorflow-gpu' && !info.gpu)
    gpuReasons.push({
      reason: 'tfjs-node-gpu loaded but TensorFlow sees no CUDA device: it runs on the CPU',
      fix: ['nvidia-smi   # is the GPU listed?'],
    });

  const cpuProblem = probes.nativeProblem('@tensorflow/tfjs-node');
  const cpuReasons = nativeReasons(cpuProblem, '@tensorflow/tfjs-node');
  const cpuSkip = skippedBecause(info, 'tensorflow');
  if (cpuReasons.length === 0 && cpuSkip !== undefined)
    cpuReasons.push({ reason: cpuSkip, fix: REBUILD_FIX('@tensorflow/tfjs-node') });

  const wasmSkip = skippedBecause(info, 'wasm');
  const wasmReasons =
    wasmSkip === undefined
      ? []
      : [{ reason: wasmSkip, fix: ['pnpm install --frozen-lockfile   # reinstall @tensorflow/tfjs-backend-wasm'] }];

  const ortCpu = probes.onnxCpuProblem();
  const bin = probes.onnxBinDir();
  const ortFiles = bin === undefined ? [] : system.list(bin);
  const ortCuda: DoctorReason[] = [];
  if (bin === undefined) ortCuda.push({ reason: 'onnxruntime-node is not installed', fix: ['pnpm install --frozen-lockfile'] });
  else if (!ortFiles.includes(ONNX_CUDA_PROVIDER_LIBRARY))
    ortCuda.push({
      reason: `onnxruntime-node has no CUDA provider (no ${join(bin, ONNX_CUDA_PROVIDER_LIBRARY)}: its install script, which fetches it, is not run by default); exported models run on its CPU provider`,
      fix: [
        '# in pnpm-workspace.yaml, move "onnxruntime-node" from ignoredBuiltDependencies to onlyBuiltDependencies, then:',
        'pnpm rebuild onnxruntime-node   # needs network; the provider needs CUDA 12 and cuDNN 9',
      ],
    });
  if (ortCuda.length === 0 && !findLibraries(system, 'libcudart.so.12').length)
    ortCuda.push({
      reason: "missing libcudart.so.12 (the CUDA 12 runtime onnxruntime 1.30's CUDA provider loads)",
      fix: [...CUDA_REPO, 'sudo apt-get install cuda-libraries-12-4'],
    });

  const backends: BackendDiagnosis[] = [
    tfjsBackend(
      'tensorflow-gpu',
      'tfjs-node-gpu (TensorFlow on CUDA: the training backend on a GPU)',
      gpuReasons,
      gpuProblem === null,
    ),
    tfjsBackend('tensorflow', 'tfjs-node (TensorFlow on the CPU)', cpuReasons, cpuProblem === null),
    tfjsBackend('wasm', 'wasm + covsev kernels (convolutions on onnxruntime)', wasmReasons, true),
    tfjsBackend('cpu', 'cpu (pure JavaScript, the last resort)', [], true),
    {
      name: 'onnxruntime-cpu',
      title: 'onnxruntime CPU (inference of exported models, convolutions on wasm)',
      found: bin !== undefined,
      usable: ortCpu === undefined,
      reasons: ortCpu === undefined ? [] : [{ reason: ortCpu, fix: ['pnpm install --frozen-lockfile'] }],
    },
    {
      name: 'onnxruntime-cuda',
      title: 'onnxruntime CUDA provider (inference of exported models on a GPU, used when installed)',
      found: ortFiles.includes(ONNX_CUDA_PROVIDER_LIBRARY),
      usable: ortCuda.length === 0,
      reasons: ortCuda,
    },
  ];
  return {
    node: system.node,
    platform: `${system.platform} ${system.arch}`,
    cpu: { model: system.cpuModel, cores: system.cores, features: CPU_FEATURES.filter((f) => system.cpuFlags.includes(f)) },
    memoryGiB: Math.round((system.memoryBytes / 2 ** 30) * 10) / 10,
    backends,
    wouldRun: info.name,
    wouldRunLine: line,
  };
}

/** The report as text for a terminal. */
export function formatDoctorReport(report: DoctorReport): string {
  const lines = [
    `Node ${report.node} on ${report.platform}`,
    `CPU: ${report.cpu.model}, ${report.cpu.cores} cores; features: ${report.cpu.features.join(', ') || 'none of ' + CPU_FEATURES.join(', ')}`,
    `memory: ${report.memoryGiB} GiB`,
    '',
  ];
  for (const b of report.backends) {
    const state = report.wouldRun === b.name ? 'RUNS' : b.usable ? 'usable' : 'skipped';
    lines.push(`[${state}] ${b.name}: ${b.title}${b.found ? '' : ' (not installed, or without its native parts)'}`);
    if (b.detail !== undefined) lines.push(`    ${b.detail}`);
    for (const r of b.reasons) {
      lines.push(`    why: ${r.reason}`);
      for (const f of r.fix) lines.push(`      fix: ${f}`);
    }
  }
  lines.push('', `covsev trains here on: ${report.wouldRun}`);
  if (report.wouldRun !== 'tensorflow-gpu')
    lines.push(
      `For a GPU: tfjs-node-gpu ${CUDA_PATH.tfjsNodeGpu} with CUDA ${CUDA_PATH.cuda}, cuDNN ${CUDA_PATH.cudnn} and an NVIDIA driver >= ${MIN_DRIVER_CUDA11} (README, "GPU").`,
    );
  return lines.join('\n');
}

/** The probes of this machine: the engine's own backend choice and onnxruntime's CPU session. */
export function realProbes(): DoctorProbes {
  return {
    chooseBackend: async () => {
      const info = await initBackend({ log: false });
      return { info, line: formatBackendInfo(info) };
    },
    onnxCpuProblem: () => {
      const status = enableOnnxConv();
      return status.enabled ? undefined : (status.reason ?? 'onnxruntime did not load');
    },
    nativeProblem: (pkg) => probeNative(pkg).problem,
    onnxBinDir: onnxRuntimeBinDir,
  };
}

/** `diagnoseBackends` on this machine. */
export function diagnoseThisMachine(): Promise<DoctorReport> {
  return diagnoseBackends(realSystem(), realProbes());
}
