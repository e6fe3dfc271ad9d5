/**
 * Input checks shared by the metric modules (not re-exported). Every error names the function that
 * was called and the offending value, so a caller sees what to fix without a stack trace.
 */

/**
 * Checks a class (or label) count.
 *
 * Args:
 *   fn: name of the calling function, for the message.
 *   numClasses: the count to check.
 *   what: the noun in the message ("numClasses", "numLabels").
 * Throws:
 *   RangeError: not an integer >= 1.
 */
export function assertCount(fn: string, numClasses: number, what = 'numClasses'): void {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new RangeError(`${fn}: ${what} must be an integer >= 1, got ${String(numClasses)}`);
  }
}

/**
 * Checks that two arrays have the same length.
 *
 * Throws:
 *   RangeError: the lengths differ.
 */
export function assertSameLength(fn: string, a: ArrayLike<number>, aName: string, b: ArrayLike<number>, bName: string): void {
  if (a.length !== b.length) {
    throw new RangeError(`${fn}: ${aName} and ${bName} differ in length (${a.length} vs ${b.length})`);
  }
}

/**
 * Checks one class id (integer in 0..numClasses-1).
 *
 * Throws:
 *   RangeError: `value` is not an integer in range; the message gives `name[index]`.
 */
export function assertClassId(
  fn: string,
  value: number,
  name: string,
  index: number,
  numClasses: number,
  what = 'class id',
): void {
  if (!Number.isInteger(value) || value < 0 || value >= numClasses) {
    throw new RangeError(
      `${fn}: ${name}[${index}] = ${String(value)} is not a ${what} in 0..${numClasses - 1} (${what === 'label' ? 'numLabels' : 'numClasses'} = ${numClasses})`,
    );
  }
}

/**
 * Checks a confusion matrix: square, at least 1x1, entries non-negative integers.
 *
 * Args:
 *   fn: name of the calling function, for the message.
 *   matrix: rows = truth, columns = prediction.
 * Returns:
 *   K, the number of classes (rows).
 * Throws:
 *   RangeError: not square, empty, or an entry is negative, fractional or not finite.
 */
export function assertConfusionMatrix(fn: string, matrix: ReadonlyArray<ReadonlyArray<number>>): number {
  const k = matrix.length;
  if (k < 1) throw new RangeError(`${fn}: confusion matrix is empty (needs at least 1 class)`);
  for (let i = 0; i < k; i++) {
    const row = matrix[i] as ReadonlyArray<number>;
    if (row.length !== k) {
      throw new RangeError(`${fn}: confusion matrix must be square, row ${i} has ${row.length} entries for ${k} rows`);
    }
    for (let j = 0; j < k; j++) {
      const v = row[j] as number;
      if (!Number.isInteger(v) || v < 0) {
        throw new RangeError(`${fn}: confusion matrix entry [${i}][${j}] = ${String(v)} is not a non-negative integer count`);
      }
    }
  }
  return k;
}

/**
 * Checks a confusion matrix (see assertConfusionMatrix) and that it holds at least one sample.
 *
 * Returns:
 *   [K, total count].
 * Throws:
 *   RangeError: as assertConfusionMatrix, or the matrix sums to 0.
 */
export function assertNonEmptyConfusionMatrix(fn: string, matrix: ReadonlyArray<ReadonlyArray<number>>): [number, number] {
  const k = assertConfusionMatrix(fn, matrix);
  let total = 0;
  for (const row of matrix) for (const v of row) total += v;
  if (total === 0) throw new RangeError(`${fn}: confusion matrix holds no samples (all counts are 0)`);
  return [k, total];
}
