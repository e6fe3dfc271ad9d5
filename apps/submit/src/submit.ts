/**
 * `pnpm submit -- --predictions PRED.csv --out DIR [--layout one-per-line|one-row] [--test-dir DIR]`:
 * parses the command line and calls `@covsev/pipeline`'s `writeChallengeSubmission`.
 */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { oneOf, parseCliArgs, path, UsageError } from '@covsev/cli';
import { CovsevInputError, type SubmissionLayout } from '@covsev/io';
import { writeChallengeSubmission } from '@covsev/pipeline';

export const USAGE = 'usage: pnpm submit -- --predictions PRED.csv --out DIR [--layout one-per-line|one-row] [--test-dir DIR]';

/**
 * Refuses an `--out` that is a file or lies under a file (CovsevInputError naming it: exit 2,
 * not an EEXIST / ENOTDIR stack). `writeSubmission` checks the same; this names the option.
 */
export async function checkOutFolder(out: string): Promise<void> {
  const info = await stat(out).catch(() => undefined);
  if (info !== undefined) {
    if (!info.isDirectory()) throw new CovsevInputError(out, '--out is a file, not a folder');
    return;
  }
  for (let at = dirname(resolve(out)); ; at = dirname(at)) {
    const above = await stat(at).catch(() => undefined);
    if (above !== undefined) {
      if (!above.isDirectory()) throw new CovsevInputError(out, `--out lies under ${at}, which is a file, not a folder`);
      return;
    }
    if (dirname(at) === at) return;
  }
}

export async function main(argv: readonly string[], print: (line: string) => void = console.log): Promise<number> {
  const { values } = parseCliArgs(argv, {
    usage: USAGE,
    options: {
      predictions: { type: 'string', parse: path, valueName: 'PRED.csv' },
      out: { type: 'string', parse: path, valueName: 'DIR' },
      layout: { type: 'string', parse: oneOf<SubmissionLayout>(['one-per-line', 'one-row']), default: 'one-per-line' },
      'test-dir': { type: 'string', parse: path, valueName: 'DIR' },
    },
  });
  if (values.predictions === undefined || values.out === undefined)
    throw new UsageError(`--predictions and --out are required\n${USAGE}`);
  await checkOutFolder(values.out);
  const testDir = values['test-dir'];
  const { files, scans, counts } = await writeChallengeSubmission({
    predictions: values.predictions,
    outDir: values.out,
    layout: values.layout,
    ...(testDir === undefined ? {} : { testDir }),
  });
  print(
    `submit: ${scans} scans -> ${files.join(', ')} (mild ${counts[0]}, moderate ${counts[1]}, severe ${counts[2]}, critical ${counts[3]})`,
  );
  return 0;
}
