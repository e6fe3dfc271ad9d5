/**
 * Severity grades of the COV19-CT-DB severity challenge (docs/formats.md): Category 1 = Mild,
 * 2 = Moderate, 3 = Severe, 4 = Critical. Class index = category - 1 everywhere a network or a
 * metric sees them.
 */
export const SEVERITY_CLASSES = ['Mild', 'Moderate', 'Severe', 'Critical'] as const;
export type SeverityClass = (typeof SEVERITY_CLASSES)[number];
/** The challenge's category number, 1..4. */
export type SeverityCategory = 1 | 2 | 3 | 4;

export function categoryName(category: SeverityCategory): SeverityClass {
  return SEVERITY_CLASSES[category - 1] as SeverityClass;
}

/**
 * The grade of Table 1 of the paper from the fraction of lung involved (0..1):
 * Mild <= 25 % (or none), Moderate 25-50 %, Severe 50-75 %, Critical >= 75 %.
 * A fraction exactly on a border takes the lower grade, except 75 % which is Critical
 * (Table 1 writes "<= 25", "25-50", "50-75", ">= 75").
 */
export function categoryFromInvolvement(fraction: number): SeverityCategory {
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`lung involvement must be in [0, 1], got ${fraction}`);
  if (fraction <= 0.25) return 1;
  if (fraction <= 0.5) return 2;
  if (fraction < 0.75) return 3;
  return 4;
}

/** Training-set class counts of COV19-CT-DB severity (Table 1): Mild, Moderate, Severe, Critical. */
export const COV19_TRAIN_COUNTS = [85, 62, 85, 26] as const;
/** Validation-set class counts (Table 1). */
export const COV19_VAL_COUNTS = [22, 10, 22, 5] as const;
