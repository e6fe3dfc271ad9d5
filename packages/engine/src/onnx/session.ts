import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';

/** An input or output array with its shape. */
export interface OnnxArray {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export type OnnxExecutionProvider = 'cuda' | 'cpu';

export interface OnnxSessionOptions {
  /**
   * Providers to try in order. Default `auto`: CUDA first where onnxruntime-node lists it (the
   * user must have installed its CUDA provider library; this package's install does not), and the
   * CPU always last. A session whose CUDA provider fails to start is retried on the CPU alone.
   */
  readonly executionProviders?: 'auto' | readonly OnnxExecutionProvider[];
  /** Threads inside one operator; default: the machine's available parallelism. */
  readonly intraOpNumThreads?: number;
  /** onnxruntime's graph optimisations; default 'all'. */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

/**
 * A thin wrapper over an onnxruntime-node InferenceSession for covsev's exported models
 * (float32 in, float32 out). `run` takes and returns plain typed arrays with their shapes.
 */
export class OnnxSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** The providers the session was created with (`['cpu']` after a CUDA fallback). */
    readonly executionProviders: readonly OnnxExecutionProvider[],
    readonly intraOpNumThreads: number,
    /** Why CUDA was not used, when it was asked for and failed. */
    readonly fallbackReason: string | undefined,
  ) {}

  /** Opens a model file (or its bytes). */
  static async create(model: string | Uint8Array, options: OnnxSessionOptions = {}): Promise<OnnxSession> {
    const threads = options.intraOpNumThreads ?? availableParallelism();
    const wanted = options.executionProviders ?? 'auto';
    const providers: OnnxExecutionProvider[] = wanted === 'auto' ? autoProviders() : [...wanted];
    if (!providers.includes('cpu')) providers.push('cpu');
    const make = (eps: readonly OnnxExecutionProvider[]) =>
      typeof model === 'string'
        ? ort.InferenceSession.create(model, sessionOptions(eps, threads, options))
        : ort.InferenceSession.create(model, sessionOptions(eps, threads, options));
    try {
      return new OnnxSession(await make(providers), providers, threads, undefined);
    } catch (error) {
      if (providers.length === 1) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      return new OnnxSession(await make(['cpu']), ['cpu'], threads, reason);
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** The inputs' declared types and shapes, as the model file states them (a string is a symbolic dimension). */
  get inputMetadata(): readonly ort.InferenceSession.ValueMetadata[] {
    return this.session.inputMetadata;
  }

  /** The outputs' declared types and shapes (an empty shape: not declared). */
  get outputMetadata(): readonly ort.InferenceSession.ValueMetadata[] {
    return this.session.outputMetadata;
  }

  /** Runs the model on named inputs; returns every output. */
  async run(feeds: Readonly<Record<string, OnnxArray>>): Promise<Record<string, OnnxArray>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, { data, dims }] of Object.entries(feeds)) {
      const size = dims.reduce((a, b) => a * b, 1);
      if (size !== data.length) throw new Error(`OnnxSession: input '${name}' has ${data.length} values for dims [${dims}]`);
      ortFeeds[name] = new ort.Tensor('float32', data, [...dims]);
    }
    const results = await this.session.run(ortFeeds);
    const out: Record<string, OnnxArray> = {};
    for (const [name, tensor] of Object.entries(results)) {
      if (tensor.type !== 'float32') throw new Error(`OnnxSession: output '${name}' is ${tensor.type}, expected float32`);
      out[name] = { data: tensor.data as Float32Array, dims: [...tensor.dims] };
    }
    return out;
  }

  /** Runs a single-input model and returns its first output. */
  async runSingle(data: Float32Array, dims: readonly number[]): Promise<OnnxArray> {
    const input = this.inputNames[0];
    const output = this.outputNames[0];
    if (input === undefined || output === undefined) throw new Error('OnnxSession: the model has no input or no output');
    const result = (await this.run({ [input]: { data, dims } }))[output];
    if (!result) throw new Error(`OnnxSession: output '${output}' missing`);
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * CUDA when its provider library sits beside onnxruntime-node's binding (the npm package lists
 * 'cuda' as a backend but ships the library only when its install script fetched it), else CPU.
 */
function autoProviders(): OnnxExecutionProvider[] {
  return cudaProviderInstalled() ? ['cuda', 'cpu'] : ['cpu'];
}

/** Whether onnxruntime-node's CUDA provider library is installed. */
export function cudaProviderInstalled(): boolean {
  try {
    const listed = ort.listSupportedBackends?.() ?? [];
    if (!listed.some((b) => b.name === 'cuda')) return false;
    const bin = onnxRuntimeBinDir();
    return bin !== undefined && existsSync(join(bin, ONNX_CUDA_PROVIDER_LIBRARY));
  } catch {
    return false;
  }
}

/** The file name of onnxruntime-node's CUDA provider library on this platform. */
export const ONNX_CUDA_PROVIDER_LIBRARY =
  process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';

/** onnxruntime-node's folder of native binaries for this platform; undefined when not installed. */
export function onnxRuntimeBinDir(): string | undefined {
  try {
    const index = createRequire(import.meta.url).resolve('onnxruntime-node');
    return join(dirname(index), '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

function sessionOptions(
  providers: readonly OnnxExecutionProvider[],
  threads: number,
  options: OnnxSessionOptions,
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [...providers],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
  };
}
