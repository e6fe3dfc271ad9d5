/**
 * `pnpm submit -- --predictions PRED.csv --out DIR [--layout one-per-line|one-row] [--test-dir DIR]`:
 * parses the command line and calls `@covsev/pipeline`'s `writeChallengeSubmission`.
 */
import { oneOf, parseCliArgs, path, UsageError } from '@covsev/cli';
import type { SubmissionLayout } from '@covsev/io';
import { writeChallengeSubmission } from '@covsev/pipeline';

export const USAGE = 'usage: pnpm submit -- --predictions PRED.csv --out DIR [--layout one-per-line|one-row] [--test-dir DIR]';

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
