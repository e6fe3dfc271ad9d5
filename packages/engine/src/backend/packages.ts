/**
 * Where the tfjs backend packages live, and whether the optional native ones can load, found
 * without importing them (a failed tfjs-node import leaves half its kernels registered).
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type NativePackage = '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';

/** The folder of `pkg` as resolved from `from` (a file path or URL); undefined if not installed. */
export function packageDir(pkg: string, from: string = import.meta.url): string | undefined {
  try {
    return dirname(realpathSync(createRequire(from).resolve(`${pkg}/package.json`)));
  } catch {
    return undefined;
  }
}

/** The `version` field of an installed package. */
export function packageVersion(dir: string): string {
  const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof json.version === 'string' ? json.version : 'unknown';
}

/** The tfjs-core folder that `@tensorflow/tfjs`, as seen from `from`, loads. */
export function tfjsCoreDir(from: string = import.meta.url): string | undefined {
  const tfjs = packageDir('@tensorflow/tfjs', from);
  return tfjs === undefined ? undefined : packageDir('@tensorflow/tfjs-core', join(tfjs, 'package.json'));
}

export interface NativeProbe {
  pkg: NativePackage;
  /** null when the package looks loadable; else why not */
  problem: string | null;
  dir?: string;
  version?: string;
  addon?: string;
}

/**
 * Checks, without importing it, that a tfjs-node package is installed, has its native addon
 * (`lib/napi-v<N>/tfjs_binding.node`, which its install script builds after downloading
 * libtensorflow) and would share covsev's tfjs-core.
 */
export function probeNative(pkg: NativePackage): NativeProbe {
  const dir = packageDir(pkg);
  if (dir === undefined) return { pkg, problem: `${pkg} is not installed (it is an optional dependency)` };
  const version = packageVersion(dir);
  const lib = join(dir, 'lib');
  const addons = existsSync(lib)
    ? readdirSync(lib)
        .filter((d) => d.startsWith('napi-v'))
        .map((d) => join(lib, d, 'tfjs_binding.node'))
        .filter((f) => existsSync(f))
    : [];
  const addon = addons[0];
  if (addon === undefined) {
    return {
      pkg,
      dir,
      version,
      problem:
        `${pkg}@${version} is installed without its native addon (no ${join(lib, 'napi-v<N>', 'tfjs_binding.node')}): ` +
        'its install script, which downloads libtensorflow, has not run (see the Backends section of packages/engine/README.md)',
    };
  }
  const ours = tfjsCoreDir();
  const theirs = tfjsCoreDir(join(dir, 'package.json'));
  if (ours !== theirs) {
    return {
      pkg,
      dir,
      version,
      addon,
      problem: `${pkg} would load a second tfjs-core (${theirs ?? 'none'}; covsev uses ${ours ?? 'none'}): pin @tensorflow/tfjs to ${version}`,
    };
  }
  return { pkg, dir, version, addon, problem: null };
}

/** The version of a package covsev depends on directly (tfjs, the wasm backend). */
export function directDependencyVersion(pkg: string): string {
  const dir = packageDir(pkg);
  return dir === undefined ? 'unknown' : packageVersion(dir);
}
