/**
 * What a scan name may be in covsev's tables (label CSVs, prediction tables, submission files;
 * docs/formats.md, "Scan names"). COV19-CT-DB names look like `ct_scan_123`; covsev accepts ASCII
 * letters, digits, `_`, `-` and `.`, starting with a letter, a digit or `_` (so never `.`, `..`
 * or something that reads as an option), at most 255 characters. That leaves out everything that
 * would change a table's meaning: separators (`,` `;`), whitespace, quotes and path separators.
 */
export const SCAN_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

/** The rule in words, for messages. */
export const SCAN_NAME_RULE = 'letters, digits, "_", "-" and "." (not first), e.g. ct_scan_123';

/** Why `name` is not an acceptable scan name, or undefined when it is. */
/**
 * Natural order of scan names (ct_scan_2 before ct_scan_10): how covsev lists scan folders,
 * writes submission files and orders prediction tables.
 */
export const compareScanNames: (a: string, b: string) => number = new Intl.Collator('en', { numeric: true }).compare;

export function scanNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'empty scan name';
  if (SCAN_NAME_PATTERN.test(name)) return undefined;
  return `bad scan name ${JSON.stringify(name)} (a scan name is ${SCAN_NAME_RULE})`;
}
