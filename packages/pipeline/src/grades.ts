/**
 * Grades in files and class ids in models, converted in one place (docs/conventions.md):
 * category 1..4 (Mild, Moderate, Severe, Critical) in label, prediction and submission files;
 * class id 0..3 wherever a tensor or a metric sees it.
 */
import { argmax } from '@covsev/cmc';
import type { PredictionRow, SeverityCategory } from '@covsev/io';

export const NUM_CLASSES = 4;

/** The class id (0..3) of a category (1..4). */
export function classIdOf(category: SeverityCategory): number {
  return category - 1;
}

/** The category (1..4) of a class id (0..3). */
export function categoryOf(classId: number): SeverityCategory {
  if (!(Number.isInteger(classId) && classId >= 0 && classId < NUM_CLASSES))
    throw new RangeError(`class id must be an integer 0..${NUM_CLASSES - 1}, got ${classId}`);
  return (classId + 1) as SeverityCategory;
}

/** A prediction table row: the category is the most probable class. */
export function predictionRow(name: string, probabilities: readonly number[]): PredictionRow {
  if (probabilities.length !== NUM_CLASSES)
    throw new RangeError(`scan ${name}: ${probabilities.length} class probabilities, expected ${NUM_CLASSES}`);
  return {
    name,
    category: categoryOf(argmax(probabilities)),
    probabilities: [...probabilities] as [number, number, number, number],
  };
}
