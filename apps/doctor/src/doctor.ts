/**
 * `pnpm run doctor [-- --json]`: prints what this machine can run covsev's models on (`@covsev/engine`'s
 * `diagnoseThisMachine`): Node, CPU features, cores, memory; each backend (tfjs-node-gpu,
 * tfjs-node, wasm + covsev kernels, cpu, onnxruntime CPU and CUDA) as runs / usable / skipped with
 * every reason and the commands that fix it on Debian / Ubuntu; the backend training would use.
 * `--json`: the same report as JSON, for scripts. (pnpm's own `pnpm doctor` shadows a bare
 * `pnpm doctor`, hence `pnpm run doctor`.)
 */
import { parseCliArgs } from '@covsev/cli';
import { type DoctorReport, diagnoseThisMachine, formatDoctorReport } from '@covsev/engine';

export const USAGE = [
  'usage: pnpm run doctor [-- --json]',
  '',
  'What this machine can run covsev on: Node, CPU features, cores, memory; every backend',
  '(tfjs-node-gpu, tfjs-node, wasm + covsev kernels, cpu, onnxruntime CPU / CUDA) with why it',
  'is skipped and the Debian / Ubuntu commands that fix it; the backend training uses here.',
  '--json prints the report as JSON.',
].join('\n');

export async function main(
  argv: readonly string[],
  print: (line: string) => void = console.log,
  diagnose: () => Promise<DoctorReport> = diagnoseThisMachine,
): Promise<number> {
  const { values } = parseCliArgs(argv, { usage: USAGE, options: { json: { type: 'boolean' } } });
  const report = await diagnose();
  print(values.json === true ? JSON.stringify(report, null, 2) : formatDoctorReport(report));
  return 0;
}
