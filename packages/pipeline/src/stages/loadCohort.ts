/**
 * Stage "load-cohort": a COV19-CT-DB cohort as the challenge lays it out (docs/formats.md):
 *
 *   <root>/train_partition_covid_categories.csv   Name;Category (1..4)
 *   <root>/val_partition_covid_categories.csv
 *   <root>/train/<class>/<scan>/<k>.jpg            (or <root>/train/<scan>/)
 *   <root>/val/<class>/<scan>/
 *   <root>/test/<scan>/                           unlabelled
 *
 * Labelled scans come in the order of their label file; test scans in natural name order
 * (`ct_scan_2` before `ct_scan_10`). Every labelled scan must have its folder. A label file with
 * only its header is an empty split, reported as a warning of the stage.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CovsevInputError, compareScanNames, findScanFolder, readLabelCsv, type SeverityCategory } from '@covsev/io';
import type { Split } from '../runFolder.js';
import { beginStage, type StageContext } from '../stage.js';

/** The label files of the challenge's severity track. */
export const COV19_LABEL_FILES = {
  train: 'train_partition_covid_categories.csv',
  val: 'val_partition_covid_categories.csv',
} as const;

export interface CohortScan {
  readonly name: string;
  readonly split: Split;
  /** The scan's folder of JPG slices. */
  readonly folder: string;
  /** The published grade; absent for test scans. */
  readonly category?: SeverityCategory;
}

export interface Cohort {
  readonly root: string;
  readonly scans: readonly CohortScan[];
}

export interface LoadCohortOptions {
  /** Splits to load; default every split present (a label file, or a `test/` folder). */
  readonly splits?: readonly Split[];
}

async function exists(path: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : undefined;
  } catch {
    return undefined;
  }
}

/** The scans of one split, or undefined when the split is absent. */
async function loadSplit(root: string, split: Split, warn: (message: string) => void): Promise<CohortScan[] | undefined> {
  const splitDir = join(root, split);
  if (split === 'test') {
    if ((await exists(splitDir)) !== 'dir') return undefined;
    const entries = await readdir(splitDir, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort(compareScanNames)
      .map((name) => ({ name, split, folder: join(splitDir, name) }));
  }
  const labels = join(root, COV19_LABEL_FILES[split]);
  if ((await exists(labels)) !== 'file') return undefined;
  const rows = await readLabelCsv(labels, { scanRoots: [splitDir], allowEmpty: true, onWarning: warn });
  const scans: CohortScan[] = [];
  for (const row of rows) {
    const folder = await findScanFolder(row.name, [splitDir]);
    if (folder === undefined) throw new CovsevInputError(labels, `scan "${row.name}" has no folder under ${splitDir}`);
    scans.push({ name: row.name, split, folder, category: row.category });
  }
  return scans;
}

/** Reads a cohort's label files and finds its scan folders. */
export async function loadCohort(root: string, options: LoadCohortOptions = {}, context: StageContext = {}): Promise<Cohort> {
  const stage = beginStage(context, 'load-cohort', undefined, { root });
  if ((await exists(root)) !== 'dir') throw new CovsevInputError(root, 'cohort folder does not exist');
  const wanted = options.splits ?? (['train', 'val', 'test'] as const);
  const scans: CohortScan[] = [];
  const found: string[] = [];
  const warnings: string[] = [];
  for (const split of wanted) {
    const part = await loadSplit(root, split, (message) => warnings.push(message));
    if (part === undefined) {
      if (options.splits !== undefined)
        throw new CovsevInputError(
          root,
          split === 'test' ? 'no test/ folder' : `no ${COV19_LABEL_FILES[split]} (the ${split} split's labels)`,
        );
      continue;
    }
    found.push(split);
    scans.push(...part);
  }
  if (found.length === 0)
    throw new CovsevInputError(
      root,
      `not a COV19-CT-DB cohort: no ${COV19_LABEL_FILES.train}, ${COV19_LABEL_FILES.val} or test/ folder`,
    );
  const seen = new Map<string, Split>();
  for (const s of scans) {
    const other = seen.get(s.name);
    if (other !== undefined)
      throw new CovsevInputError(root, `scan "${s.name}" is in both the ${other} and the ${s.split} split`);
    seen.set(s.name, s.split);
  }
  const count = (split: Split) => scans.filter((s) => s.split === split).length;
  stage.end([root], { train: count('train'), val: count('val'), test: count('test') }, warnings);
  return { root, scans };
}

/** The scans of one split, in cohort order. */
export function splitScans(cohort: Cohort, split: Split): CohortScan[] {
  return cohort.scans.filter((s) => s.split === split);
}
