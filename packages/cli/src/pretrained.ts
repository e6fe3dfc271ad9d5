/**
 * The `--init FILE.safetensors` options every `train` command shares (`pnpm seg`, `pnpm cmc`), and
 * the line a run's start prints about them. The loading itself is `@covsev/engine`'s
 * `loadPretrained`; this only turns options into the trainers' `init` and back into words.
 */
import { oneOf, UsageError } from './args.js';

/** How the stem's first conv starts (`@covsev/engine`'s `StemInit`). */
export type StemInitChoice = 'random' | 'mean';

/** Parses `--stem-init`. */
export const stemInitChoice = oneOf<StemInitChoice>(['random', 'mean']);

/** The parsed `--init` options of a `train` command. */
export interface InitOptionValues {
  readonly init: string | undefined;
  readonly 'init-sha256': string | undefined;
  readonly partial: boolean;
  readonly 'stem-init': StemInitChoice | undefined;
}

/** `--init` and its companions as a trainer's `init`; a companion without `--init` is a UsageError naming it. */
export function pretrainedInitOption(
  values: InitOptionValues,
): { path: string; sha256?: string; partial?: boolean; stemInit?: StemInitChoice } | undefined {
  if (values.init === undefined) {
    for (const [flag, given] of [
      ['--init-sha256', values['init-sha256'] !== undefined],
      ['--partial', values.partial],
      ['--stem-init', values['stem-init'] !== undefined],
    ] as const)
      if (given) throw new UsageError(`${flag} goes with --init FILE (the ImageNet weights it applies to)`);
    return undefined;
  }
  return {
    path: values.init,
    ...(values['init-sha256'] === undefined ? {} : { sha256: values['init-sha256'] }),
    ...(values.partial ? { partial: true } : {}),
    ...(values['stem-init'] === undefined ? {} : { stemInit: values['stem-init'] }),
  };
}

/** The run's initial weights as one line, from its `run-start` event (config `init`, runtime `init`); undefined without. */
export function describePretrainedInit(config: unknown, runtime: unknown): string | undefined {
  const init = (config as { init?: { sha256: string; map: string; partial?: boolean; stemInit?: string } } | null)?.init;
  if (init === undefined) return undefined;
  const path = (runtime as { init?: string } | undefined)?.init;
  const options = [init.map, init.partial ? 'partial' : '', init.stemInit ? `stem ${init.stemInit}` : ''].filter(Boolean);
  return `init: ${path ?? 'weights'} (${options.join(', ')}), sha256 ${init.sha256}`;
}
