/**
 * The guard against a loss that is not finite: a NaN or infinite loss stops a run with a message
 * saying where (epoch, step) and which terms, and no checkpoint of the weights it made is
 * written, so `latest.json` keeps pointing to the last good one.
 */

/** Where a step ran (0-based, as in the events). */
export interface StepPlace {
  readonly epoch: number;
  readonly step: number;
}

/** A step whose loss (or a term of it) was NaN or infinite. */
export class NonFiniteLossError extends Error {
  override readonly name = 'NonFiniteLossError';

  constructor(
    /** The step's loss terms, as the step computed them. */
    readonly losses: Readonly<Record<string, number>>,
    /** Where it happened, when known. */
    readonly place?: StepPlace,
    /** True when the optimiser step was not applied (the weights are those before the step). */
    readonly beforeOptimizerStep = false,
  ) {
    super(nonFiniteMessage(losses, place, beforeOptimizerStep));
  }

  /** The same error, said at a place. */
  at(place: StepPlace): NonFiniteLossError {
    return new NonFiniteLossError(this.losses, place, this.beforeOptimizerStep);
  }
}

/** The names of the terms that are not finite. */
export function nonFiniteTerms(losses: Readonly<Record<string, number>>): string[] {
  return Object.entries(losses)
    .filter(([, v]) => !Number.isFinite(v))
    .map(([k]) => k);
}

/** Throws a `NonFiniteLossError` when a term of `losses` is NaN or infinite. */
export function assertFiniteLosses(
  losses: Readonly<Record<string, number>>,
  options: { place?: StepPlace; beforeOptimizerStep?: boolean } = {},
): void {
  if (nonFiniteTerms(losses).length > 0)
    throw new NonFiniteLossError(losses, options.place, options.beforeOptimizerStep ?? false);
}

function nonFiniteMessage(losses: Readonly<Record<string, number>>, place: StepPlace | undefined, before: boolean): string {
  const bad = nonFiniteTerms(losses);
  if (bad.length === 0) bad.push('the headline loss');
  const values = Object.entries(losses)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const where = place === undefined ? '' : ` at epoch ${place.epoch + 1}, step ${place.step + 1}`;
  return (
    `training stopped: the loss is not finite${where} (${bad.join(', ')} not finite: ${values})` +
    `${before ? '; the optimiser step was not applied' : ''}; no checkpoint of these weights is written, ` +
    'the last good checkpoint stays the latest (lower the learning rate, check the inputs for NaN)'
  );
}
