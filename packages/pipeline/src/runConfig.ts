/**
 * Typed run configurations, one zod schema per kind of run. A command line (or a config file)
 * is parsed into one of these before anything runs, so a bad value is refused with its name;
 * the trainer then stores its part in every checkpoint and compares it on resume.
 *
 * - classifier: a cohort, a run folder, the classifier grid and `@covsev/cmc`'s training
 *   settings (`cmcTrainingSchema`).
 * - segmentation: joins when stage 1 is built.
 */
import { cmcTrainingSchema } from '@covsev/cmc';
import { CovsevInputError } from '@covsev/io';
import { z } from 'zod';

const positiveInt = z.number().int().positive();

export const classifierRunSchema = z
  .object({
    /** The COV19-CT-DB cohort folder. */
    cohort: z.string().min(1),
    /** The run folder. */
    run: z.string().min(1),
    /** The classifier grid [slices, rows, cols]. */
    grid: z.tuple([positiveInt, positiveInt, positiveInt]).readonly(),
    training: cmcTrainingSchema,
  })
  .strict();

export type ClassifierRunConfig = z.infer<typeof classifierRunSchema>;

/**
 * Checks a classifier run config; a bad one is refused with every problem named by its path
 * (`training.epochs: ...`). `source` names where it came from (a file, "the command line").
 */
export function parseClassifierRun(value: unknown, source = 'classifier run config'): ClassifierRunConfig {
  const result = classifierRunSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`);
  throw new CovsevInputError(source, `invalid classifier run config: ${problems.join('; ')}`);
}
